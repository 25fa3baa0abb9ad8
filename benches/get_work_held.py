"""get_work for a worker that holds many RUNNING tasks (issue 17's W4 load).

One worker adds N tasks, takes all of them with get_work (they are then RUNNING), and
then calls get_work CALLS more times; each of those replies lists every running task,
as luigid's does. Prints the server's CPU time per call (from /proc), the figure to
compare with luigid (37-55 ms at N = 10,000 on this machine class).

    python3 benches/get_work_held.py [N] [CALLS]     (LUIGID_RS_BIN, default the release build)
Standard library only; the server runs on a free loopback port in a temporary directory.
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

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
BIN = os.environ.get("LUIGID_RS_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "luigid-rs"))
WORKER = "Worker(salt=1, workers=1, host=h, username=u, pid=1)"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "luigi.cfg")
        open(cfg, "w").close()
        env = dict(os.environ, LUIGI_CONFIG_PATH=cfg, RUST_LOG="warn")
        p = subprocess.Popen([BIN, "--port", str(port), "--state-path", os.path.join(d, "state")],
                             env=env, stdout=subprocess.DEVNULL)
        try:
            conn = None
            for _ in range(200):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    conn.request("HEAD", "/")
                    conn.getresponse().read()
                    break
                except OSError:
                    time.sleep(0.05)

            def rpc(method, args):
                body = urllib.parse.urlencode({"data": json.dumps(args)})
                conn.request("POST", "/api/" + method, body,
                             {"Content-Type": "application/x-www-form-urlencoded",
                              "Accept-Encoding": "gzip, deflate"})
                return conn.getresponse().read()

            for i in range(N):
                rpc("add_task", {"worker": WORKER, "task_id": "T_%d" % i, "family": "T",
                                 "params": {"i": str(i)}, "status": "PENDING", "runnable": True})
            work = {"worker": WORKER, "host": "h", "assistant": False, "current_tasks": None}
            for _ in range(N):
                rpc("get_work", work)

            def cpu():
                with open("/proc/%d/stat" % p.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

            c0 = cpu()
            for _ in range(CALLS):
                body = rpc("get_work", work)
            c1 = cpu()
            print("get_work holding %d RUNNING tasks: %.0f us of server CPU per call, reply %d bytes "
                  "(gzip)" % (N, (c1 - c0) / CALLS * 1e6, len(body)))
        finally:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
