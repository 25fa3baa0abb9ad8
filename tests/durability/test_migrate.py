"""Migration from luigid: luigid-rs started on the state pickle the real luigid wrote (at
SIGTERM) imports it natively, keeps the original bytes aside, and serves the same tasks,
errors, workers and batchers; its own format is used from then on."""
import glob
import signal

from servers import start_luigid, start_luigid_rs

STATUSES = ["PENDING", "RUNNING", "DONE", "FAILED", "DISABLED"]
TIMES = {"time_running", "start_time", "last_updated"}


def norm(tasks):
    return {tid: {k: v for k, v in t.items() if k not in TIMES} for tid, t in tasks.items()}


def test_luigid_pickle_imports_into_luigid_rs(tmp_path):
    cfg = {"scheduler": {"retry_delay": "100000", "worker_disconnect_delay": "100000",
                         "remove_delay": "100000", "retry_count": "2"}}
    py = start_luigid(tmp_path / "py", config=cfg)
    s = py.remote()
    try:
        s.add_worker(worker="w1", info={"host": "h1", "pid": 7})
        s.add_task(worker="w1", task_id="A(x=1)", family="A", params={"x": "1"},
                   deps=["B()", "C()"], priority=5, resources={"r": 1})
        s.add_task(worker="w1", task_id="B()", family="B", status="DONE")
        s.add_task(worker="w1", task_id="C()", family="C", status="FAILED", expl="Traceback: boom")
        s.add_task(worker="w1", task_id="D()", family="D", status="FAILED", expl="e1")
        s.add_task(worker="w1", task_id="D()", family="D", status="FAILED", expl="e2")
        s.add_task(worker="w1", task_id="R()", family="R", priority=9)
        assert s.get_work(worker="w1", host="h1")["task_id"] == "R()"
        s.set_task_status_message(task_id="R()", status_message="half way")
        s.add_task(worker="w1", task_id="E(n=1)", family="E", params={"n": "1"}, batchable=True)
        s.add_task_batcher(worker="w1", task_family="E", batched_args=["n"], max_batch_size=3)
        before = {st: norm(py.rpc("task_list", {"status": st, "upstream_status": ""}))
                  for st in STATUSES}
        errors = {t: py.rpc("fetch_error", {"task_id": t}) for t in ("C()", "D()")}
    finally:
        assert py.stop(signal.SIGTERM) == 0
    pickle = tmp_path / "py" / "state.pickle"
    assert pickle.exists()
    data = pickle.read_bytes()
    state = tmp_path / "rs" / "state.json"
    state.parent.mkdir()
    state.write_bytes(data)
    rs = start_luigid_rs(tmp_path / "rs", config=cfg)
    try:
        after = {st: norm(rs.rpc("task_list", {"status": st, "upstream_status": ""}))
                 for st in STATUSES}
        assert after == before
        for t, err in errors.items():
            assert rs.rpc("fetch_error", {"task_id": t}) == err
        workers = rs.rpc("worker_list")
        assert [w["name"] for w in workers] == ["w1"]
        assert workers[0]["host"] == "h1"
        # The batcher came along: the batchable family is still batched for w1.
        rs.rpc("add_task", {"worker": "w1", "task_id": "E(n=2)", "family": "E",
                            "params": {"n": "2"}, "batchable": True})
        work = rs.rpc("get_work", {"worker": "w1", "host": "h1", "current_tasks": ["R()"]})
        assert sorted(work.get("batch_task_ids") or []) == ["E(n=1)", "E(n=2)"], work
        final = {st: norm(rs.rpc("task_list", {"status": st, "upstream_status": ""}))
                 for st in STATUSES}
    finally:
        rs.stop()
    # The original bytes were kept aside; the state file is now luigid-rs's own format,
    # and a restart serves the same tasks from it.
    aside = glob.glob(str(state) + ".luigid-*")
    assert len(aside) == 1
    with open(aside[0], "rb") as f:
        assert f.read() == data
    assert state.read_bytes().startswith(b"luigid-rs-state 3\n")
    rs = start_luigid_rs(tmp_path / "rs", config=cfg)
    try:
        again = {st: norm(rs.rpc("task_list", {"status": st, "upstream_status": ""}))
                 for st in STATUSES}
        assert again == final
    finally:
        rs.stop()
