#!/usr/bin/env bash
# Instructions per call of one or more gengate binaries, counted by valgrind's callgrind.
# Wall-clock CPU per call swings by tens of percent on this kind of machine from one minute to
# the next; instruction counts do not, so a change of a few percent in user-space work shows
# here when no run of `bench/pairs.sh` can show it. What this does not count: the kernel (the
# system calls, the wake-ups), cache misses and waits. Judge those with pairs.sh.
#
#   bench/instructions.sh [-c CONCURRENCY] [-s SECONDS] [-k chat|stream] [-m MODEL] BIN...
#
# Each binary serves the mock upstream under callgrind. After a warm-up, the counters are
# zeroed, the load generator runs for SECONDS, and the counters are dumped: so start-up and
# shutdown are not in the counts. Prints, per binary, the instructions per call of the whole
# process, of the curl event loop (CurlClient::Loop, inclusive) and of a few hot functions.
# Needs valgrind (Debian's `valgrind` package); installs it when missing.
set -euo pipefail

concurrency=4 seconds=6 call=chat model=bench build=build
while getopts "c:s:k:m:b:" option; do
  case "$option" in
    c) concurrency=$OPTARG ;; s) seconds=$OPTARG ;; k) call=$OPTARG ;; m) model=$OPTARG ;;
    b) build=$OPTARG ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || { sed -n '2,15p' "$0"; exit 2; }
command -v valgrind >/dev/null ||
  "$(dirname "$0")/../scripts/apt-install.sh" "bench/instructions.sh" valgrind
source "$(dirname "$0")/lib.sh"

# count BINARY: one run; prints its line.
count() {
  local binary=$1 out=$work/callgrind.out
  rm -f "$work/gengate" "$out"*
  start_mock
  valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" \
    --upstream_url="http://127.0.0.1:$mock_port" --listen=127.0.0.1:0 \
    --admin_listen=127.0.0.1:0 >"$work/gengate" 2>"$work/valgrind.err" &
  local gengate=$!
  wait_serving $gengate
  local load=(--target=grpc "--address=$address" "--call=$call" "--model=$model"
              "--expect_messages=$expect" "--concurrency=$concurrency" --channels=1)
  "$loadgen" "${load[@]}" --warmup_s=1 --duration_s=0.01 >/dev/null
  callgrind_control --zero $gengate >/dev/null 2>&1
  "$loadgen" "${load[@]}" --warmup_s=0 --duration_s="$seconds" >"$work/load.json"
  callgrind_control --dump $gengate >/dev/null 2>&1
  kill $gengate $mock; wait $gengate $mock 2>/dev/null || true
  # The dump taken by callgrind_control is the one with a part number.
  local dump; dump=$(ls "$out".* | head -1)
  callgrind_annotate --inclusive=yes "$dump" >"$work/annotated" 2>/dev/null
  python3 - "$binary" "$work/load.json" "$work/annotated" <<'PY'
import json, re, sys
binary, load_path, annotated = sys.argv[1:]
load = json.load(open(load_path))
calls = load.get("total_calls") or load["calls"]
if not calls or load["errors"]:
    sys.exit(f"{binary}: {calls} calls, {load['errors']} errors")
totals, inclusive = 0, {}
for line in open(annotated):
    match = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
    if not match:
        continue
    cost, name = int(match.group(1).replace(",", "")), match.group(2)
    if "PROGRAM TOTALS" in name:
        totals = cost
    for label, pattern in (("curl loop", "CurlClient::Loop()"),
                           ("curl_multi_socket_action", ":curl_multi_socket_action "),
                           ("answer parse", "FromUpstreamJson("),
                           ("call log line", "FormatLogLine")):
        if pattern in name:
            inclusive[label] = max(inclusive.get(label, 0), cost)
parts = ", ".join(f"{label} {cost / calls / 1e3:.1f}k" for label, cost in inclusive.items())
print(f"{binary}: {totals / calls / 1e3:.1f}k instructions per call ({parts}) over {calls} calls")
PY
}

for binary in "$@"; do count "$binary"; done
