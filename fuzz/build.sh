#!/usr/bin/env bash
# Builds the libFuzzer targets into .build/fuzz (or $FUZZ_BUILD) with swiftc directly, without SwiftPM:
#   fuzz-decoder  HeaderDecoder on arbitrary frames          (ParleyWire)
#   fuzz-core     the broker core fed with decoded commands  (ParleyWire + the sans-I/O files of ParleyBroker)
#
# Each module is compiled on its own, with its real name, so the sources build unchanged:
#   ParleyWire    Sources/ParleyWire/*.swift
#   ZeroMQ        Sources/ZeroMQ/PeerID.swift only (the core names peers by PeerID; nothing else of libzmq)
#   ParleyPolicy  Sources/ParleyPolicy/KeyEntry.swift and KeyRing.swift (the lookups the core calls; the rest of
#                 the module, the loaders, needs Yams and Foundation)
#   ParleyBroker  every file of Sources/ParleyBroker that imports nothing but ParleyWire and ParleyPolicy
#                 (plus PeerID+Export.swift), except BrokerOptions.swift: the core, not the reactor, the
#                 journal, the process options or the status JSON; built with
#                 -enable-testing so the fuzzer can check the core's internal tables
#   ParleyStatistics  Sources/ParleyStatistics/*.swift, only when a core file imports it
# All of them are instrumented for libFuzzer and AddressSanitizer (FUZZ_SANITIZERS to change).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/.build/fuzz}
SANITIZERS=${FUZZ_SANITIZERS:-fuzzer,address}
SWIFTC=${SWIFTC:-swiftc}
cd "$ROOT"
mkdir -p "$OUT/modules" "$OUT/objects"

COMMON=(-sanitize="$SANITIZERS" -O -g -swift-version 6 -parse-as-library -I "$OUT/modules")

# module NAME [extra flags --] FILES...: compiles one module into a .swiftmodule and one object file.
module() {
    local name=$1; shift
    local extra=()
    while [ "$1" != "--" ]; do extra+=("$1"); shift; done; shift
    echo "  module $name ($# files)"
    "$SWIFTC" "${COMMON[@]}" "${extra[@]}" -wmo -num-threads 0 -module-name "$name" -emit-module \
        -emit-module-path "$OUT/modules/$name.swiftmodule" -c "$@" -o "$OUT/objects/$name.o"
}

# The broker core's files: those importing only ParleyWire/ParleyPolicy/ParleyStatistics (and PeerID's re-export), except
# BrokerOptions.swift (the process's options: endpoints and CURVE server keys, which the core never sees).
core_files=()
for file in Sources/ParleyBroker/*.swift; do
    [ "$(basename "$file")" = BrokerOptions.swift ] && continue
    imports=$(grep -E '^[[:space:]]*(@_exported[[:space:]]+)?((public|internal|private|fileprivate)[[:space:]]+)?import[[:space:]]' "$file" \
        | grep -vE 'import (ParleyWire|ParleyPolicy|ParleyStatistics)$' | grep -vE '^@_exported import struct ZeroMQ\.PeerID$' || true)
    [ -z "$imports" ] && core_files+=("$file")
done

echo "building the fuzzers in $OUT (sanitizers: $SANITIZERS)"
module ParleyWire -- Sources/ParleyWire/*.swift
module ZeroMQ -- Sources/ZeroMQ/PeerID.swift
module ParleyPolicy -- Sources/ParleyPolicy/KeyEntry.swift Sources/ParleyPolicy/KeyRing.swift
broker_objects=("$OUT/objects/ParleyWire.o" "$OUT/objects/ZeroMQ.o" "$OUT/objects/ParleyPolicy.o")
if grep -qsE '^import ParleyStatistics$' "${core_files[@]}"; then
    module ParleyStatistics -- Sources/ParleyStatistics/*.swift
    broker_objects+=("$OUT/objects/ParleyStatistics.o")
fi
module ParleyBroker -enable-testing -- "${core_files[@]}"
broker_objects+=("$OUT/objects/ParleyBroker.o")

echo "  link fuzz-decoder"
"$SWIFTC" "${COMMON[@]}" fuzz/DecoderFuzzer.swift fuzz/DecoderSeeds.swift \
    "$OUT/objects/ParleyWire.o" -o "$OUT/fuzz-decoder"
echo "  link fuzz-core"
"$SWIFTC" "${COMMON[@]}" fuzz/CoreFuzzer.swift fuzz/CoreScript.swift fuzz/CoreInvariants.swift fuzz/CoreSeeds.swift \
    "${broker_objects[@]}" -o "$OUT/fuzz-core"
echo "built $OUT/fuzz-decoder and $OUT/fuzz-core"
