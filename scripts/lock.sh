#!/usr/bin/env bash
# Refresh requirements/test.lock, the exact set (with hashes) that scripts/test.sh and scripts/publish-hello.sh
# install into their venvs: bakepy's dependencies, its `test` extra and requirements/build.in, resolved once for
# every Python from 3.10 up by a pinned uv. Run it after changing any of those, and commit the lock.
#
#   bash scripts/lock.sh                          keep the current pins where they still fit, add what is new
#   bash scripts/lock.sh --upgrade                move everything to the newest versions allowed
#   bash scripts/lock.sh --upgrade-package ruff   move one package
# Arguments go to `uv pip compile`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh

UV_VERSION="0.13.9"
python=$(bakepy_main_python)
tool="$BAKEPY_CACHE_DIR/tools/uv-$UV_VERSION"
if [ ! -x "$tool/bin/uv" ]; then
  rm -rf "$tool"
  "$python" -m venv "$tool"
  "$tool/bin/python" -m pip install --disable-pip-version-check --root-user-action=ignore --quiet "uv==$UV_VERSION"
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
[ -f "$BAKEPY_LOCK" ] && cp "$BAKEPY_LOCK" "$tmp"  # uv keeps the pins it finds in its output file
"$tool/bin/uv" pip compile pyproject.toml requirements/build.in --extra test \
  --universal --python-version 3.10 --generate-hashes \
  --custom-compile-command "bash scripts/lock.sh" --output-file "$tmp" --quiet "$@"
{
  echo "# inputs-sha256: $(bakepy_deps_digest "$python")"
  cat "$tmp"
} >"$BAKEPY_LOCK"
echo "wrote $BAKEPY_LOCK ($(grep -c '^[a-z]' "$BAKEPY_LOCK") pins); commit it"
