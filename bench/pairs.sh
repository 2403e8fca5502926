#!/usr/bin/env bash
# Interleaved A/B runs of two gengate binaries, or of one binary with two flag sets, under the
# pinning of `make bench`: the mock upstream and the load generator on CPU 1, gengate on CPU 0.
# On this kind of machine single runs swing by tens of percent, so a change is judged by pairs
# run back to back, not by one run against an older one. Use an even number of pairs: the
# order within a pair alternates.
#
#   bench/pairs.sh [-n PAIRS] [-c CONCURRENCY] [-s SECONDS] [-k chat|stream] [-m MODEL] A B
#
# A and B are a gengate binary, optionally followed by its extra flags after commas:
#   bench/pairs.sh -n 4 build/server/gengate,--sched_batch=false build/server/gengate
# Each run prints calls/s, gengate's CPU per call (utime + stime from /proc), its context
# switches per call (all threads), and the p50 latency and time to first message.
set -euo pipefail

pairs=3 concurrency=64 seconds=4 call=chat model=bench build=build
while getopts "n:c:s:k:m:b:" option; do
  case "$option" in
    n) pairs=$OPTARG ;; c) concurrency=$OPTARG ;; s) seconds=$OPTARG ;;
    k) call=$OPTARG ;; m) model=$OPTARG ;; b) build=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 2 ]] || { sed -n '2,14p' "$0"; exit 2; }
[[ $(nproc) -ge 2 ]] || { echo "pairs.sh: needs two CPUs to pin apart" >&2; exit 2; }
source "$(dirname "$0")/lib.sh"

switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s }'; }
ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }

# run LABEL BINARY[,FLAGS]: one measured run against a fresh mock upstream and gengate.
run() {
  local label=$1 spec=$2 binary flags
  IFS=, read -r binary flags <<<"$spec"
  rm -f "$work/gengate"  # the wait below must not find the last run's line
  start_mock taskset -c 1
  # shellcheck disable=SC2086  # the flags are words
  taskset -c 0 "$binary" --upstream_url="http://127.0.0.1:$mock_port" --listen=127.0.0.1:0 \
    --admin_listen=127.0.0.1:0 --max_upstream_connections=512 ${flags//,/ } >"$work/gengate" 2>&1 &
  local gengate=$!
  wait_serving $gengate
  local load=(--target=grpc "--address=$address" "--call=$call" "--model=$model"
              "--expect_messages=$expect" "--concurrency=$concurrency" --channels=4)
  taskset -c 1 "$loadgen" "${load[@]}" --warmup_s=1 --duration_s=0.01 >/dev/null
  local ticks0 switches0; ticks0=$(ticks $gengate); switches0=$(switches $gengate)
  taskset -c 1 "$loadgen" "${load[@]}" --warmup_s=0 --duration_s="$seconds" >"$work/load.json"
  local ticks1 switches1; ticks1=$(ticks $gengate); switches1=$(switches $gengate)
  kill $gengate $mock; wait $gengate $mock 2>/dev/null || true
  python3 - "$label" "$work/load.json" "$ticks0" "$ticks1" "$switches0" "$switches1" \
    "$(getconf CLK_TCK)" <<'PY' | tee -a "$work/results"
import json, sys
label, path = sys.argv[1], sys.argv[2]
t0, t1, s0, s1, tick = map(int, sys.argv[3:])
o = json.load(open(path))
calls = o.get("total_calls") or o["calls"]
if not calls:
    sys.exit(f"{label}: no call ended OK ({o['errors']} errors)")
first = o.get("first_message_us", {}).get("p50")
print(f"{label} {o['calls_per_second']:.0f} calls/s, {(t1 - t0) / tick / calls * 1e6:.1f} us CPU/call, "
      f"{(s1 - s0) / calls:.2f} switches/call, p50 {o['latency_us']['p50']:.0f} us"
      + (f", first message p50 {first:.0f} us" if first else "")
      + (f", {o['errors']} ERRORS" if o["errors"] else ""))
PY
}

# Every other pair runs B first: the run that goes first in a pair measured faster more often
# than not (2026-12-02: 7 of 8 pairs of two builds, either way round), so a fixed order would
# favour A.
for ((i = 1; i <= pairs; ++i)); do
  if ((i % 2)); then
    run A "$1"
    run B "$2"
  else
    run B "$2"
    run A "$1"
  fi
done
awk '{ sum[$1] += $2; cpu[$1] += $4; n[$1]++ }
     END { for (k in n) printf "%s mean: %.0f calls/s, %.1f us CPU/call over %d runs\n",
                               k, sum[k] / n[k], cpu[k] / n[k], n[k] }' "$work/results" | sort
