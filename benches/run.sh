#!/usr/bin/env bash
# `make bench`: every workload against luigid-rs, the real luigid and the trivial ceiling
# server, in turn, on loopback (server pinned to CPU 0, load generator to CPU 1); prints
# one table and writes the results under bench-results/. See benches/README.md.
#
# Environment: LUIGID_RS_BIN (default target/release/luigid-rs), LUIGID_BIN (default
# .venv/bin/luigid; the real luigid is skipped with a warning when missing),
# BENCH_QUICK=1 (short runs, smaller fills, ~1-2 minutes), BENCH_ONLY="w1 w2" (a subset
# of the workloads), BENCH_SERVERS="luigid-rs trivial" (a subset of the servers),
# BENCH_MICRO=1 (also run the criterion scheduler micro-benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

RS_BIN=${LUIGID_RS_BIN:-target/release/luigid-rs}
PY_BIN=${LUIGID_BIN:-.venv/bin/luigid}
QUICK=${BENCH_QUICK:-0}
SERVERS=${BENCH_SERVERS:-"luigid-rs luigid trivial"}
PORT=${BENCH_PORT:-18082}
ADDR=127.0.0.1:$PORT

if [[ $QUICK == 1 ]]; then
  DUR=2; SLOW_DUR=2; FILL=10000; FILL_NAME=fill_10k; STARTUP_RUNS=3; UPSTREAM_PY=0
else
  DUR=10; SLOW_DUR=5; FILL=100000; FILL_NAME=fill_100k; STARTUP_RUNS=5; UPSTREAM_PY=1
fi

# The bench executables, as cargo built them (their names carry a hash).
. benches/bench_exe.sh  # (the scripts run from the repository root)
LOADGEN=$(bench_exe loadgen)
TRIVIAL=$(bench_exe trivial_server)
[[ -x $LOADGEN && -x $TRIVIAL ]] || { echo "run.sh: bench executables not built" >&2; exit 1; }
[[ -x $RS_BIN ]] || { echo "run.sh: $RS_BIN not built (make build)" >&2; exit 1; }
if [[ ! -x $PY_BIN ]]; then
  echo "run.sh: $PY_BIN missing (make venv); the real luigid is skipped" >&2
  SERVERS=${SERVERS//luigid /}; SERVERS=${SERVERS% luigid}
fi

SRV_PIN=(); GEN_PIN=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  SRV_PIN=(taskset -c 0); GEN_PIN=(taskset -c 1)
fi

mkdir -p bench-results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=bench-results/$STAMP.jsonl
TMP=$(mktemp -d)
: >"$TMP/empty.cfg"
SERVER_PID=

stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
cleanup() { stop_server; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command line that starts server $1 with fresh state in directory $2.
server_cmd() {
  case $1 in
    luigid-rs) echo "$RS_BIN --address 127.0.0.1 --port $PORT --state-path $2/state.json" ;;
    luigid) echo "$PY_BIN --address 127.0.0.1 --port $PORT --state-path $2/state.pickle" ;;
    trivial) echo "$TRIVIAL --address 127.0.0.1 --port $PORT" ;;
  esac
}

start_server() {
  local dir=$TMP/$1.$RANDOM
  mkdir -p "$dir"
  # shellcheck disable=SC2046 # the command line is built from paths without spaces
  LUIGI_CONFIG_PATH=$TMP/empty.cfg RUST_LOG=warn \
    "${SRV_PIN[@]}" $(server_cmd "$1" "$dir") >"$dir/log" 2>&1 &
  SERVER_PID=$!
  "${GEN_PIN[@]}" "$LOADGEN" wait --addr "$ADDR" --limit 60 ||
    { echo "run.sh: $1 did not start; its log:" >&2; tail -n 20 "$dir/log" >&2; exit 1; }
}

wanted() { [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" $1 "* ]]; }
has_server() { [[ " $SERVERS " == *" $1 "* ]]; }

# run NAME WORKLOAD "SERVERS" LOADGEN-ARGS... : one fresh server per server and run.
# A luigid-specific duration can follow as PYDUR=N in the arguments.
run() {
  local name=$1 workload=$2 servers=$3; shift 3
  wanted "$name" || return 0
  local srv
  for srv in $servers; do
    has_server "$srv" || continue
    local args=() a
    for a in "$@"; do
      case $a in
        PYDUR=*) [[ $srv == luigid ]] && args+=(--duration "${a#PYDUR=}") ;;
        *) args+=("$a") ;;
      esac
    done
    start_server "$srv"
    "${GEN_PIN[@]}" "$LOADGEN" run --addr "$ADDR" --pid "$SERVER_PID" --server "$srv" \
      --name "$name" --workload "$workload" --out "$RESULTS" "${args[@]}" >/dev/null ||
      echo "run.sh: $name against $srv failed" >&2
    stop_server
  done
}

echo "bench: results in $RESULTS (quick=$QUICK, servers: $SERVERS)" >&2
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)" >&2

run head head "luigid-rs luigid trivial" --duration "$DUR"
run ping ping "luigid-rs luigid trivial" --duration "$DUR"
run add_task add_task "luigid-rs luigid" --duration "$DUR"
run get_work_10k get_work "luigid-rs luigid" --tasks 10000 --duration "$DUR" PYDUR="$SLOW_DUR"
# Latency at a steady 1k and 100k pending tasks (a fresh task added after each DONE).
run get_work_1k get_work "luigid-rs" --tasks 1000 --keep-pending 1 --duration "$DUR"
run get_work_100k get_work "luigid-rs" --tasks 100000 --keep-pending 1 --duration "$DUR"
run task_list_10k task_list "luigid-rs luigid" --tasks 10000 --duration "$DUR" PYDUR="$SLOW_DUR"
# The same with the state changed before every task_list (one connection, so no reply
# comes from the cache).
run task_list_10k_changing task_list_changing "luigid-rs luigid" --tasks 10000 --conns 1 \
  --duration "$DUR" PYDUR="$SLOW_DUR"
run mix mix "luigid-rs luigid" --duration "$DUR"
run "$FILL_NAME" fill "luigid-rs luigid" --tasks "$FILL"
# Upstream's two performance tests take luigid minutes: quick mode runs them on luigid-rs only.
UPSTREAM_SERVERS="luigid-rs"
[[ $UPSTREAM_PY == 1 ]] && UPSTREAM_SERVERS="luigid-rs luigid"
# Their bulk add loops are independent calls: sent over 4 connections, 32 requests in
# flight on each (HTTP/1.1 pipelining); the get_work rounds stay one request at a time.
run upstream_get_work_speed upstream_get_work_speed "$UPSTREAM_SERVERS" --tasks 200000 \
  --pipeline 32 --pipeline-conns 4
run upstream_quadratic upstream_quadratic "$UPSTREAM_SERVERS" --tasks 10000 \
  --pipeline 32 --pipeline-conns 4

if wanted startup; then
  for srv in $SERVERS; do
    dir=$TMP/startup.$srv; mkdir -p "$dir"
    # shellcheck disable=SC2046
    LUIGI_CONFIG_PATH=$TMP/empty.cfg RUST_LOG=warn "${GEN_PIN[@]}" "$LOADGEN" startup \
      --addr "$ADDR" --server "$srv" --runs "$STARTUP_RUNS" --out "$RESULTS" \
      -- "${SRV_PIN[@]}" $(server_cmd "$srv" "$dir") >/dev/null ||
      echo "run.sh: startup of $srv failed" >&2
  done
fi

if [[ ${BENCH_MICRO:-0} == 1 ]]; then
  BENCH_QUICK=$QUICK cargo bench --bench scheduler 2>&1 | tee "bench-results/$STAMP.micro.txt" | grep -E "^scheduler/|time:"
fi

echo
"$LOADGEN" table "$RESULTS" | tee "bench-results/$STAMP.txt"
# One JSON document as well: machine, settings and every run.
python3 - "$RESULTS" "bench-results/$STAMP.json" "$QUICK" <<'EOF'
import json, os, platform, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
doc = {"machine": {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release()},
       "quick": sys.argv[3] == "1", "runs": rows}
json.dump(doc, open(sys.argv[2], "w"), indent=1)
EOF
echo "bench: wrote bench-results/$STAMP.json" >&2
