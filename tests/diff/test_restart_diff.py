"""State across a restart (SIGTERM, then start again on the same state path): tasks,
workers and batchers are kept (luigid pickles its SimpleTaskState). The replies after the
reload are compared. luigid also forgets the pause flag and run-time resource changes, which
luigid-rs deliberately keeps (README, "Differences from luigid"; tested in
tests/durability/test_restart_keeps.py), so this scenario undoes both before stopping."""
from difftool import run_scenario
from scenarios import T, W, done, fail, gw
from servers import start_pair

CFG = {"scheduler": {"retry_delay": "600"}, "resources": {"cpu": "3"}}


def before(s):
    a, b, c, d = T(s, "A"), T(s, "B"), T(s, "C"), T(s, "D")
    s.w.add_worker(worker=W(s), info=[["host", "h"], ["workers", 2]])
    s.w.add_task_batcher(worker=W(s), task_family=s.p + "Bat", batched_args=["x"])
    s.add(a, W(s), deps=[b], params={"p": "1"}, priority=3, resources={"cpu": 1})
    s.add(b, W(s))
    s.add(c, W(s), status="DISABLED")
    s.add(d, W(s))
    fail(s, d, W(s))
    for i in range(2):
        s.add(T(s, "Bat", str(i)), W(s), family=s.p + "Bat", params={"x": str(i)}, batchable=True)
    gw(s, W(s))
    done(s, b, W(s))
    s.post("pause")
    s.get("update_resource", resource="cpu", amount=7)
    s.get("task_list")
    s.post("unpause")
    s.get("update_resource", resource="cpu", amount=3)


def after(s):
    s.get("task_list")
    s.get("worker_list")
    s.get("is_paused")
    s.get("resource_list")
    s.get("dep_graph", task_id=T(s, "A"))
    s.get("fetch_error", task_id=T(s, "D"))
    g = gw(s, W(s), current=[])
    assert g["task_id"] is None or g["task_id"] or g.get("batch_id")
    s.get("task_list", status="BATCH_RUNNING")


def test_state_survives_restart(tmp_path):
    base = tmp_path / "restart"
    pair = start_pair(base, CFG)
    try:
        run_scenario("restart_before", before, pair, prefix="XRestartX")
    finally:
        pair.stop()
    pair = start_pair(base, CFG)
    try:
        sides = run_scenario("restart_after", after, pair, prefix="XRestartX")
        tl = sides[0].transcript[0]["reply"]
        assert len(tl) == 6  # A, B, C, D and two batchable tasks survived on luigid
        assert sides[0].transcript[2]["reply"] == {"paused": False}
    finally:
        pair.stop()
