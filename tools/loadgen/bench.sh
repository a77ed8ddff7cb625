#!/usr/bin/env bash
# Runs one scenario against a fresh server, each pinned to its own core.
#   tools/loadgen/bench.sh step-4 s1 [more loadgen flags...]
# Builds both in release mode, starts `target/release/STEP --addr 127.0.0.1:0` on core 0,
# reads its port from the `listening on` line, runs loadgen on core 1 with --pid, then
# stops the server and says how many warnings it logged (1013 drops are logged).
set -euo pipefail
cd "$(dirname "$0")/../.."
step=${1:?usage: bench.sh STEP SCENARIO [loadgen flags...]}
scenario=${2:?usage: bench.sh STEP SCENARIO [loadgen flags...]}
shift 2

cargo build --release -q -p "$step" -p loadgen
log=$(mktemp)
taskset -c 0 "target/release/$step" --addr 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT

port=
for _ in $(seq 100); do
  port=$(grep -o 'listening on [a-z]*://[0-9.]*:[0-9]*' "$log" | sed 's/.*://' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "no 'listening on' line from $step:"; cat "$log"; exit 1; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
taskset -c 1 target/release/loadgen --url "ws://127.0.0.1:$port" --pid "$server" \
  --scenario "$scenario" "$@"
echo "server log: $(grep -c WARN "$log" || true) warnings"
