#!/usr/bin/env bash
# Reproduces a wrong answer after a broker restart (found by the chaos run): a server still running handlers
# from the killed broker's deliveries gets new deliveries with the same delivery ids from the restarted
# broker (ids start at 1 again), and its old handlers' REPLYs answer the new requests.
# Usage: chaos/scenarios/delivery-id-reuse.sh   (after `swift build --product parley-chaos` and the broker)
set -u
B=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug}
W=$(mktemp -d /tmp/parley-scenario.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
ready() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

"$B/parley-broker" --endpoint 'tcp://127.0.0.1:*' --events-endpoint 'tcp://127.0.0.1:*' --heartbeat-ms 200 > "$W/b1.log" 2>&1 & pids+=($!); B1=$!
ready "$W/b1.log" "ready on" || { echo "broker did not start"; exit 2; }
EP=$(grep -o 'ready on [^ ]*' "$W/b1.log" | awk '{print $3}'); EV=$(grep -o 'events tcp[^ ]*' "$W/b1.log" | awk '{print $2}')
now=$(date +%s%3N)
echo "$((now + 6000))" > "$W/stop-at"
common=(--broker "$EP" --events "$EV" --gateway tcp://127.0.0.1:1 --stop-file "$W/stop-at" --exit-by $((now + 30000)) --timeout-ms 10000)
"$B/parley-chaos" agent --role server --id srv-1 --out "$W/srv.json" --hold-ms 1500 "${common[@]}" > "$W/srv.log" 2>&1 & pids+=($!)
sleep 0.5
for r in req-1 req-2; do
  "$B/parley-chaos" agent --role requester --id $r --out "$W/$r.json" --concurrency 5 --interval-ms 1 "${common[@]}" > "$W/$r.log" 2>&1 & pids+=($!)
done
sleep 1.0                      # ten requests are now being held by srv-1's handlers (delivery ids 1-10)
kill -9 $B1; wait $B1 2>/dev/null   # the broker dies ...
"$B/parley-broker" --endpoint "$EP" --events-endpoint "$EV" --heartbeat-ms 200 > "$W/b2.log" 2>&1 & pids+=($!)
ready "$W/b2.log" "ready on" || { echo "broker did not restart"; exit 2; }
sleep 12                       # ... and comes back on the same ports; the requesters resend, srv-1's old handlers answer
cat "$W"/req-*.log | grep -h MISMATCH
n=$(cat "$W"/req-*.log | grep -c MISMATCH)
echo "wrong answers: $n (logs in $W)"
[ "$n" -eq 0 ]
