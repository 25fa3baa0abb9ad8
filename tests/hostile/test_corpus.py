"""Replay the hostile corpus (corpus.json, made by gen_corpus.py) against luigid-rs.

Every case must get an answer of the class the corpus names (a 4xx with a message, or a
200 where luigid accepts the input), never a 5xx nor a dropped connection; the server
answers a health check after every case; and the scheduler state seeded before the run
is exactly the state after it.
"""
import json
import os
import socket
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

from servers import start_luigid_rs  # noqa: E402
import gen_corpus  # noqa: E402

with open(os.path.join(HERE, "corpus.json")) as f:
    CORPUS = json.load(f)


def expand(pieces):
    return b"".join(t.encode("latin-1") * n for t, n in pieces)


def port_of(srv):
    return int(srv.url.rsplit(":", 1)[1])


def exchange(port, raw, timeout=10.0):
    """Send `raw` on a new connection and read until the server closes (or times out)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered early (e.g. 413 before the body) and closed: its reply
            # is still in our receive buffer.
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
            if _complete(got):
                break
    finally:
        s.close()
    return got


def _complete(got):
    head, sep, body = got.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def parse(got):
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")))
    return status, headers, body


def matches(status, expect):
    for e in expect:
        if isinstance(e, int) and status == e:
            return True
        if isinstance(e, str) and e.endswith("xx") and str(status)[0] == e[0]:
            return True
    return False


def healthy(port):
    got = exchange(port, b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout=5)
    return got.startswith(b"HTTP/1.1 204")


def rpc(srv, method, data):
    return srv.rpc(method, data)


def seed(srv):
    rpc(srv, "add_worker", {"worker": "w-seed", "info": {"host": "h", "pid": 1}})
    rpc(srv, "add_task", {"task_id": "Root()", "worker": "w-seed", "family": "Root",
                          "deps": ["Leaf(x=1)", "Bad()"], "priority": 10,
                          "resources": {"cpu": 1}})
    rpc(srv, "add_task", {"task_id": "Leaf(x=1)", "worker": "w-seed", "family": "Leaf",
                          "params": {"x": "1"}})
    rpc(srv, "add_task", {"task_id": "Done()", "worker": "w-seed", "status": "DONE"})
    rpc(srv, "add_task", {"task_id": "Bad()", "worker": "w-seed", "status": "FAILED",
                          "expl": "boom"})
    rpc(srv, "add_task", {"task_id": "Off()", "worker": "w-seed", "status": "DISABLED"})
    rpc(srv, "update_resource", {"resource": "cpu", "amount": 4})
    work = rpc(srv, "get_work", {"worker": "w-seed", "host": "h"})
    assert work["task_id"] == "Leaf(x=1)"
    rpc(srv, "pause", {})


def state(srv):
    out = {}
    for st in ["", "PENDING", "RUNNING", "DONE", "FAILED", "DISABLED", "BATCH_RUNNING",
               "UNKNOWN"]:
        out["task_list:" + st] = rpc(srv, "task_list", {"status": st, "limit": False})
    out["worker_list"] = rpc(srv, "worker_list", {})
    out["resource_list"] = rpc(srv, "resource_list", {})
    out["is_paused"] = rpc(srv, "is_paused", {})
    return out


def check_reply(c, got):
    if not got and "closed" in c["expect"]:
        return None
    assert got, "%s: no reply at all (%s)" % (c["id"], c["why"])
    status, headers, body = parse(got)
    assert status < 500 or status in c["expect"], \
        "%s: got %d, a 5xx (%s): %r" % (c["id"], status, c["why"], body[:300])
    assert matches(status, c["expect"]), \
        "%s: got %d, want %s (%s): %r" % (c["id"], status, c["expect"], c["why"], body[:300])
    if 400 <= status < 500 and not c["raw"][0][0].startswith("HEAD "):
        assert body.strip(), "%s: %d without a message" % (c["id"], status)
    names = [h[0] for h in headers]
    assert "x-injected" not in names, "%s: injected header" % c["id"]
    assert ("set-cookie", "x=1") not in headers, "%s: injected cookie" % c["id"]
    assert b"[package]" not in body and b"root:x:" not in body, \
        "%s: served a file outside the static root" % c["id"]
    return status


def test_corpus_matches_generator():
    assert json.loads(json.dumps(gen_corpus.CASES)) == CORPUS, \
        "corpus.json is stale: run python3 tests/hostile/gen_corpus.py"
    assert len(CORPUS) >= 200


def test_hostile_corpus(tmp_path):
    srv = start_luigid_rs(tmp_path / "rs",
                          extra_args=["--history-db", str(tmp_path / "rs" / "history.db")])
    try:
        seed(srv)
        before = state(srv)
        port = port_of(srv)
        failures = []
        for c in CORPUS:
            if c.get("mutates"):
                continue
            try:
                status = check_reply(c, exchange(port, expand(c["raw"])))
            except AssertionError as e:
                failures.append(str(e))
                status = None
            # An accepted RPC is where a change could slip in: compare at once, to name it.
            if status == 200 and c["category"] in gen_corpus.RPC_CATEGORIES:
                now = state(srv)
                changed = [k for k in before if before[k] != now[k]]
                if changed:
                    failures.append("%s: accepted and changed %s" % (c["id"], changed))
                    before = now
            assert srv.proc.poll() is None, "server died on %s" % c["id"]
            assert healthy(port), "no health check answer after %s" % c["id"]
        assert not failures, "\n".join(failures)
        after = state(srv)
        for k in before:
            assert before[k] == after[k], "state changed: %s" % k
        assert srv.proc.poll() is None
    finally:
        srv.stop()
    log = open(os.path.join(str(tmp_path / "rs"), "server.log"), errors="replace").read()
    assert "panicked" not in log, log[-2000:]


def test_accepted_mutations(tmp_path):
    """The cases luigid accepts and that change state: 200, on a throwaway server."""
    srv = start_luigid_rs(tmp_path / "rs")
    try:
        port = port_of(srv)
        for c in CORPUS:
            if c.get("mutates"):
                check_reply(c, exchange(port, expand(c["raw"])))
                assert healthy(port)
    finally:
        srv.stop()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
