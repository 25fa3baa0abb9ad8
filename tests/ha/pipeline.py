"""The pipeline the failover tests run with real luigi workers: LEAVES leaf tasks in
three layers and one final task. Each run() appends its task id to RUN_LOG before
writing its output, so the test counts how often each task really ran; every RPC the
scheduler acknowledged (a 200 reply) is appended to ACK_LOG by the client itself.
"""
import json
import os
import time

import luigi
import luigi.rpc

RUN_LOG = os.environ["HA_RUN_LOG"]
ACK_LOG = os.environ["HA_ACK_LOG"]
OUT = os.environ["HA_OUT"]
LEAVES = int(os.environ.get("HA_LEAVES", "60"))
SECONDS = float(os.environ.get("HA_TASK_SECONDS", "0.3"))


def _append(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


_request = luigi.rpc.RemoteScheduler._request


def _logged_request(self, url, data, attempts=3, allow_null=True):
    # Returns only when the scheduler answered 200: that call was acknowledged.
    response = _request(self, url, data, attempts, allow_null)
    _append(ACK_LOG, json.dumps({"method": url.strip("/").split("/")[-1], "data": data}))
    return response


luigi.rpc.RemoteScheduler._request = _logged_request


class Leaf(luigi.Task):
    i = luigi.IntParameter()

    def requires(self):
        # Three layers: 0..19 have no requirements, each later leaf needs one earlier.
        return [Leaf(i=self.i - 20)] if self.i >= 20 else []

    def output(self):
        return luigi.LocalTarget(os.path.join(OUT, "leaf-%d" % self.i))

    def run(self):
        _append(RUN_LOG, self.task_id)
        time.sleep(SECONDS)
        with self.output().open("w") as f:
            f.write("done")


class Final(luigi.Task):
    def requires(self):
        return [Leaf(i=i) for i in range(LEAVES)]

    def output(self):
        return luigi.LocalTarget(os.path.join(OUT, "final"))

    def run(self):
        _append(RUN_LOG, self.task_id)
        with self.output().open("w") as f:
            f.write("done")
