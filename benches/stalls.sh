#!/usr/bin/env bash
# make bench-stalls: does the loop stall with a large state and a large fleet?
#
# Fills SCALE_TASKS tasks (default 100000; one dependency chain, as bench-scale), then
# runs benches/stalls.rs for STALL_SECONDS (default 20): STALL_WORKERS workers (default
# 10000) sending pings and get_works at STALL_RATE requests/s (default 10000), a
# visualiser polling task_list per status, a search, worker_list and the dep_graph of the
# chain's last task (max_graph_nodes bounds it, as luigid does), and a health check
# (HEAD / every 5 ms). One table row, plus each visualiser call's longest time.
#
#   SCALE_TASKS=1000000 make bench-stalls
set -euo pipefail
cd "$(dirname "$0")/.."
N=${SCALE_TASKS:-100000}
RS_BIN=${LUIGID_RS_BIN:-target/release/luigid-rs}
. benches/bench_exe.sh
LOADGEN=$(bench_exe loadgen)
STALLS=$(bench_exe stalls)
[[ -x $LOADGEN && -x $STALLS && -x $RS_BIN ]] || { echo "stalls.sh: build first (make build; cargo build --release --benches)" >&2; exit 1; }
TMP=$(mktemp -d)
PID=
trap '[[ -n $PID ]] && kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
: > "$TMP/luigi.cfg"
LUIGI_CONFIG_PATH=$TMP/luigi.cfg RUST_LOG=warn "$RS_BIN" --port "$PORT" \
  --state-path "$TMP/state" >> "$TMP/server.log" 2>&1 &
PID=$!
"$LOADGEN" wait --addr "127.0.0.1:$PORT" --limit 60 > /dev/null
"$LOADGEN" run --addr "127.0.0.1:$PORT" --pid "$PID" --server luigid-rs --workload fill \
  --tasks "$N" --duration 3600 > "$TMP/fill.txt" 2>&1
# The chain's last task id (benches/common/workload.rs task_id).
LAST=$(python3 - "$N" <<'PY'
import sys
i = int(sys.argv[1]) - 1
h = 0xcbf29ce484222325
for b in i.to_bytes(8, "little"):
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("FillTask_2026_11_24_%d_%010x" % (i, h & 0xffffffffff))
PY
)
for VIS in 0 1; do
  [[ $VIS == 0 ]] && echo "workers only:" || echo "workers and a visualiser:"
  "$STALLS" --addr "127.0.0.1:$PORT" --workers "${STALL_WORKERS:-10000}" --rate "${STALL_RATE:-10000}" \
    --duration "${STALL_SECONDS:-20}" --search 12345 --graph "$LAST" --visualiser $VIS
done
echo "RSS after the run: $(awk '$1 == "VmRSS:" {print $2 / 1024 " MiB"}' /proc/$PID/status)"
