"""Task history through the running servers. A real Luigi pipeline (hist_pipeline.py, run
with `python -m luigi ... --scheduler-url`) against luigid-rs and against the real luigid
(SQLAlchemy < 2, see tests/requirements.txt) leaves the same rows; each server opens and
extends the other's database; luigid-rs's pages show the rows, escaped, as HTML and JSON;
a database that disappears mid-run is counted, not fatal; retention trims old events.
"""
import datetime
import json
import os
import shutil
import socket
import sqlite3
import urllib.parse

import pytest

pytest.importorskip("luigi")

from histlib import (HISTORY_CFG, db_records, get, get_json, luigid_has_working_history, metric,  # noqa: E402
                     poll, rs_binary, run_pipeline, schema, shape, start_luigid, start_luigid_rs)

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _binary():
    if not os.path.exists(rs_binary()):
        pytest.fail("luigid-rs binary not built: %s (make build)" % rs_binary())


def need_reference():
    if not luigid_has_working_history():
        pytest.skip("the reference luigid's history needs sqlalchemy<2 (tests/requirements.txt)")


def run_rs(workdir, db=None):
    """One pipeline run against a fresh luigid-rs; history in `db` (--history-db) or
    hist.db in the workdir (luigi.cfg)."""
    if db:
        srv = start_luigid_rs(workdir, extra_args=["--history-db", str(db)])
    else:
        srv = start_luigid_rs(workdir, HISTORY_CFG)
    try:
        run_pipeline(srv, workdir)
    finally:
        srv.stop()
    return db or os.path.join(str(workdir), "hist.db")


def run_py(workdir, db=None):
    cfg = HISTORY_CFG if not db else {
        "scheduler": {"record_task_history": "true"},
        "task_history": {"db_connection": "sqlite:///" + str(db)},
    }
    srv = start_luigid(workdir, cfg)
    try:
        run_pipeline(srv, workdir)
    finally:
        srv.stop()
    return db or os.path.join(str(workdir), "hist.db")


def _p(**kw):
    kw["out_dir"] = "out"
    return json.dumps(kw, sort_keys=True)


EXPECTED = {
    ("HistAll", _p()): (["PENDING"], False),
    ("HistRoot", _p()): (["PENDING", "RUNNING", "DONE"], True),
    ("HistLeaf", _p(label=SCRIPT)): (["PENDING", "RUNNING", "DONE"], True),
    ("HistLeaf", _p(label="plain")): (["PENDING", "RUNNING", "DONE"], True),
    ("HistFails", _p(attempt="1")): (["PENDING", "RUNNING", "FAILED"], True),
}


def global_sequence(records):
    """All events of a run in the order they were written: (family, event). Parameters
    are left out: luigid hands out the two leaves (equal priority, created by one
    add_task) in an order that varies from run to run (Python's hash seed)."""
    evs = [(eid, r["name"], e) for r in records for e, _, eid in r["events"]]
    return [x[1:] for x in sorted(evs)]


def check_moments(records):
    host = socket.gethostname()
    now = datetime.datetime.now()
    for r in records:
        stamps = [datetime.datetime.fromisoformat(ts) for _, ts, _ in r["events"]]
        assert stamps == sorted(stamps), r
        for s in stamps:
            # local naive time, as luigid's datetime.now()
            assert abs((s - now).total_seconds()) < 300, (s, now)
        if any(e[0] == "RUNNING" for e in r["events"]):
            assert r["host"] == host, r


def test_pipeline_rows_match_luigid(tmp_path):
    need_reference()
    ours = db_records(run_rs(tmp_path / "rs"))
    theirs = db_records(run_py(tmp_path / "py"))
    assert shape(theirs) == EXPECTED, "the reference changed: %r" % shape(theirs)
    assert shape(ours) == shape(theirs)
    check_moments(ours)
    check_moments(theirs)
    # the same moments relative to each other: the run's events in the same order
    assert global_sequence(ours) == global_sequence(theirs)
    # the same Luigi task ids
    assert sorted(r["task_id"] for r in ours) == sorted(r["task_id"] for r in theirs)
    # and the same tables, byte for byte in sqlite_master
    assert schema(tmp_path / "rs" / "hist.db") == schema(tmp_path / "py" / "hist.db")


def test_databases_open_and_extend_both_ways(tmp_path):
    need_reference()
    # A: created by luigid, extended by luigid-rs, then by luigid again.
    db_a = tmp_path / "a.db"
    run_py(tmp_path / "a1", db_a)
    first = db_records(db_a)
    run_rs(tmp_path / "a2", db_a)
    second = db_records(db_a)
    assert second[:len(first)] == first, "luigid-rs changed luigid's rows"
    added = second[len(first):]
    assert shape(added) == EXPECTED
    assert min(r["id"] for r in added) > max(r["id"] for r in first)
    # luigid-rs's pages read luigid's rows and its own
    srv = start_luigid_rs(tmp_path / "a-pages", extra_args=["--history-db", str(db_a)])
    try:
        runs = get_json(srv, "/history/by_name/HistRoot")["records"]
        assert sorted(r["id"] for r in runs) == sorted(r["id"] for r in second if r["name"] == "HistRoot")
        assert all(r["status"] == "DONE" for r in runs)
    finally:
        srv.stop()
    run_py(tmp_path / "a3", db_a)
    third = db_records(db_a)
    assert third[:len(second)] == second, "luigid changed luigid-rs's rows"
    assert shape(third[len(second):]) == EXPECTED

    # B: created by luigid-rs, extended by luigid.
    db_b = tmp_path / "b.db"
    run_rs(tmp_path / "b1", db_b)
    first = db_records(db_b)
    run_py(tmp_path / "b2", db_b)
    second = db_records(db_b)
    assert second[:len(first)] == first
    assert shape(second[len(first):]) == EXPECTED
    assert schema(db_a) == schema(db_b)


def test_pages_show_the_pipeline_escaped(tmp_path):
    srv = start_luigid_rs(tmp_path / "rs", HISTORY_CFG)
    try:
        run_pipeline(srv, tmp_path / "rs")
        recs = get_json(srv, "/history")["records"]
        by_name = {r["name"]: r for r in recs}
        assert set(by_name) == {"HistAll", "HistLeaf", "HistRoot", "HistFails"}
        assert by_name["HistRoot"]["status"] == "DONE"
        assert by_name["HistFails"]["status"] == "FAILED"
        assert by_name["HistAll"]["status"] == "PENDING"
        assert by_name["HistRoot"]["host"] == socket.gethostname()
        assert by_name["HistAll"]["host"] is None
        labels = {r["parameters"]["label"] for r in recs if r["name"] == "HistLeaf"}
        assert labels == {SCRIPT, "plain"}

        by_params = "/history/by_params/HistLeaf?data=" + urllib.parse.quote(json.dumps({"label": SCRIPT}))
        for page in ["/history", "/history/by_name/HistLeaf", "/tasklist", "/tasklist/HistLeaf", by_params,
                     "/history/by_id/%d" % by_name["HistRoot"]["id"]]:
            status, ctype, body = get(srv, page)
            assert status == 200, (page, body)
            assert ctype.startswith("text/html")
            assert "<script" not in body, page
        assert "&lt;script&gt;" in get(srv, by_params)[2]
        # JSON variants: Accept header or ?format=json
        tasklist = {t["name"]: t["records"] for t in get_json(srv, "/tasklist")["tasks"]}
        assert tasklist == {"HistAll": 1, "HistLeaf": 2, "HistRoot": 1, "HistFails": 1}
        runs = get_json(srv, "/tasklist/HistLeaf")["runs"]
        assert len(runs) == 2, runs
        plain = get_json(srv, "/history/by_params/HistLeaf?data=" + urllib.parse.quote(json.dumps({"label": "plain"})))
        assert [r["parameters"]["label"] for r in plain["records"]] == ["plain"]
        assert plain["records"][0]["parameters"]["out_dir"] == "out"
        status, ctype, body = get(srv, "/history?format=json")
        assert status == 200 and ctype.startswith("application/json")
        assert {r["id"] for r in json.loads(body)["records"]} == {r["id"] for r in recs}
        rid = by_name["HistRoot"]["id"]
        detail = get_json(srv, "/history/by_id/%d" % rid)
        assert [e["status"] for e in detail["events"]] == ["DONE", "RUNNING", "PENDING"]
        by_tid = get_json(srv, "/history/by_task_id/" + urllib.parse.quote(detail["task_id"]))
        assert by_tid["id"] == rid
        assert get(srv, "/history/by_id/999999")[0] == 404
    finally:
        srv.stop()


def test_paging_and_markup_in_names(tmp_path):
    srv = start_luigid_rs(tmp_path / "rs", extra_args=["--history-db", str(tmp_path / "h.db")])
    evil = '"><img src=x onerror=alert(1)>'
    try:
        for i in range(130):
            srv.rpc("add_task", {"worker": "w", "task_id": "P_%d" % i, "family": "P", "status": "PENDING",
                                 "params": {"i": str(i)}})
        srv.rpc("add_task", {"worker": "w", "task_id": "E_1", "family": evil, "status": "PENDING",
                             "params": {evil: SCRIPT}})
        p1 = get_json(srv, "/history/by_name/P")
        assert (p1["page"], p1["pages"], p1["total"], len(p1["records"])) == (1, 2, 130, 100)
        p2 = get_json(srv, "/history/by_name/P?page=2")
        assert len(p2["records"]) == 30
        ids = [r["id"] for r in p1["records"] + p2["records"]]
        assert len(set(ids)) == 130
        status, _, body = get(srv, "/history/by_name/P?page=2")
        assert status == 200 and "page=1" in body
        assert get(srv, "/history/by_name/P?page=x")[0] == 400
        quoted = urllib.parse.quote(evil, safe="")
        for page in ["/tasklist", "/history", "/history/by_name/" + quoted, "/tasklist/" + quoted]:
            status, _, body = get(srv, page)
            assert status == 200, page
            assert "<img" not in body and "<script" not in body, (page, body)
        rec = get_json(srv, "/history/by_name/" + quoted)["records"]
        assert rec[0]["name"] == evil and rec[0]["parameters"] == {evil: SCRIPT}
    finally:
        srv.stop()


def test_database_deleted_mid_run_is_counted_not_fatal(tmp_path):
    dbdir = tmp_path / "db"
    dbdir.mkdir()
    srv = start_luigid_rs(tmp_path / "rs", extra_args=["--history-db", str(dbdir / "h.db")])
    try:
        def add(tid, status="PENDING"):
            srv.rpc("add_task", {"worker": "w", "task_id": tid, "family": "D", "status": status, "params": {}})
        add("D_1")
        assert len(get_json(srv, "/history")["records"]) == 1
        assert metric(srv, "luigid_history_write_errors_total") == 0.0
        shutil.rmtree(dbdir)
        add("D_2")
        work = srv.rpc("get_work", {"worker": "w", "host": "h"})
        assert work["task_id"] in ("D_1", "D_2")
        add(work["task_id"], "DONE")
        poll(lambda: (metric(srv, "luigid_history_write_errors_total") or 0) >= 1, timeout=60.0,
             what="a counted write error")
        assert srv.proc.poll() is None
        assert srv.rpc("task_list", {"status": "DONE"}).keys() == {work["task_id"]}
        # the directory comes back: recording resumes in a new file there
        dbdir.mkdir()
        add("D_3")
        # Generous bound: on a loaded machine the writer's next batch can take a while.
        poll(lambda: [r["task_id"] for r in get_json(srv, "/history")["records"]] == ["D_3"],
             timeout=60.0, what="D_3 in the new database")
    finally:
        srv.stop()
    log = open(tmp_path / "rs" / "server.log").read()
    assert "deleted or replaced" in log or "database file is gone" in log, log


def test_retention_trims_old_events_at_start(tmp_path):
    db = tmp_path / "h.db"
    srv = start_luigid_rs(tmp_path / "rs1", extra_args=["--history-db", str(db)])
    try:
        for tid in ("OLD_1", "NEW_1"):
            srv.rpc("add_task", {"worker": "w", "task_id": tid, "family": tid[:3], "status": "PENDING",
                                 "params": {"p": "1"}})
    finally:
        srv.stop()
    con = sqlite3.connect(str(db))
    con.execute("UPDATE task_events SET ts = ? WHERE task_id = (SELECT id FROM tasks WHERE task_id = 'OLD_1')",
                ((datetime.datetime.now() - datetime.timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S.%f"),))
    con.commit()
    con.close()
    cfg = {"luigid_rs": {"history_retention_days": "7"}}
    srv = start_luigid_rs(tmp_path / "rs2", cfg, extra_args=["--history-db", str(db)])
    try:
        poll(lambda: [r["task_id"] for r in db_records(db)] == ["NEW_1"], what="retention to delete OLD_1")
        assert db_records(db)[0]["params"] == {"p": "1"}
        assert [r["task_id"] for r in get_json(srv, "/history/by_name/NEW")["records"]] == ["NEW_1"]
        assert get_json(srv, "/history/by_name/OLD")["records"] == []
    finally:
        srv.stop()
