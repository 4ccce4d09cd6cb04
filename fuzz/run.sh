#!/usr/bin/env bash
# Runs one fuzzer for a bounded time: fuzz/run.sh decoder|core [seconds] [extra libFuzzer flags…]
#
# Reads the committed seeds in fuzz/corpus/<target> and grows a working corpus in .build/fuzz/corpus/<target>
# (not committed; `make fuzz-merge` folds new coverage back into the seeds). A crash, a broken invariant or
# a leak stops the run with a non-zero status and leaves the input in .build/fuzz/artifacts/<target>/;
# replay it with `.build/fuzz/fuzz-<target> <file>` (FUZZ_TRACE=1 prints a core script step by step).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/.build/fuzz}
TARGET=${1:?usage: fuzz/run.sh decoder|core [seconds] [libFuzzer flags]}
SECONDS_TO_RUN=${2:-300}
shift $(( $# >= 2 ? 2 : 1 ))
case "$TARGET" in
    decoder) MAX_LEN=512 ;;
    core) MAX_LEN=4096 ;;
    *) echo "unknown fuzz target '$TARGET' (decoder or core)" >&2; exit 2 ;;
esac

mkdir -p "$OUT/corpus/$TARGET" "$OUT/artifacts/$TARGET"
# libFuzzer reports crashes itself; the Swift runtime's backtracer would only slow it down (or wait on a tty).
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-handle_sigill=1:handle_abort=1:allocator_may_return_null=0}
echo "fuzzing $TARGET for ${SECONDS_TO_RUN}s (seeds: fuzz/corpus/$TARGET, corpus: $OUT/corpus/$TARGET)"
exec "$OUT/fuzz-$TARGET" "$OUT/corpus/$TARGET" "$ROOT/fuzz/corpus/$TARGET" \
    -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
    -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$TARGET/" "$@"
