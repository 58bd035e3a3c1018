#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root), hermetic: every tool runs from venvs outside the clone
# that hold exactly requirements/test.lock plus bakepy (scripts/_venv.sh; docs/development.md), so nothing
# installed on the machine by hand can make it pass or fail. It installs the build stack (BuildKit, buildx,
# registries, QEMU; Go builds cached in $BAKEPY_CACHE_DIR), then runs ruff, mypy and pytest on Python 3.11, and
# the unit and CLI suites on the lowest and newest supported Pythons (3.10, 3.13) where the machine has them.
# The pytest session starts the stack itself and stops what it started.
# Extra arguments go to the Python 3.11 pytest run, e.g. `bash scripts/test.sh tests/unit -x`.
# BAKEPY_TEST_PYTHONS="3.10 3.13" (the default) names the other Pythons; set it empty to skip them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
export PATH="$PATH:/usr/local/go/bin"  # Go builds buildx and BuildKit; some shells lack it on PATH
read -r -a other_versions <<<"${BAKEPY_TEST_PYTHONS-3.10 3.13}"

step_name=""
step_start=0
failed=()
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
step_end() {
  [ -n "$step_name" ] || return 0
  local ms=$(($(now_ms) - step_start))
  printf -- '--- %s: %d.%d s\n' "$step_name" $((ms / 1000)) $((ms % 1000 / 100))
  step_name=""
}
step() {
  step_end
  step_name="$*"
  step_start=$(now_ms)
  printf '\n=== %s\n' "$*"
}
trap step_end EXIT
# check NAME CMD...: run one check; a failure is remembered and the next check still runs.
check() {
  local name=$1
  shift
  "$@" || failed+=("$name")
}
# pytest_in VENV ARGS...: pytest from VENV (its bin first on PATH, for anything the tests start by name).
# Exit code 5 means no test was collected: that is a failure, not a pass.
pytest_in() {
  local venv=$1 rc=0
  shift
  PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
  fi
  return "$rc"
}

step "venvs from $BAKEPY_LOCK: bakepy and its test tools"
main_python=$(bakepy_main_python)
bakepy_check_lock "$main_python"
main_dir=$(bakepy_venv_dir "$main_python")
pythons=("$main_python")
dirs=("$main_dir")
other_versions_found=()
missing=()
for version in ${other_versions[@]+"${other_versions[@]}"}; do
  if python=$(bakepy_find_python "$version"); then
    pythons+=("$python")
    dirs+=("$(bakepy_venv_dir "$python")")
    other_versions_found+=("$version")
  else
    missing+=("$version")
  fi
done
pids=()
for i in "${!pythons[@]}"; do  # side by side: a new venv is mostly downloads and byte-compiling
  bakepy_venv_make "${pythons[$i]}" "${dirs[$i]}" &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
# Attached here, in this shell: it holds each venv's in-use lock until the tests are over.
venvs=()
for i in "${!pythons[@]}"; do
  bakepy_venv_attach "${pythons[$i]}" "${dirs[$i]}"
  venvs+=("$BAKEPY_VENV")
done
main_venv=${venvs[0]}
bakepy_prune_venvs

step "install the build stack"
"$main_venv/bin/python" tests/stack.py install

step "ruff"
check "ruff check" "$main_venv/bin/python" -m ruff check .
check "ruff format" "$main_venv/bin/python" -m ruff format --check .

step "mypy (strict, on bakepy/)"
check mypy "$main_venv/bin/python" -m mypy

# The other Pythons first: their runs are short, and the last closing line is then the whole suite's.
for i in "${!other_versions_found[@]}"; do
  step "pytest on python ${other_versions_found[$i]}: unit and CLI suites"
  check "pytest (python ${other_versions_found[$i]})" pytest_in "${venvs[$((i + 1))]}" tests/unit tests/cli
done
step_end
for version in ${missing[@]+"${missing[@]}"}; do
  echo "python $version: not found on this machine; unit and CLI suites not run on it"
done

step "pytest on python $BAKEPY_MAIN_PYTHON"
check "pytest (python $BAKEPY_MAIN_PYTHON)" pytest_in "$main_venv" "$@"
step_end

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
