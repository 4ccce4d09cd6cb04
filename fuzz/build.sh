#!/usr/bin/env bash
# Builds the libFuzzer targets into .build/fuzz (or $FUZZ_BUILD) with swiftc directly, without SwiftPM:
#   fuzz-decoder  HeaderDecoder on arbitrary frames          (ParleyWire)
#   fuzz-core     the broker core fed with decoded commands  (ParleyWire + ParleyBrokerCore)
#
# Each module is compiled on its own, with its real name, so the sources build unchanged:
#   ParleyWire        Sources/ParleyWire/*.swift (the protocol, routing ids, the CURVE key ring)
#   InternalCollectionsUtilities, HeapModule  swift-collections' heap, from SwiftPM's checkout (resolved first)
#   ParleyBrokerCore  Sources/ParleyBrokerCore/*.swift, the sans-I/O core (it imports nothing else), built with
#                     -enable-testing so the fuzzer can check the core's internal tables
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

echo "building the fuzzers in $OUT (sanitizers: $SANITIZERS)"
swift package resolve >/dev/null
COLLECTIONS=$(swift package show-dependencies --format json | python3 -c 'import json, sys
def find(node):
    if node["identity"] == "swift-collections": return node["path"]
    return next((path for child in node["dependencies"] if (path := find(child))), None)
print(find(json.load(sys.stdin)))')
# The language features and availability names swift-collections' Package.swift sets for its targets.
COLLECTIONS_FLAGS=(-package-name swift_collections -enable-upcoming-feature MemberImportVisibility -enable-experimental-feature BuiltinModule
    -enable-experimental-feature Lifetimes -enable-experimental-feature InoutLifetimeDependence
    -enable-experimental-feature AddressableParameters -enable-experimental-feature AddressableTypes)
for version in 5.0 5.1 5.6 5.7 5.8 5.9 5.10 6.0 6.1 6.2 6.3 6.4 6.5; do
    COLLECTIONS_FLAGS+=(-Xfrontend -define-availability -Xfrontend "SwiftStdlib $version:macOS 9999")
done
mapfile -t utilities < <(find "$COLLECTIONS/Sources/InternalCollectionsUtilities" -name '*.swift')  # names with spaces
module InternalCollectionsUtilities "${COLLECTIONS_FLAGS[@]}" -- "${utilities[@]}"
module HeapModule "${COLLECTIONS_FLAGS[@]}" -- "$COLLECTIONS"/Sources/HeapModule/*.swift
module ParleyWire -- Sources/ParleyWire/*.swift
module ParleyBrokerCore -enable-testing -- Sources/ParleyBrokerCore/*.swift
broker_objects=("$OUT/objects/InternalCollectionsUtilities.o" "$OUT/objects/HeapModule.o" "$OUT/objects/ParleyWire.o"
                "$OUT/objects/ParleyBrokerCore.o")

echo "  link fuzz-decoder"
"$SWIFTC" "${COMMON[@]}" fuzz/DecoderFuzzer.swift fuzz/DecoderSeeds.swift \
    "$OUT/objects/ParleyWire.o" -o "$OUT/fuzz-decoder"
echo "  link fuzz-core"
"$SWIFTC" "${COMMON[@]}" fuzz/CoreFuzzer.swift fuzz/CoreScript.swift fuzz/CoreInvariants.swift fuzz/CoreSeeds.swift \
    "${broker_objects[@]}" -o "$OUT/fuzz-core"
echo "built $OUT/fuzz-decoder and $OUT/fuzz-core"
