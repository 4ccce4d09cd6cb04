#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd with `systemd-analyze verify` (and prints their exposure score from
# `systemd-analyze security --offline`, for information). ExecStart names /usr/local/bin, where the units expect
# the binaries after installation; here they are pointed at BUILD_DIR (default .build/debug) so that verify can
# check that the commands exist and run.
#   deploy/verify-units.sh [BUILD_DIR]        (make verify-units)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../.build/debug}" && pwd)"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found: install systemd (apt-get install -y systemd; make verify-units does) to verify the units" >&2
    exit 1
fi
for binary in parley-broker parley-gateway; do
    [ -x "$build/$binary" ] || { echo "$build/$binary is not built (swift build)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for unit in "$here"/systemd/*.service; do
    name="$(basename "$unit")"
    sed "s#/usr/local/bin/#$build/#g" "$unit" > "$work/$name"
    if output="$(systemd-analyze verify "$work/$name" 2>&1)" && [ -z "$output" ]; then
        score="$(systemd-analyze security --offline=true "$work/$name" 2>/dev/null | tail -1 | sed 's/^→ //' || true)"
        echo "$name: OK${score:+ ($score)}"
    else
        echo "$name: FAILED"
        echo "$output" | sed 's/^/  /'
        status=1
    fi
done
exit $status
