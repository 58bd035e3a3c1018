#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root): installs bakepy with its test tools, installs the
# build stack (BuildKit, buildx, registries, QEMU; Go builds cached in $BAKEPY_CACHE_DIR), then runs ruff, mypy
# and pytest. The pytest session starts the stack itself and stops what it started.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
export BAKEPY_CACHE_DIR="${BAKEPY_CACHE_DIR:-/var/cache/bakepy-ci}"
export PATH="$PATH:/usr/local/go/bin"  # Go builds buildx and BuildKit; some shells lack it on PATH

step() { printf '\n=== %s\n' "$*"; }

step "install bakepy and its test tools"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

step "install the build stack"
python3 tests/stack.py install

step "ruff"
python3 -m ruff check .
python3 -m ruff format --check .

step "mypy (strict, on bakepy/)"
python3 -m mypy

step "pytest"
set +e
python3 -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
