#!/usr/bin/env bash
# `make bench-ha` (also part of `make bench`): add_task with the state in local files
# against the state in PostgreSQL, and the failover time of a pair; see benches/ha.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/bench_exe.sh  # (the scripts run from the repository root)
LOADGEN=$(bench_exe loadgen)
RS_BIN=${LUIGID_RS_BIN:-target/release/luigid-rs}
[[ -x $LOADGEN && -x $RS_BIN ]] || { echo "ha.sh: build first (make build, cargo bench --no-run)" >&2; exit 1; }
PY=${PY:-.venv/bin/python}
LOADGEN=$LOADGEN LUIGID_RS_BIN=$RS_BIN "$PY" benches/ha.py
