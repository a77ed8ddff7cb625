#!/usr/bin/env bash
# Runs loadgen's scenarios against several steps, each run against a fresh server, and
# prints one table per scenario with a column per step: the median of the runs, and
# (min-max) when they differ.
#
#   tools/loadgen/compare.sh step-4 step-5 step-6
#   RUNS=1 SCENARIOS="s1 s3" tools/loadgen/compare.sh step-6
#   tools/loadgen/compare.sh --table DIR            # the tables of an earlier run, again
#   tools/loadgen/compare.sh --profile STEP SCENARIO # where the server's CPU goes (perf)
#   tools/loadgen/compare.sh --heap STEP            # what an idle connection holds (heaptrack)
#
# Settings, from the environment:
#   RUNS=3                    how many times each scenario runs against each step
#   SCENARIOS="s1 s2 s2b s3"  which scenarios
#   OUT=DIR                   where the JSON reports go (default: a new directory in /tmp)
#   SERVER_CORE=0 LOADGEN_CORE=1
#   LOADGEN_FLAGS="..."       more loadgen flags for every run (e.g. "--duration 3s")
#
# Like bench.sh: release builds, the server on one core and loadgen on the other. The
# runs go round-robin (run 1 of every step, then run 2, ...), so that a burst of other
# work on the machine lands on every step alike instead of on one of them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# ANCHOR: settings
runs=${RUNS:-3}
scenarios=${SCENARIOS:-"s1 s2 s2b s3"}
server_core=${SERVER_CORE:-0}
loadgen_core=${LOADGEN_CORE:-1}
# S3's 2000 joins, spread over ten seconds (see the README's Scenarios section).
s3_flags="--connect-rate 200"
extra_flags=${LOADGEN_FLAGS:-}
# ANCHOR_END: settings

# The tables, from every JSON report in $1. Each report carries the step, the run and
# the load average before it (added by `measure` below). With an even number of runs,
# the median is the lower of the two middle values.
print_tables() {
  jq -rs --arg scenarios "$scenarios" '
    def median: sort | .[(length - 1) / 2 | floor];
    def r(n): (. * n | round) / n;
    def us: if . == null then "-" elif . < 1000 then "\(.) µs"
            elif . < 100000 then "\(. / 1000 | r(10)) ms" else "\(. / 1000 | round) ms" end;
    def targets: {
      s1: {delivery: "1.000", p99: "≤ 1 ms"},
      s2: {delivery: "1.000", dropped: "0", cpu: "≤ 150 ns"},
      s2b: {delivery: "1.000", dropped: "0"},
      s3: {delivery: "1.000", memory: "≤ 12 KiB"}
    };
    # Each row: its label, its key in `targets`, the number in one report, its format.
    def rows: [
      ["runs that finished", "", "runs"],
      ["load average (1 min) before", "",  "load"],
      ["time to connect every client", "", "connect"],
      ["clients dropped by the server", "dropped", "dropped"],
      ["delivery (received / expected)", "delivery", "delivery"],
      ["delivered messages/s", "", "rate"],
      ["latency p50", "", "p50"],
      ["latency p99", "p99", "p99"],
      ["latency max", "", "max"],
      ["server CPU (cores)", "", "cores"],
      ["server CPU per delivered message", "cpu", "cpu"],
      ["server memory per connection", "memory", "memory"],
      ["loadgen CPU (cores)", "", "loadgen"]
    ];
    def value($id): {
      load: .load_average,
      connect: .connect.seconds,
      dropped: (.errors.dropped_by_server | add // 0),
      delivery: .delivery.ratio,
      rate: .throughput.delivered_per_second,
      p50: .latency_us.p50, p99: .latency_us.p99, max: .latency_us.max,
      cores: .server.cpu_cores,
      cpu: .server.cpu_ns_per_delivered_message,
      memory: .server.memory_per_connection_bytes,
      loadgen: .loadgen_cpu_cores
    }[$id];
    def shown($id):
      if $id == "load" then r(10) | tostring
      elif $id == "connect" then "\(r(10)) s"
      elif $id == "cores" or $id == "loadgen" then r(100) | tostring
      elif $id == "delivery" then (. * 10000 | floor) as $n
        | "\($n / 10000 | floor).\("000\($n % 10000)" | .[-4:])"
      elif $id == "dropped" or $id == "rate" then round | tostring
      elif $id == "cpu" then "\(round) ns"
      elif $id == "memory" then "\(. / 1024 | r(10)) KiB"
      else us end;
    def cell_of($id): [.[] | value($id) | select(. != null)] as $v
      | if ($v | length) == 0 then "-"
        else ($v | median | shown($id)) as $m
          | ($v | min | shown($id)) as $lo | ($v | max | shown($id)) as $hi
          | if $lo == $hi then $m else "\($m) (\($lo)–\($hi))" end
        end;
    def cell($id): if $id == "runs" then length | tostring else cell_of($id) end;
    . as $all
    | ($all | map(.step) | unique | sort_by(ltrimstr("step-") | tonumber? // 0)) as $steps
    | ($scenarios | split(" ") | map(select(length > 0))) as $wanted
    | $wanted[] as $s
    | ($all | map(select(.config.scenario == $s))) as $runs
    | select($runs | length > 0)
    | ($runs[0].config | "\(.clients) clients, \(.senders) senders, "
        + if .mode.mode == "rate" then "\(.mode.per_second) msg/s each" else "window \(.mode.in_flight)" end
      ) as $load
    | "\n### \($s): \($load); median (min–max) of the runs\n",
      "| | \($steps | join(" | ")) | target (step 8) |",
      "|---|\($steps | map("---") | join("|"))|---|",
      (rows[] as [$title, $key, $id]
        | "| \($title) | \([$steps[] as $step | $runs | map(select(.step == $step)) | cell($id)]
                           | join(" | ")) | \(targets[$s][$key] // "") |")
  ' "$1"/*.json
}

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
mode=tables
case "${1:-}" in
  "") usage ;;
  --table) print_tables "${2:?usage: compare.sh --table DIR}"; exit 0 ;;
  --profile) mode=profile; shift; [ $# = 2 ] || usage ;;
  --heap) mode=heap; shift; [ $# = 1 ] || usage ;;
esac

out=${OUT:-$(mktemp -d /tmp/compare.XXXXXX)}
mkdir -p "$out"
packages=(-p loadgen)
if [ "$mode" = tables ]; then
  for step in "$@"; do packages+=(-p "$step"); done
else
  packages+=(-p "$1")
fi
cargo build --release -q "${packages[@]}"

# S3 needs 2000 sockets on each side; loadgen raises its own limit, the server
# inherits this shell's.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server=
wrapper=
helper=
log=$(mktemp)
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; [ -n "$helper" ] && kill "$helper" 2>/dev/null; rm -f "$log"' EXIT

# Starts `target/release/STEP` on the server's core, behind an optional wrapper
# (heaptrack), and sets `server` (its process id), `wrapper` and `port`.
start_server() {
  local step=$1
  shift
  # Emptied first, so that the previous server's `listening on` line cannot be read
  # before the new server's redirection truncates the file.
  : >"$log"
  taskset -c "$server_core" "$@" "target/release/$step" --addr 127.0.0.1:0 >>"$log" 2>&1 &
  server=$!
  port=
  for _ in $(seq 300); do
    port=$(grep -o 'listening on [a-z]*://[0-9.]*:[0-9]*' "$log" | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "no 'listening on' line from $step:" >&2; cat "$log" >&2; exit 1; }
  if [ $# -gt 0 ]; then
    # Behind a wrapper, the server is the wrapper's child.
    wrapper=$server
    server=$(pgrep -P "$wrapper" -f "^target/release/$step ")
  fi
}

# Stops the server with SIGTERM, or with the signal given (`-KILL`).
stop_server() {
  kill "${1:--TERM}" "$server"
  while kill -0 "$server" 2>/dev/null; do sleep 0.1; done
  server=
}

scenario_flags() {
  if [ "$1" = s3 ]; then echo "$s3_flags $extra_flags"; else echo "$extra_flags"; fi
}

# ANCHOR: measure
# One run: a fresh server pinned to one core, loadgen pinned to the other, and the JSON
# report with the step, the run number and the load average before it added.
measure() {
  local step=$1 scenario=$2 run=$3
  local name="$out/$step-$scenario-$run"
  start_server "$step"
  local load status=0
  load=$(cut -d' ' -f1 /proc/loadavg)
  # shellcheck disable=SC2046 # the flags are a list
  taskset -c "$loadgen_core" target/release/loadgen --url "ws://127.0.0.1:$port" \
    --pid "$server" --scenario "$scenario" $(scenario_flags "$scenario") \
    --json "$name.tmp" >"$name.txt" 2>&1 || status=$?
  stop_server
  if [ "$status" != 0 ]; then
    cp "$log" "$name.server.log"
    echo "$step $scenario run $run: loadgen failed ($status), see $name.txt and $name.server.log" >&2
    return
  fi
  jq --arg step "$step" --argjson run "$run" --argjson load "$load" \
    --argjson warnings "$(grep -c WARN "$log" || true)" \
    '. + {step: $step, run: $run, load_average: $load, server_warnings: $warnings}' \
    "$name.tmp" >"$name.json"
  rm "$name.tmp"
  echo "$step $scenario run $run: load $load," \
    "$(jq -r '"delivery \(.delivery.ratio), \(.server.cpu_ns_per_delivered_message // "-" | floor? // .) ns/msg"' "$name.json")" >&2
}
# ANCHOR_END: measure

# ANCHOR: profile
# Where the server's CPU goes in one scenario: `perf record` (sampling the CPU clock,
# which works in a virtual machine without hardware counters) and `perf stat` counting
# the server's system calls, both for 6 s inside the measured window.
profile() {
  local step=$1 scenario=$2 into_window=3
  [ "$scenario" = s3 ] && into_window=14 # 10 s of paced joins first
  start_server "$step"
  # shellcheck disable=SC2046 # the flags are a list
  taskset -c "$loadgen_core" target/release/loadgen --url "ws://127.0.0.1:$port" \
    --pid "$server" --scenario "$scenario" $(scenario_flags "$scenario") \
    --json "$out/profile.json" >"$out/profile.txt" 2>&1 &
  helper=$!
  sleep "$into_window"
  perf record -q -e cpu-clock -F 1000 -g -p "$server" -o "$out/perf.data" -- sleep 6 &
  perf stat -x, -o "$out/syscalls.csv" -p "$server" \
    -e syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom -- sleep 6
  wait $!
  wait "$helper" || true
  helper=
  stop_server
  jq -r '"\(.config.scenario): \(.throughput.delivered_per_second | round) deliveries/s, server CPU \(.server.cpu_ns_per_delivered_message | round) ns per delivered message"' "$out/profile.json"
  local per_second
  per_second=$(jq .throughput.delivered_per_second "$out/profile.json")
  echo "system calls per delivered message (6 s):"
  awk -F, -v d="$per_second" '/^[0-9]/ { sub(/.*sys_enter_/, "", $3); printf "  %-9s %.4f\n", $3, $1 / (d * 6) }' "$out/syscalls.csv"
  echo "CPU samples by where the code lives:"
  perf report -i "$out/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
    | grep '%' | head -4
  echo "hottest functions:"
  perf report -i "$out/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
    | grep '%' | head -12 | cut -c1-110
}
# ANCHOR_END: profile

# Reads heaptrack_print's list of allocations still live at the end (its "leaks"), and
# adds up their bytes by the first frame of each stack that is not allocator plumbing.
heap_sites=$(cat <<'AWK'
function bytes(s,  n, unit) {
  n = s + 0; unit = substr(s, length(s))
  return n * (unit == "K" ? 1e3 : unit == "M" ? 1e6 : unit == "G" ? 1e9 : 1)
}
/ leaked over [0-9]+ calls from:$/ { size = bytes($1); calls = $4; looking = 1; next }
looking && /^    [^ ]/ {
  name = $1; base = name; sub(/<.*/, "", base)
  if (base ~ plumbing) next
  held[name] += size; count[name] += calls; looking = 0
}
END {
  for (name in held)
    printf "%8.0f bytes  %5.2f allocations  %s\n", held[name] / connections,
      count[name] / connections, substr(name, 1, 100)
}
AWK
)
# Frames that only say *how* memory was allocated, not what for.
plumbing='^(alloc|alloc_impl|alloc_impl_runtime|allocate|aligned_malloc|malloc|realloc|__rust_alloc|__rdl_alloc|grow|grow_one|grow_amortized|finish_grow|do_reserve_and_handle|reserve|try_allocate_in|with_capacity|with_capacity_in|new|box_new_uninit|push|push_mut|push_back|push_back_mut|extend|extend_from_slice|extend_desugared|spec_extend|append_elements|to_vec|to_owned|to_string|clone|clone_from_ref|clone_from_ref_in|try_clone_from_ref_in|from|into|collect|from_iter|call_once|with_mut|poll|poll_future|poll_inner|[{]closure#0[}]|[{]async_fn#0[}]|[{]async_block#0[}]|write_string_fragment|format_escaped_str|format_escaped_str_contents|serialize|serialize_str|serialize_field|bind|new_task|bind_new_task|spawn|spawn_inner|with_current)$'

# ANCHOR: heap
# What the heap holds per connection once S3's 2000 clients have joined and the server
# is idle: the server runs under heaptrack, is stopped right then, and every allocation
# still live at that moment is grouped by the first frame of its stack that says what it
# is for (allocator plumbing skipped), then divided by the number of connections.
heap() {
  local step=$1 clients=2000 connected=0
  start_server "$step" heaptrack -o "$out/heap"
  taskset -c "$loadgen_core" target/release/loadgen --url "ws://127.0.0.1:$port" \
    --scenario s3 --clients "$clients" --senders 0 $s3_flags --warmup 60s >"$out/heap.txt" 2>&1 &
  helper=$!
  for _ in $(seq 600); do
    connected=$(ss -Htn state established "( sport = :$port )" | wc -l)
    [ "$connected" -ge "$clients" ] && break
    sleep 0.2
  done
  sleep 2 # the last joins' frames go out
  # SIGKILL: a server that shuts down gracefully (step 8) would first close every
  # connection and free what it held, and there would be nothing left to look at.
  stop_server -KILL
  wait "$wrapper" 2>/dev/null || true
  kill "$helper" 2>/dev/null || true
  helper=
  heaptrack_print -f "$out/heap.zst" -t 0 --print-leaks 1 --print-peaks 0 \
    --print-allocators 0 --print-temporary 0 --peak-limit 30 --sub-peak-limit 10 \
    >"$out/heap-live.txt" 2>/dev/null
  awk -v step="$step" -v connections="$connected" '/^total memory leaked/ {
      printf "%s: %d connections, %.0f bytes of live heap per connection; the most:\n",
        step, connections, ($4 + 0) * ($4 ~ /K$/ ? 1e3 : $4 ~ /M$/ ? 1e6 : $4 ~ /G$/ ? 1e9 : 1) / connections
    }' "$out/heap-live.txt"
  awk -v connections="$connected" -v plumbing="$plumbing" "$heap_sites" "$out/heap-live.txt" \
    | sort -rn | head -10
}
# ANCHOR_END: heap

case "$mode" in
  profile) profile "$1" "$2"; exit 0 ;;
  heap) heap "$1"; exit 0 ;;
esac

for run in $(seq "$runs"); do
  for scenario in $scenarios; do
    for step in "$@"; do
      measure "$step" "$scenario" "$run"
    done
  done
done

echo "reports in $out" >&2
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
print_tables "$out"
