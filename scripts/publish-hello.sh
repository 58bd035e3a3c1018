#!/usr/bin/env bash
# The main job on a fresh Debian machine (root): bring up the local build stack, then publish examples/hello for
# linux/amd64 + linux/arm64 (arm64 under QEMU) to the stack's registry at 127.0.0.1:5000, and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export BAKEPY_CACHE_DIR="${BAKEPY_CACHE_DIR:-/var/cache/bakepy-ci}"
export PATH="$PATH:/usr/local/go/bin"  # Go builds buildx and BuildKit; some shells lack it on PATH

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e .
python3 tests/stack.py install
python3 tests/stack.py up
eval "$(python3 tests/stack.py env)"   # BUILDX_BUILDER=bakepy-stack

cd examples/hello
bakepy doctor
bakepy publish
