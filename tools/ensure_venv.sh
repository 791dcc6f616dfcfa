#!/bin/sh
# Make sure VENV is a virtual environment of Python 3.10 or newer (called by `make install`).
#
#   tools/ensure_venv.sh PYTHON VENV EXPLICIT
#
# An existing VENV is kept when its Python runs and is 3.10+, and, when the caller chose
# PYTHON explicitly (EXPLICIT=1, e.g. `make install PYTHON=python3.12`), when PYTHON made it.
# Otherwise VENV is removed and made again with PYTHON, which must itself be 3.10+: a wrong
# Python stops here, with its version, instead of deep inside pip's resolver.
set -eu
python=$1
venv=$2
explicit=$3

# "3.11.7 /usr/local": the version and the installation a venv was made from
identity() { "$1" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)' 2>/dev/null; }
new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; }

if [ -e "$venv" ]; then
    if ! identity "$venv/bin/python" >/dev/null; then
        reason="its Python does not run"
    elif ! new_enough "$venv/bin/python"; then
        reason="it was made by Python $(identity "$venv/bin/python" | cut -d' ' -f1), and normlab needs 3.10+"
    elif [ "$explicit" = 1 ] && [ "$(identity "$venv/bin/python")" != "$(identity "$python")" ]; then
        reason="it was made by Python $(identity "$venv/bin/python"), not by PYTHON=$python"
    else
        exit 0
    fi
    echo "Rebuilding $venv: $reason."
fi

if ! identity "$python" >/dev/null; then
    echo "error: PYTHON=$python is not a Python that runs here." >&2
    echo "       normlab needs Python 3.10 or newer: make install PYTHON=python3.11 (see README, Platforms)." >&2
    exit 1
fi
if ! new_enough "$python"; then
    echo "error: PYTHON=$python is Python $(identity "$python" | cut -d' ' -f1); normlab needs Python 3.10 or newer." >&2
    echo "       Install one and run e.g.: make install PYTHON=python3.11 (see README, Platforms)." >&2
    exit 1
fi
rm -rf "$venv"
echo "Creating $venv with $python ($(identity "$python" | cut -d' ' -f1))"
"$python" -m venv "$venv"
