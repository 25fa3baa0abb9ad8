"""Task history through the running servers: a real Luigi pipeline against luigid-rs and
against the real luigid (SQLAlchemy < 2, see requirements.txt) leaves the same rows
(per task: the event sequence, the parameters, whether a host was recorded), and
luigid-rs's pages show them, escaped, as HTML and JSON.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

luigi = pytest.importorskip("luigi")

from servers import rs_binary, start_luigid, start_luigid_rs  # noqa: E402

HISTORY_CFG = {
    "scheduler": {"record_task_history": "true"},
    "task_history": {"db_connection": "sqlite:///hist.db"},
}


class HistLeaf(luigi.Task):
    label = luigi.Parameter()
    out_dir = luigi.Parameter(significant=False)

    def output(self):
        name = hashlib.sha1(self.label.encode()).hexdigest()
        return luigi.LocalTarget(os.path.join(self.out_dir, "leaf-" + name))

    def run(self):
        with self.output().open("w") as f:
            f.write("x")


class HistFails(luigi.Task):
    out_dir = luigi.Parameter(significant=False)

    def output(self):
        return luigi.LocalTarget(os.path.join(self.out_dir, "never"))

    def run(self):
        raise RuntimeError("planned failure")


class HistRoot(luigi.Task):
    out_dir = luigi.Parameter(significant=False)

    def requires(self):
        return [HistLeaf(label="<script>alert(1)</script>", out_dir=self.out_dir),
                HistLeaf(label="plain", out_dir=self.out_dir)]

    def output(self):
        return luigi.LocalTarget(os.path.join(self.out_dir, "root"))

    def run(self):
        with self.output().open("w") as f:
            f.write("x")


def run_pipeline(srv, out_dir):
    port = int(srv.url.rsplit(":", 1)[1])
    os.makedirs(out_dir, exist_ok=True)
    luigi.build([HistRoot(out_dir=out_dir), HistFails(out_dir=out_dir)], workers=1,
                scheduler_host="127.0.0.1", scheduler_port=port, detailed_summary=False)


def db_rows(path):
    """task_id -> (family, [event names], {param: value}, host recorded?)"""
    con = sqlite3.connect(path)
    try:
        out = {}
        for rid, task_id, name, host in con.execute("SELECT id, task_id, name, host FROM tasks ORDER BY id"):
            evs = [r[0] for r in con.execute("SELECT event_name FROM task_events WHERE task_id = ? ORDER BY id", (rid,))]
            params = dict(con.execute("SELECT name, value FROM task_parameters WHERE task_id = ?", (rid,)))
            out[task_id] = (name, evs, params, host is not None)
        return out
    finally:
        con.close()


def get(srv, path, accept=None):
    req = urllib.request.Request(srv.url + path)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def start_rs_with_history(workdir):
    if not os.path.exists(rs_binary()):
        pytest.skip("luigid-rs binary not built: %s" % rs_binary())
    try:
        srv = start_luigid_rs(workdir, HISTORY_CFG)
    except RuntimeError as e:
        pytest.skip("luigid-rs does not start in this build: %s" % e)
    status, _, body = get(srv, "/history", accept="application/json")
    if status != 200:
        srv.stop()
        pytest.skip("history pages not wired in this build (/history: %s %s)" % (status, body[:80]))
    return srv


def luigid_has_working_history():
    try:
        import sqlalchemy
    except ImportError:
        return False
    return int(sqlalchemy.__version__.split(".")[0]) < 2


def test_pipeline_rows_match_luigid(tmp_path):
    # One output folder for both runs (it is a parameter, so it is in the rows), emptied
    # in between so both servers see the same work.
    out = str(tmp_path / "out")
    rs = start_rs_with_history(tmp_path / "rs")
    try:
        run_pipeline(rs, out)
    finally:
        rs.stop()
    shutil.rmtree(out)
    ours = db_rows(str(tmp_path / "rs" / "hist.db"))
    assert len(ours) == 4, ours
    if not luigid_has_working_history():
        pytest.skip("the reference luigid needs sqlalchemy<2 (tests/history_compat/requirements.txt)")
    py = start_luigid(tmp_path / "py", HISTORY_CFG)
    try:
        run_pipeline(py, out)
    finally:
        py.stop()
    theirs = db_rows(str(tmp_path / "py" / "hist.db"))
    assert ours == theirs


def test_pages_show_the_pipeline_escaped(tmp_path):
    rs = start_rs_with_history(tmp_path / "rs")
    try:
        run_pipeline(rs, str(tmp_path / "out"))
        status, ctype, body = get(rs, "/history", accept="application/json")
        assert status == 200 and ctype.startswith("application/json")
        recs = json.loads(body)["records"]
        by_name = {r["name"]: r for r in recs}
        assert set(by_name) == {"HistLeaf", "HistRoot", "HistFails"}
        assert by_name["HistRoot"]["status"] == "DONE"
        assert by_name["HistFails"]["status"] == "FAILED"
        assert by_name["HistRoot"]["host"]
        labels = {r["parameters"]["label"] for r in recs if r["name"] == "HistLeaf"}
        assert labels == {"<script>alert(1)</script>", "plain"}

        for page in ["/history", "/history/by_name/HistLeaf", "/tasklist", "/tasklist/HistLeaf",
                     "/history/by_params/HistLeaf?data=" + urllib.parse.quote(json.dumps({"label": "<script>alert(1)</script>"}))]:
            status, ctype, body = get(rs, page)
            assert status == 200, (page, body)
            assert ctype.startswith("text/html")
            assert "<script" not in body, page
        status, _, body = get(rs, "/history/by_params/HistLeaf?data=" + urllib.parse.quote(json.dumps({"label": "plain"})),
                              accept="application/json")
        assert [r["parameters"]["label"] for r in json.loads(body)["records"]] == ["plain"]
        rid = by_name["HistRoot"]["id"]
        status, _, body = get(rs, "/history/by_id/%d" % rid, accept="application/json")
        detail = json.loads(body)
        assert [e["status"] for e in detail["events"]][0] == "DONE"
        status, _, body = get(rs, "/history/by_task_id/" + urllib.parse.quote(detail["task_id"]), accept="application/json")
        assert json.loads(body)["id"] == rid
        assert get(rs, "/history/by_id/999999")[0] == 404
    finally:
        rs.stop()
