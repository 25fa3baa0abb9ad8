"""luigid-rs keeps the pause flag and run-time resource changes across a clean restart
(luigid forgets both: they are not in its state pickle); a [resources] value changed in the config between
runs takes the new value."""
import signal

from servers import start_luigid_rs


def test_pause_and_resources_survive_restart(tmp_path):
    cfg = {"resources": {"cpu": "3", "gpu": "1"}}
    srv = start_luigid_rs(tmp_path, config=cfg)
    srv.rpc("pause")
    assert srv.rpc("update_resource", {"resource": "cpu", "amount": 7}) is True
    assert srv.stop(signal.SIGTERM) == 0
    srv = start_luigid_rs(tmp_path, config={"resources": {"cpu": "3", "gpu": "2"}})
    try:
        assert srv.rpc("is_paused") == {"paused": True}
        totals = {r["name"]: r["num_total"] for r in srv.rpc("resource_list")}
        # cpu keeps its run-time value; gpu's configured value changed, so it wins.
        assert totals == {"cpu": 7, "gpu": 2}
    finally:
        srv.stop()
