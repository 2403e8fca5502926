#!/usr/bin/env bash
# The gRPC floor with --hand_off answers every unary call (each finished from its other
# thread) and shuts down cleanly on SIGTERM, joining that thread.
#
#   floor_hand_off_test.sh BENCH_GRPC_FLOOR BENCH_LOADGEN
set -euo pipefail
floor=$1 loadgen=$2
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$floor" --port=0 --hand_off >"$work/out" 2>"$work/err" &
pid=$!
# The floor prints its port once it listens; give up if it exits first.
until grep -q '^listening ' "$work/out"; do
  kill -0 "$pid" 2>/dev/null || { echo "the floor exited before listening" >&2; cat "$work/err" >&2; exit 1; }
  sleep 0.02
done
port=$(awk '/^listening / { print $2 }' "$work/out")

"$loadgen" --target=grpc --address="127.0.0.1:$port" --call=chat --model=bench \
  --concurrency=8 --warmup_s=0 --duration_s=0.3 >"$work/load.json"
python3 - "$work/load.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["errors"] == 0, result
assert result["calls"] > 0, result
print(f"{result['calls']} calls answered")
PY

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[[ $status -eq 0 ]] || { echo "the floor exited with $status on SIGTERM" >&2; cat "$work/err" >&2; exit 1; }
[[ ! -s "$work/err" ]] || { echo "the floor wrote to stderr:" >&2; cat "$work/err" >&2; exit 1; }
