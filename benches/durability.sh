#!/usr/bin/env bash
# Durability benchmark: add_task cost with [luigid_rs] durability = always,
# everysec and off side by side, and the longest stall of the loop while snapshots of a
# 100,000-task state are written (forked child vs. on the loop thread).
# Run by `make bench-durability`; BENCH_QUICK=1 uses 20,000 tasks and 2 s runs.
set -euo pipefail
cd "$(dirname "$0")/.."

RS_BIN=${LUIGID_RS_BIN:-target/release/luigid-rs}
PORT=${BENCH_PORT:-18092}
ADDR=127.0.0.1:$PORT
if [[ ${BENCH_QUICK:-0} == 1 ]]; then DUR=2; TASKS=20000; else DUR=8; TASKS=100000; fi

. benches/bench_exe.sh  # (the scripts run from the repository root)
LOADGEN=$(bench_exe loadgen)
[[ -x $LOADGEN && -x $RS_BIN ]] || { echo "durability.sh: build first (make build, cargo bench --no-run)" >&2; exit 1; }

SRV_PIN=(); GEN_PIN=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  SRV_PIN=(taskset -c 0); GEN_PIN=(taskset -c 1)
fi
mkdir -p bench-results
OUT=bench-results/durability-$(date -u +%Y%m%dT%H%M%SZ).jsonl
TMP=$(mktemp -d)
PID=
stop() { [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$TMP"' EXIT

# start NAME CONFIG-LINES...: a fresh luigid-rs with a [luigid_rs] section.
start() {
  local dir=$TMP/$1; mkdir -p "$dir"; shift
  printf '[luigid_rs]\n' >"$dir/luigi.cfg"
  printf '%s\n' "$@" >>"$dir/luigi.cfg"
  LUIGI_CONFIG_PATH=$dir/luigi.cfg RUST_LOG=warn "${SRV_PIN[@]}" \
    "$RS_BIN" --address 127.0.0.1 --port "$PORT" --state-path "$dir/state.json" >"$dir/log" 2>&1 &
  PID=$!
  "${GEN_PIN[@]}" "$LOADGEN" wait --addr "$ADDR" --limit 60 >/dev/null
}

load() { # NAME WORKLOAD ARGS...
  local name=$1 workload=$2; shift 2
  "${GEN_PIN[@]}" "$LOADGEN" run --addr "$ADDR" --pid "$PID" --server luigid-rs \
    --name "$name" --workload "$workload" --out "$OUT" "$@" >/dev/null
}

for mode in off everysec always; do
  start "$mode" "durability = $mode" "snapshot_interval = 100000"
  load "add_task_$mode" add_task --duration "$DUR"
  stop
done

# Snapshot stalls: fill, then keep adding tasks with a snapshot due every second, so every
# second a snapshot of the whole (>= TASKS) state is written while requests flow.
for fork in true false; do
  start "fork_$fork" "durability = everysec" "snapshot_interval = 1" "fork_snapshots = $fork"
  load "fill_fork_$fork" fill --tasks "$TASKS"
  load "snapshot_stall_fork_$fork" add_task --duration "$DUR"
  ls -l "$TMP/fork_$fork/state.json" >&2 || true
  stop
done

python3 - "$OUT" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[r.get("name") or r["workload"]] = r
print("durability: add_task, %s" % sys.argv[1])
print("%-28s %10s %10s %10s %10s" % ("run", "req/s", "cpu us/req", "p99 us", "max us"))
for name, r in rows.items():
    if name.startswith("fill"):
        continue
    lat = r["lat_us"]
    print("%-28s %10.0f %10.1f %10d %10d" % (name, r["req_per_s"], r["cpu_us_per_req"], lat["p99"], lat["max"]))
off = rows.get("add_task_off")
for mode in ("everysec", "always"):
    r = rows.get("add_task_" + mode)
    if off and r:
        print("throughput %s / off: %.2f" % (mode, r["req_per_s"] / off["req_per_s"]))
EOF
