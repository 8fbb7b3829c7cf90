#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# It installs python3 with venv and pip, then the kit bundled beside this script (kit/) into
# a virtual environment, with its dependencies (numpy, nbgrader, ...) from PyPI.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${AUTOGRADER_VENV:-/opt/gradcheck-venv}"

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip
# Editable: the package is used where it was unpacked (kit/autograder), subpackages included.
"$VENV/bin/python" -m pip install --disable-pip-version-check -e "$HERE/kit"
"$VENV/bin/python" -c "import numpy, nbformat, autograder.judge.judge" && echo "gradcheck autograder installed in $VENV"
# This image's course secret, which the hidden cases are drawn from (never in the zip).
"$VENV/bin/python" -m autograder.grading.secret "$HERE/kit"
