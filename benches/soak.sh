#!/usr/bin/env bash
# Soak: rivr under steady load for a long time, sampled every minute, to show memory stays flat
# and file descriptors, threads and tasks go back to where they started.
#
#   cargo build --release && benches/soak.sh                  # 60 minutes, 1,000 calls in flight
#   SOAK_MINUTES=2 benches/soak.sh                            # the short version
#
# The load is ../shared/bench/esl-loadgen (FreeSWITCH's side of the outbound socket with its full
# event volume) running the reference flow with MEDIA_MS of media per application, CONCURRENCY
# calls in flight. rivr serves the operations API; tasks come from its /metrics.
# With EVENTS=1, every event of every call also goes to a local nats-server (core NATS; needs
# `nats-server`), and the verdict also asks that none was dropped.
# env: SOAK_MINUTES (60), CONCURRENCY (1000), MEDIA_MS (2000), WORK (a temp dir), BASE_PORT (18401),
# EVENTS.
# Prints a table (minute, RSS MiB, fds, threads, tasks, live calls, calls done) and the verdict:
# RSS over the last half within 5 % (max/min), fds and threads back to their start after the load.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
ROOT="$BENCH_ROOT"
SHARED="$BENCH_SHARED"
RIVR="$(rivr_binary "${1:-}")"
MINUTES="${SOAK_MINUTES:-60}"
CONCURRENCY="${CONCURRENCY:-1000}"
MEDIA_MS="${MEDIA_MS:-2000}"
WORK="${WORK:-${TMPDIR:-/tmp}/rivr-soak}"
PORT="${BASE_PORT:-18401}"
API_PORT=$((PORT + 1))
mkdir -p "$WORK/rivr/scripts"

LG="$(build_loadgen "$WORK")"

cp "$SHARED/flow.rhai" "$WORK/rivr/scripts/main.rhai"
printf 'listen: 127.0.0.1:%s\nscripts: scripts\nmax_calls: 50000\napi:\n  listen: 127.0.0.1:%s\n' \
  "$PORT" "$API_PORT" >"$WORK/rivr/rivr.yaml"
NATS=""
if [ -n "${EVENTS:-}" ]; then
  NATS_PORT=$((PORT + 2))
  printf 'nats:\n  url: nats://127.0.0.1:%s\nevents:\n  nats: {}\n' "$NATS_PORT" >>"$WORK/rivr/rivr.yaml"
  nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
  NATS=$!
  wait_listening "$NATS_PORT"
fi
RIVR_LOG=warn "$RIVR" run -c "$WORK/rivr/rivr.yaml" >"$WORK/rivr.log" 2>&1 &
PID=$!
LGPID=""
cleanup() {
  [ -n "$LGPID" ] && kill "$LGPID" 2>/dev/null
  kill "$PID" 2>/dev/null || true
  [ -z "$NATS" ] || kill "$NATS" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 200); do
  curl -fs "http://127.0.0.1:$API_PORT/ready" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { echo "rivr exited at start; see $WORK/rivr.log" >&2; exit 1; }
  sleep 0.05
done

metric() { curl -fs "http://127.0.0.1:$API_PORT/metrics" | awk -v m="$1" '$1==m{print $2}'; }
calls_done() { curl -fs "http://127.0.0.1:$API_PORT/metrics" | awk '$1 ~ /^rivr_calls_total/{s+=$2} END{print s+0}'; }
sample() { # label -> one tab-separated row
  local rss fds threads
  rss=$(awk '$1=="VmRSS:"{printf "%.1f", $2/1024}' "/proc/$PID/status")
  threads=$(awk '$1=="Threads:"{print $2}' "/proc/$PID/status")
  fds=$(ls "/proc/$PID/fd" | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$rss" "$fds" "$threads" \
    "$(metric rivr_runtime_tasks_alive)" "$(metric rivr_calls_active)" "$(calls_done)"
}

SAMPLES="$WORK/samples.tsv"
printf 'minute\trss_mib\tfds\tthreads\ttasks\tlive\tcalls_done\n' >"$SAMPLES"
sample start >>"$SAMPLES"
"$LG" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" --media-ms "$MEDIA_MS" \
  --ramp-ms 5000 --duration-s $((MINUTES * 60)) --call-timeout-s 120 --threads 1 \
  --label soak >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" &
LGPID=$!
for minute in $(seq 1 "$MINUTES"); do
  for _ in $(seq 1 60); do kill -0 "$LGPID" 2>/dev/null || break; sleep 1; done
  sample "$minute" >>"$SAMPLES"
  echo "  $(tail -1 "$SAMPLES")" >&2
done
wait "$LGPID" || true
LGPID=""
sleep 15
sample after >>"$SAMPLES"
EVENT_COUNTS="sent=0 dropped=0 failed=0"
if [ -n "$NATS" ]; then
  EVENT_COUNTS=$(curl -fs "http://127.0.0.1:$API_PORT/metrics" |
    awk -F'[{}" ]+' '/^rivr_events_total/{for(i=2;i<NF;i++) if($i=="result=") r=$(i+1); c[r]=$NF} END{printf "sent=%d dropped=%d failed=%d", c["sent"], c["dropped"], c["failed"]}')
fi

echo
echo "load: $(cat "$WORK/loadgen.out")"
EVENT_COUNTS="$EVENT_COUNTS" EVENTS="${EVENTS:-}" python3 - "$SAMPLES" "$MINUTES" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
minutes = int(sys.argv[2])
print("| minute | RSS MiB | fds | threads | tasks | live calls | calls done |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
start, after = rows[0], rows[-1]
# Samples taken while calls were up (the last minute's may fall after the load ended).
loaded = [r for r in rows[1:-1] if int(r[5] or 0) > 0]
half = [float(r[1]) for r in loaded[len(loaded) // 2:]] or [0.0]
spread = (max(half) / min(half) - 1) * 100 if min(half) > 0 else float("nan")
print()
print(f"RSS over the last {len(half)} minutes: {min(half):.1f}–{max(half):.1f} MiB, spread {spread:.1f} % (limit 5 %)")
print(f"fds: {start[2]} at start, {after[2]} after the load; threads: {start[3]} at start, {after[3]} after; "
      f"tasks: {start[4]} at start, {after[4]} after")
ok = spread <= 5 and after[2] == start[2] and after[3] == start[3]
import os
if os.environ.get("EVENTS"):
    counts = dict(kv.split("=") for kv in os.environ["EVENT_COUNTS"].split())
    print(f"events: {counts['sent']} sent, {counts['dropped']} dropped, {counts['failed']} failed")
    ok = ok and int(counts["sent"]) > 0 and counts["dropped"] == "0" and counts["failed"] == "0"
print("verdict:", "flat and back to start" if ok else "NOT flat or not back to start")
sys.exit(0 if ok else 1)
PY
