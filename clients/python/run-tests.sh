#!/usr/bin/env bash
# Runs the Python client's tests (pytest) against real parley-broker and parley-gateway processes.
#
#   clients/python/run-tests.sh [pytest arguments]
#
# Builds the three executables with SwiftPM first, unless PARLEY_BUILD_DIR names a folder holding them.
# Uses $PYTHON (default python3) when it has pyzmq and pytest; otherwise installs them into
# clients/python/.venv, or with pip --user when no venv can be made. Exits non-zero when anything fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ -z "${PARLEY_BUILD_DIR:-}" ]; then
    for product in parley-broker parley-gateway parley; do
        echo "building $product"
        if ! log="$(cd "$repo" && swift build --product "$product" 2>&1)"; then
            echo "$log" | tail -40
            echo "run-tests.sh: swift build --product $product failed" >&2
            exit 1
        fi
    done
fi

python="${PYTHON:-python3}"
requirements=("pyzmq>=22" "pytest>=7")
if ! "$python" -c 'import zmq, pytest' >/dev/null 2>&1; then
    if [ -x "$here/.venv/bin/python" ] || "$python" -m venv "$here/.venv" >/dev/null 2>&1; then
        python="$here/.venv/bin/python"
        if ! "$python" -c 'import zmq, pytest' >/dev/null 2>&1; then
            echo "installing ${requirements[*]} into $here/.venv"
            "$python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
        fi
    else
        rm -rf "$here/.venv"
        echo "installing ${requirements[*]} with pip --user"
        "$python" -m pip install --quiet --disable-pip-version-check --user "${requirements[@]}"
    fi
fi

cd "$here"
exec "$python" -m pytest -ra -p no:cacheprovider "$@"
