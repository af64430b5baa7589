# What benches/overhead.sh and benches/soak.sh share: sourced, not run.
#
#   . "$HERE/common.sh"
#   LG=$(build_loadgen "$WORK")          # ../shared/bench/esl-loadgen, built into $WORK/target
#   wait_listening PORT                  # until something listens on 127.0.0.1:PORT (10 s)
#   rivr_binary "${1:-}"                 # the rivr to measure, or exit 2 saying how to build it

# The directory of this file's repository, and the shared bench tools beside it.
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_SHARED="$BENCH_ROOT/../shared/bench"

rivr_binary() {
  local rivr
  rivr="$(realpath "${1:-$BENCH_ROOT/target/release/rivr}")"
  [ -x "$rivr" ] || { echo "no rivr binary at $rivr (cargo build --release first)" >&2; exit 2; }
  echo "$rivr"
}

build_loadgen() {
  echo "building esl-loadgen into $1/target" >&2
  CARGO_TARGET_DIR="$1/target" cargo build --release -q --locked --manifest-path "$BENCH_SHARED/esl-loadgen/Cargo.toml"
  echo "$1/target/release/esl-loadgen"
}

wait_listening() {
  for _ in $(seq 1 200); do
    ss -Hltn "sport = :$1" | grep -q . && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1 after 10 s" >&2
  return 1
}
