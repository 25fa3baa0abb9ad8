"""A small pipeline for the security suite's real Luigi workers: three leaves and a top task.

Outputs go under $AUTH_TASKS_DIR so a run's success is visible on disk as well as in the
scheduler."""
import os

import luigi


def _out(name):
    return luigi.LocalTarget(os.path.join(os.environ["AUTH_TASKS_DIR"], name))


class Leaf(luigi.Task):
    n = luigi.IntParameter()

    def output(self):
        return _out("leaf-%d" % self.n)

    def run(self):
        with self.output().open("w") as f:
            f.write("leaf %d" % self.n)


class Top(luigi.Task):
    def requires(self):
        return [Leaf(n=i) for i in range(3)]

    def output(self):
        return _out("top")

    def run(self):
        with self.output().open("w") as f:
            f.write("top")
