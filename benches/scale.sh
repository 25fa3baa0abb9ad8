#!/usr/bin/env bash
# make bench-scale: a large state through a stop and a restart.
#
# Fills SCALE_TASKS tasks (default 100000; two parameters, a one-dependency chain, as the
# load generator's `fill` workload sends them in luigid's wire format over 32 keep-alive
# connections), then reports: RSS before the stop, the time SIGTERM takes, the state on
# disk (snapshot and journals), the time from start to the first answered request
# (snapshot loaded, journal replayed), and RSS and peak RSS after the restart. One table
# row.
#
#   SCALE_TASKS=1000000 make bench-scale
set -euo pipefail
cd "$(dirname "$0")/.."
N=${SCALE_TASKS:-100000}
RS_BIN=${LUIGID_RS_BIN:-target/release/luigid-rs}
. benches/bench_exe.sh  # (the scripts run from the repository root)
LOADGEN=$(bench_exe loadgen)
[[ -x $LOADGEN && -x $RS_BIN ]] || { echo "scale.sh: build first (make build; cargo build --release --benches)" >&2; exit 1; }

TMP=$(mktemp -d)
PID=
trap '[[ -n $PID ]] && kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
: > "$TMP/luigi.cfg"
start() {
  LUIGI_CONFIG_PATH=$TMP/luigi.cfg RUST_LOG=warn "$RS_BIN" --port "$PORT" \
    --state-path "$TMP/state.json" >> "$TMP/server.log" 2>&1 &
  PID=$!
}
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

start
"$LOADGEN" wait --addr "127.0.0.1:$PORT" --limit 60 > /dev/null
"$LOADGEN" run --addr "127.0.0.1:$PORT" --pid "$PID" --server luigid-rs --workload fill \
  --tasks "$N" --duration 3600 > "$TMP/fill.txt" 2>&1
RSS_BEFORE=$(kib "$PID" VmRSS)
T0=$(now); kill -TERM "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.005; done; T1=$(now)
SNAP=$(cat "$TMP"/state.json "$TMP"/state.json.journal.* 2>/dev/null | wc -c)
T2=$(now); start
"$LOADGEN" wait --addr "127.0.0.1:$PORT" --limit 3600 > /dev/null; T3=$(now)
RSS_AFTER=$(kib "$PID" VmRSS); PEAK=$(kib "$PID" VmHWM)
python3 - "$N" "$RSS_BEFORE" "$T0" "$T1" "$SNAP" "$T2" "$T3" "$RSS_AFTER" "$PEAK" <<'EOF'
import sys
n, rb, t0, t1, snap, t2, t3, ra, peak = sys.argv[1:]
rb, ra, peak = int(rb) / 1024, int(ra) / 1024, int(peak) / 1024
print("| tasks | RSS before stop | SIGTERM | state on disk | restart to first reply | RSS after restart | ratio | peak RSS |")
print("|---|---|---|---|---|---|---|---|")
print("| %s | %.1f MiB | %.2f s | %.1f MB | %.2f s | %.1f MiB | %.2fx | %.1f MiB |" % (
    n, rb, float(t1) - float(t0), int(snap) / 1e6, float(t3) - float(t2), ra, ra / rb, peak))
EOF
