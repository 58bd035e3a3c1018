#!/usr/bin/env bash
# The main job on a fresh Debian machine (root): bring up the local build stack, then publish examples/hello for
# linux/amd64 + linux/arm64 (arm64 under QEMU) to the stack's registry at 127.0.0.1:5000, and print the summary.
# bakepy runs from its own venv outside the clone (scripts/_venv.sh, the same one scripts/test.sh uses for
# Python 3.11): the system Python's packages are neither changed nor used.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
export PATH="$PATH:/usr/local/go/bin"  # Go builds buildx and BuildKit; some shells lack it on PATH

bakepy_check_lock "$(bakepy_main_python)"
bakepy_venv "$(bakepy_main_python)"
python="$BAKEPY_VENV/bin/python"
export PATH="$BAKEPY_VENV/bin:$PATH"

"$python" tests/stack.py install
"$python" tests/stack.py up
eval "$("$python" tests/stack.py env)"   # BUILDX_BUILDER=bakepy-stack

cd examples/hello
"$BAKEPY_VENV/bin/bakepy" doctor
"$BAKEPY_VENV/bin/bakepy" publish
