#!/usr/bin/env bash
# Runs the Python client's tests (pytest) against real parley-broker and parley-gateway processes, with the
# package installed from its wheel, never from the source tree: a packaging mistake fails the tests.
#
#   clients/python/run-tests.sh [pytest arguments]
#
# 1. Builds the three executables with SwiftPM, unless PARLEY_BUILD_DIR names a folder holding them.
# 2. In clients/python/.venv (made with $PYTHON, default python3): installs build and mypy, runs
#    `mypy --strict` on the package and builds the wheel with `python -m build` into clients/python/dist.
# 3. Makes a fresh virtual environment (clients/python/.venv-wheel), installs the wheel (which pulls pyzmq),
#    pytest and selenium into it, and runs pytest there with PARLEY_TEST_WHEEL=1: conftest.py then refuses a
#    `parley` imported from anywhere but that environment.
# 4. The console's browser tests (tests/test_console.py) drive Debian's chromium through chromium-driver: both are
#    installed with apt-get when missing (with sudo unless root).
# Exits non-zero when anything fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
pip_install() { "$1" -m pip install --quiet --disable-pip-version-check "${@:2}"; }

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

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (for the console's browser tests) with apt-get"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

tools="$here/.venv/bin/python"
if [ ! -x "$tools" ]; then
    "${PYTHON:-python3}" -m venv "$here/.venv"
fi
if ! "$tools" -c 'import build, mypy, zmq' >/dev/null 2>&1; then
    echo "installing build, mypy and pyzmq into $here/.venv"
    pip_install "$tools" "build>=1" "mypy>=1" "pyzmq>=22"
fi

echo "mypy --strict parley"
(cd "$here" && "$tools" -m mypy --strict --no-error-summary parley)

rm -rf "$here/dist"
echo "building the wheel"
if ! log="$("$tools" -m build --wheel --outdir "$here/dist" "$here" 2>&1)"; then
    echo "$log" | tail -40
    echo "run-tests.sh: python -m build failed" >&2
    exit 1
fi
rm -rf "$here/build" "$here"/*.egg-info
wheel="$(ls "$here"/dist/*.whl)"

venv="$here/.venv-wheel"
rm -rf "$venv"
"$tools" -m venv "$venv"
echo "installing $(basename "$wheel"), pytest and selenium into a fresh $venv"
pip_install "$venv/bin/python" "$wheel" "pytest>=7" "selenium>=4.11"

cd "$here"
# The pytest script, not `python -m pytest`: that would put the current folder (the source tree) on sys.path.
PARLEY_TEST_WHEEL=1 exec "$venv/bin/pytest" -ra -p no:cacheprovider "$@"
