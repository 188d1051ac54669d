#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image from its Ubuntu base
# image (22.04 by default; 24.04 where the assignment selects it). It installs what
# run_autograder needs: bubblewrap (the grader's sandbox), a Python 3.11 or newer, and the
# grader's pinned packages in a virtualenv, /autograder/venv. Written by
# `python -m autograder gradescope` in the course's source repository.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
export DEBIAN_FRONTEND=noninteractive

apt-get update -q
apt-get install -y -q --no-install-recommends bubblewrap python3 python3-venv ca-certificates

# The course's pinned numpy, matplotlib and ipykernel need Python 3.11+ (Ubuntu 22.04 ships 3.10).
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    apt-get install -y -q --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv"
PIP=("$ROOT/venv/bin/python" -m pip install --quiet --no-cache-dir)
"${PIP[@]}" --upgrade pip
# torch's CPU build (about 200 MB; the default one brings several GB of CUDA libraries), same pin.
"${PIP[@]}" "$(grep '^torch==' "$SOURCE/requirements-grader.txt")" --index-url https://download.pytorch.org/whl/cpu
"${PIP[@]}" -r "$SOURCE/requirements-grader.txt" "$SOURCE"/course_lib-*.whl

# Whether the sandbox can run in this container: the build log says so to the instructor.
if bwrap --ro-bind / / --dev /dev --proc /proc --unshare-net --unshare-pid --die-with-parent true; then
    echo "bubblewrap works here: student code is graded in the course's sandbox."
else
    echo "WARNING: bubblewrap cannot create namespaces in this container. Notebooks are graded with the" \
         "guard and process limits only; the autograder output of every submission says 'sandbox: limits only'."
fi
