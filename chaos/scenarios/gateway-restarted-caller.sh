#!/usr/bin/env bash
# Reproduces a cross-layer caller that is refused for good (found by the chaos run): an agent that makes
# cross-layer calls is killed (-9) and restarted at once with the same id. The gateway still holds the dead
# caller as live (3 heartbeats), refuses the new one's HELLO ("held by another live agent"), and the SDK's
# gateway link gives up for good: every later cross-layer call of that process ends UNAUTHORIZED at once.
# Usage: chaos/scenarios/gateway-restarted-caller.sh   (after building parley-broker, parley-gateway, parley-chaos)
set -u
B=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug}
W=$(mktemp -d /tmp/parley-scenario.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
ready() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cat > "$W/policy.yaml" <<'POLICY'
version: 1
layers: [domain, infrastructure]
default: deny
rules:
  - name: domain-uses-infrastructure
    comment: the only edge
    from: domain
    to: infrastructure
    kinds: [call]
    max_payload: 64KiB
POLICY

"$B/parley-broker" --endpoint 'tcp://127.0.0.1:*' --events-endpoint 'tcp://127.0.0.1:*' > "$W/broker.log" 2>&1 & pids+=($!)
ready "$W/broker.log" "ready on" || { echo "broker did not start"; exit 2; }
EP=$(grep -o 'ready on [^ ]*' "$W/broker.log" | awk '{print $3}'); EV=$(grep -o 'events tcp[^ ]*' "$W/broker.log" | awk '{print $2}')
"$B/parley-gateway" --endpoint 'tcp://127.0.0.1:*' --broker "$EP" --policy "$W/policy.yaml" --audit-log /dev/null > "$W/gateway.log" 2>&1 & pids+=($!)
ready "$W/gateway.log" "ready on" || { echo "gateway did not start"; exit 2; }
GW=$(grep -o 'ready on [^ ]*' "$W/gateway.log" | awk '{print $3}')
now=$(date +%s%3N)
echo "$((now + 9000))" > "$W/stop-at"
common=(--broker "$EP" --events "$EV" --gateway "$GW" --stop-file "$W/stop-at" --exit-by $((now + 30000)) --concurrency 1)
"$B/parley-chaos" agent --role infra-server --id inf-1 --out "$W/inf.json" "${common[@]}" > "$W/inf.log" 2>&1 & pids+=($!)
sleep 0.5
"$B/parley-chaos" agent --role cross-requester --id xreq-1 --out "$W/x1.json" "${common[@]}" > "$W/x1.log" 2>&1 & pids+=($!); X1=$!
sleep 1.5
kill -9 $X1; wait $X1 2>/dev/null           # the caller dies ...
"$B/parley-chaos" agent --role cross-requester --id xreq-1 --incarnation 2 --out "$W/x2.json" "${common[@]}" > "$W/x2.log" 2>&1 & pids+=($!); X2=$!
wait $X2                                     # ... and is restarted at once; it calls until the stop time
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
first = json.load(open(f"{w}/x1.json"))["requests"]["outcomes"]
second = json.load(open(f"{w}/x2.json"))["requests"]["outcomes"]
print("first incarnation: ", first)
print("restarted at once: ", second)
sys.exit(1 if second.get("UNAUTHORIZED") else 0)
PY
status=$?
grep -m1 "#.*UNAUTHORIZED" "$W/x2.log"
echo "logs in $W"
exit $status
