"""Write the small luigid state pickles that the Rust unit tests of
src/persistence/pickle read (src/persistence/pickle/testdata/).

Run with an interpreter that has luigi installed (e.g. the test venv):
    .venv/bin/python tests/pickle/make_fixtures.py src/persistence/pickle/testdata
The luigi 2.8.13 ones (only -p2 and -p4 are kept) come from its own venv
(`make old-luigid`): .venv-luigi-2.8.13/bin/python tests/pickle/make_fixtures.py DIR

The state is made by luigi.scheduler.Scheduler itself (its RPC methods called in
process, as luigid would on requests) and written by its own dump(); the protocol 2, 3
and 5 variants are the same objects pickled again with that protocol.
"""
import os
import pickle
import sys

import luigi
from luigi.scheduler import Scheduler


def build(path):
    s = Scheduler(state_path=path, retry_delay=100000, remove_delay=100000,
                  worker_disconnect_delay=100000, disable_window=100000, retry_count=3)
    s.add_worker(worker="w1", info={"host": "h1", "pid": 7, "salt": "\u00e9\u4e2d"})
    s.add_task(worker="w1", task_id="A(x=1)", family="A", module="mod.a",
               params={"x": "1", "secret": "s", "nested": "[1, 2]"},
               param_visibilities={"secret": 1, "x": 0}, deps=["B()", "C()"],
               priority=10 ** 30, resources={"r": 1})
    s.add_task(worker="w1", task_id="B()", family="B", status="DONE")
    s.add_task(worker="w1", task_id="C()", family="C", status="FAILED", expl="Traceback: boom")
    s.add_task(worker="w1", task_id="R()", family="R", priority=9, resources={"r": 1},
               accepts_messages=True, tracking_url="http://t/1")
    s.add_task(worker="w2", task_id="R()", family="R")
    assert s.get_work(worker="w1", host="h1")["task_id"] == "R()"
    s.add_task(worker="w1", task_id="N()", family="N", priority=float("nan"))
    s.set_task_status_message(task_id="R()", status_message="half way \u2603")
    s.set_task_progress_percentage(task_id="R()", progress_percentage=50)
    s.add_task(worker="w1", task_id="E(n=1)", family="E", params={"n": "1"}, batchable=True)
    s.add_task_batcher(worker="w1", task_family="E", batched_args=["n"], max_batch_size=3)
    s.add_task_batcher(worker="w2", task_family="F", batched_args=["a", "b"])
    s.add_task(worker="w1", task_id="D()", family="D", status="DISABLED")
    return s


def main(out):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "luigid-%s-p4.pickle" % luigi.__version__)
    s = build(path)
    s.dump()
    with open(path, "rb") as f:
        state = pickle.load(f)
    for proto in (2, 3, 5):
        with open(os.path.join(out, "luigid-%s-p%d.pickle" % (luigi.__version__, proto)), "wb") as f:
            pickle.dump(state, f, protocol=proto)


if __name__ == "__main__":
    main(sys.argv[1])
