#!/usr/bin/env bash
# The whole test suite under a sanitizer: fuzz/sanitizers/test.sh thread|address [swift test flags…]
#
# Builds into its own scratch path (.build-tsan or .build-asan, so the normal .build stays as it is) and runs
# `swift test` from there. The integration tests start the broker and gateway executables of the same scratch
# path, so they run sanitized too. Every process writes its reports to <scratch>/sanitizer-reports/ (log_path),
# also those whose stderr the tests swallow; the script prints them and fails when there is any report or any
# failed test.
#   thread   ThreadSanitizer, with fuzz/sanitizers/tsan-suppressions.txt (Synchronization.Mutex false positives)
#   address  AddressSanitizer over the whole suite, then again with LeakSanitizer over every test target but the
#            integration one (ParleyTests), with fuzz/sanitizers/lsan-suppressions.txt (XCTest's own objects).
#            The integration harness leaks by itself (Foundation's Process/Pipe/FileHandle readability handlers,
#            libcurl's globals behind URLSession, handlers that capture their own EventBus), which would drown
#            anything real.
# PARLEY_SANITIZER is set to thread or address, for tests whose figures a sanitizer skews (peak RSS, timing).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIND=${1:?usage: fuzz/sanitizers/test.sh thread|address [swift test flags]}
shift
case "$KIND" in
    thread) SCRATCH=.build-tsan ;;
    address) SCRATCH=.build-asan ;;
    *) echo "unknown sanitizer '$KIND' (thread or address)" >&2; exit 2 ;;
esac
cd "$ROOT"
REPORTS="$ROOT/$SCRATCH/sanitizer-reports"

swift build --build-tests --sanitize="$KIND" --scratch-path "$SCRATCH" || exit 1

rm -rf "$REPORTS" && mkdir -p "$REPORTS"
export SWIFT_BACKTRACE=enable=no  # the sanitizer prints the stack; the Swift backtracer would only get in its way
export PARLEY_SANITIZER="$KIND"
case "$KIND" in
    thread)
        export TSAN_OPTIONS="suppressions=$ROOT/fuzz/sanitizers/tsan-suppressions.txt log_path=$REPORTS/tsan history_size=4 ${TSAN_OPTIONS:-}" ;;
    address)
        export ASAN_OPTIONS="log_path=$REPORTS/asan detect_leaks=0 ${ASAN_OPTIONS:-}"
        export LSAN_OPTIONS="suppressions=$ROOT/fuzz/sanitizers/lsan-suppressions.txt print_suppressions=0 ${LSAN_OPTIONS:-}" ;;
esac
echo "swift test under the $KIND sanitizer (reports go to $REPORTS)"
swift test --skip-build --sanitize="$KIND" --scratch-path "$SCRATCH" "$@"
status=$?
if [ "$KIND" = address ]; then
    echo "swift test of the unit-test targets under LeakSanitizer"
    ASAN_OPTIONS="${ASAN_OPTIONS/detect_leaks=0/detect_leaks=1}" \
        swift test --skip-build --sanitize=address --scratch-path "$SCRATCH" --skip '^ParleyTests\.' "$@" || status=$?
fi

shopt -s nullglob
reports=("$REPORTS"/*)
warnings=0
for report in "${reports[@]}"; do
    count=$(grep -cE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (AddressSanitizer|LeakSanitizer))' "$report" || true)
    warnings=$((warnings + count))
    echo "---- $report ($count report(s))"
    grep -E '^(WARNING|SUMMARY|==[0-9]+==ERROR)' "$report" | sort | uniq -c | sort -rn | head -20
done
echo "$KIND sanitizer: swift test exit status $status, $warnings report(s) in ${#reports[@]} file(s)"
if [ "$status" -ne 0 ] || [ "$warnings" -ne 0 ]; then
    echo "see $REPORTS for the full stacks" >&2
    exit 1
fi
