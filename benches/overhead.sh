#!/usr/bin/env bash
# What a feature costs the call path, as interleaved pairs under ../shared/bench/esl-loadgen at
# 200 concurrent calls with FreeSWITCH's full event volume:
#   WHAT=api (default): rivr with `api.enabled: false` ("off") against rivr with the API on,
#     /metrics scraped every second (ten times Prometheus' default) and the live view's event
#     stream open ("on"); both log at warn.
#   WHAT=log: the API off, `RIVR_LOG=warn` ("off") against `RIVR_LOG=info` ("on"), the log to a
#     file.
#   WHAT=events: the API off, no events ("off") against every event of every call (call.started,
#     one call.verb per verb, call.ended) published to a local nats-server ("on"; core NATS, or
#     JetStream with JETSTREAM=1), with a subscriber reading them all; prints the events/s the
#     node sustained. Needs `nats-server` (Debian: apt install nats-server). With SUBSCRIBER=0
#     no consumer shares the machine (as in production, where consumers run elsewhere): the
#     events are counted by nats-server's own monitoring (`in_msgs` of /varz) instead.
#
#   cargo build --release && benches/overhead.sh
#   WHAT=log benches/overhead.sh
#
# env: WHAT, RUNS (3), CALLS (10000), WORK (a temp dir), BASE_PORT (18501), JETSTREAM,
# SUBSCRIBER (1).
# Prints calls/s, turnaround p50/p99 and CPU per call for each, and the on/off ratios.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
ROOT="$BENCH_ROOT"
SHARED="$BENCH_SHARED"
RIVR="$(rivr_binary "${1:-}")"
WHAT="${WHAT:-api}"
RUNS="${RUNS:-3}"
CALLS="${CALLS:-10000}"
WORK="${WORK:-${TMPDIR:-/tmp}/rivr-overhead}"
PORT="${BASE_PORT:-18501}"
API_PORT=$((PORT + 1))
CLK_TCK="$(getconf CLK_TCK)"
mkdir -p "$WORK/rivr/scripts"

LG="$(build_loadgen "$WORK")"
cp "$SHARED/flow.rhai" "$WORK/rivr/scripts/main.rhai"
printf 'listen: 127.0.0.1:%s\nscripts: scripts\nmax_calls: 50000\napi:\n  enabled: false\n' "$PORT" >"$WORK/rivr/off.yaml"
printf 'listen: 127.0.0.1:%s\nscripts: scripts\nmax_calls: 50000\napi:\n  listen: 127.0.0.1:%s\n' \
  "$PORT" "$API_PORT" >"$WORK/rivr/on.yaml"
NATS_PORT=$((PORT + 2))
NATS=""
if [ "$WHAT" = events ]; then
  js=false; [ -n "${JETSTREAM:-}" ] && js=true
  printf 'listen: 127.0.0.1:%s\nscripts: scripts\nmax_calls: 50000\napi:\n  enabled: false\nnats:\n  url: nats://127.0.0.1:%s\nevents:\n  nats:\n    jetstream: %s\n    queue: 100000\n' \
    "$PORT" "$NATS_PORT" "$js" >"$WORK/rivr/on.yaml"
  # The subscriber is examples/nats_count.rs, on the same NATS client as rivr.
  (cd "$ROOT" && cargo build --release -q --example nats_count)
  COUNTER="$ROOT/target/release/examples/nats_count"
  rm -rf "$WORK/nats"; mkdir -p "$WORK/nats"
  NATS_MONITOR=$((PORT + 3))
  nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR" -js -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
  NATS=$!
  wait_listening "$NATS_PORT"
fi

PID=""; SCRAPER=""; STREAM=""
finish() { stop; [ -z "$NATS" ] || kill "$NATS" 2>/dev/null || true; }
stop() {
  for p in $SCRAPER $STREAM; do kill "$p" 2>/dev/null || true; done
  SCRAPER=""; STREAM=""
  [ -n "$PID" ] || return 0
  kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""
}
trap finish EXIT

RAW="$WORK/raw.tsv"
printf 'mode\trun\tcpu_s\tsummary\n' >"$RAW"
for run in $(seq 1 "$RUNS"); do
  for mode in off on; do
    if [ "$WHAT" = log ]; then
      level=warn; [ "$mode" = on ] && level=info
      RIVR_LOG=$level "$RIVR" run -c "$WORK/rivr/off.yaml" >>"$WORK/rivr-$mode.log" 2>&1 &
    elif [ "$WHAT" = events ] && [ "$mode" = off ]; then
      RIVR_LOG=warn "$RIVR" run -c "$WORK/rivr/off.yaml" >>"$WORK/rivr.log" 2>&1 &
    else
      RIVR_LOG=warn "$RIVR" run -c "$WORK/rivr/$mode.yaml" >>"$WORK/rivr.log" 2>&1 &
    fi
    PID=$!
    wait_listening "$PORT" || true
    if [ "$mode" = on ] && [ "$WHAT" = api ]; then
      ( while true; do curl -fs "http://127.0.0.1:$API_PORT/metrics" >/dev/null; sleep 1; done ) &
      SCRAPER=$!
      curl -Ns "http://127.0.0.1:$API_PORT/events" >/dev/null &
      STREAM=$!
    fi
    if [ "$mode" = on ] && [ "$WHAT" = events ] && [ "${SUBSCRIBER:-1}" != 0 ]; then
      # A subscriber reading every event, as a consumer would; it counts them for events/s.
      "$COUNTER" "127.0.0.1:$NATS_PORT" "rivr.events.>" >"$WORK/events-$run.count" &
      STREAM=$!
      sleep 0.3
    fi
    if [ "$mode" = on ] && [ "$WHAT" = events ] && [ "${SUBSCRIBER:-1}" = 0 ]; then
      in_before=$(curl -fs "http://127.0.0.1:$NATS_MONITOR/varz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_msgs"])')
    fi
    "$LG" --target "127.0.0.1:$PORT" --calls 500 --concurrency 50 >/dev/null 2>&1 || true   # warm-up
    c0=$(awk '{print $14+$15}' "/proc/$PID/stat")
    line=$("$LG" --target "127.0.0.1:$PORT" --calls "$CALLS" --concurrency 200 --duration-s 30 --label "$mode/$run")
    c1=$(awk '{print $14+$15}' "/proc/$PID/stat")
    if [ "$mode" = on ] && [ "$WHAT" = events ] && [ "${SUBSCRIBER:-1}" = 0 ]; then
      sleep 1
      in_after=$(curl -fs "http://127.0.0.1:$NATS_MONITOR/varz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_msgs"])')
      echo $((in_after - in_before)) >"$WORK/events-$run.count"
    fi
    if [ "$mode" = on ] && [ "$WHAT" = events ]; then
      sleep 1
      kill -INT "$STREAM" 2>/dev/null || true; wait "$STREAM" 2>/dev/null || true; STREAM=""
      secs=$(echo "$line" | tr ' ' '\n' | awk -F= '$1=="wall_s"{print $2}')
      echo "  events run $run: $(cat "$WORK/events-$run.count") received in a ${secs:-?} s run" >&2
    fi
    stop
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
    printf '%s\t%s\t%s\t%s\n' "$mode" "$run" "$cpu" "$line" >>"$RAW"
    echo "  $mode run $run: cpu ${cpu}s $(echo "$line" | cut -c1-90)" >&2
  done
done

python3 - "$RAW" "$WHAT" <<'PY'
import sys, statistics as st
rows = {}
for i, line in enumerate(open(sys.argv[1])):
    if i == 0: continue
    mode, run, cpu, summary = line.rstrip("\n").split("\t", 3)
    kv = dict(p.split("=", 1) for p in summary.split() if "=" in p)
    rows.setdefault(mode, []).append((float(cpu), kv))
def fig(mode):
    r = rows[mode]
    return {
        "cps": st.median(float(k["cps"]) for _, k in r),
        "p50": st.median(float(k["p50_us"]) for _, k in r),
        "p99": st.median(float(k["p99_us"]) for _, k in r),
        "cpu": st.median(c * 1000 / max(1, int(k["ok"])) for c, k in r),
        "ok": f"{sum(int(k['ok']) for _, k in r)}/{sum(int(k['calls']) for _, k in r)}",
    }
print(f"| {sys.argv[2]} | ok/calls | calls/s | p50 µs | p99 µs | CPU ms/call |")
print("|---|---|---|---|---|---|")
f = {m: fig(m) for m in ("off", "on")}
for m in ("off", "on"):
    x = f[m]
    print(f"| {m} | {x['ok']} | {x['cps']:.0f} | {x['p50']:.0f} | {x['p99']:.0f} | {x['cpu']:.3f} |")
on, off = f["on"], f["off"]
print(f"\non / off (medians): calls/s {on['cps']/off['cps']:.2f}x, p99 {on['p99']/off['p99']:.2f}x, CPU/call {on['cpu']/off['cpu']:.2f}x")
PY
