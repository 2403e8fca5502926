# Shared by bench/pairs.sh and bench/instructions.sh (sourced, not run): the mock upstream and
# gengate started for one measured run. Expects $build, $call and $model; sets $mock_binary,
# $loadgen, $expect and $work (removed on exit, with any process still running).

mock_binary=$build/bench/bench_mock_upstream
loadgen=$build/bench/bench_loadgen
expect=0
[[ $call == stream ]] && expect=$(sed -n 's/.*chunks=\([0-9]*\).*/\1/p' <<<"$model")

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# start_mock [COMMAND PREFIX...]: starts the mock upstream on a free port; sets $mock (its
# pid) and $mock_port.
start_mock() {
  rm -f "$work/mock"
  "$@" "$mock_binary" --port=0 >"$work/mock" &
  mock=$!
  until grep -q '^listening ' "$work/mock" 2>/dev/null; do sleep 0.05; done
  mock_port=$(awk '/^listening / { print $2 }' "$work/mock")
}

# wait_serving PID: waits for gengate's serving line in $work/gengate; sets $address to its
# gRPC address. Fails, with gengate's output, if it exits first.
wait_serving() {
  until grep -q '"msg":"serving"' "$work/gengate" 2>/dev/null; do
    kill -0 "$1" 2>/dev/null || { cat "$work/gengate" "$work"/*.err 2>/dev/null >&2; exit 1; }
    sleep 0.05
  done
  address=$(grep -o '"listen":"[^"]*"' "$work/gengate" | head -1 | cut -d'"' -f4)
}
