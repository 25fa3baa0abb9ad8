#!/usr/bin/env python3
"""The full-disk fault matrix: per durability mode, how many add_task calls were
acknowledged, refused and lost after kill -9, with the state on a 2 MiB tmpfs.

Needs root (mounts tmpfs). Usage: LUIGID_RS_BIN=target/release/luigid-rs \
    python3 benches/fault_matrix.py [CALLS]   (default 12000)
Prints one table row per mode. `lost` must be 0 and `unacked present` must be 0.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

BIN = os.environ.get("LUIGID_RS_BIN", "target/release/luigid-rs")
CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 12000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(state, mode, workdir):
    cfg = os.path.join(workdir, "luigi.cfg")
    with open(cfg, "w") as f:
        f.write("[luigid_rs]\ndurability = %s\n" % mode)
    port = free_port()
    log = open(os.path.join(workdir, "server-%d.log" % port), "wb")
    proc = subprocess.Popen([BIN, "--port", str(port), "--state-path", state],
                            env=dict(os.environ, LUIGI_CONFIG_PATH=cfg), stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("HEAD", "/")
            if c.getresponse().status == 204:
                return proc, port
        except OSError:
            time.sleep(0.02)
    raise SystemExit("server did not start")


def post(conn, method, args):
    body = urllib.parse.urlencode({"data": json.dumps(args)})
    conn.request("POST", "/api/" + method, body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    return r.status, r.read()


def row(mode):
    mnt = tempfile.mkdtemp(prefix="fault-matrix-")
    work = tempfile.mkdtemp(prefix="fault-matrix-work-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], check=True)
    try:
        state = os.path.join(mnt, "state.json")
        proc, port = start(state, mode, work)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        acked, refused, other = set(), 0, 0
        for i in range(CALLS):
            tid = "Task_%06d_%s" % (i, "a1b2c3d4e5")
            st, _ = post(conn, "add_task", {
                "task_id": tid, "status": "PENDING", "runnable": True, "deps": [],
                "new_deps": [], "expl": None, "resources": {}, "priority": 0,
                "family": "Task", "module": "bench", "params": {"i": str(i)},
                "param_visibilities": {"i": 0}, "assistant": False, "tracking_url": None,
                "worker": "Worker(salt=123, workers=1, host=h, username=u, pid=1)",
                "batchable": False, "batch_id": None, "retry_policy_dict": {},
                "owners": [], "accepts_messages": False})
            if st == 200:
                acked.add(tid)
            elif st == 503:
                refused += 1
            else:
                other += 1
        conn.close()
        proc.kill()
        proc.wait()
        proc, port = start(state, mode, work)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        st, body = post(conn, "task_list", {"status": "PENDING"})
        present = set(json.loads(body)["response"]) if st == 200 else set()
        conn.close()
        proc.kill()
        proc.wait()
        return (mode, CALLS, len(acked), refused, other, len(acked - present), len(present - acked))
    finally:
        subprocess.run(["umount", "-l", mnt])


def main():
    print("| mode | calls | acknowledged | refused (503) | other | lost after kill -9 | unacked present |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("always", "everysec", "off"):
        print("| %s | %d | %d | %d | %d | %d | %d |" % row(mode))


if __name__ == "__main__":
    main()
