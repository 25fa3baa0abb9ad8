"""A small Luigi pipeline for the history tests, run as a real worker process:

    python -m luigi --module hist_pipeline HistAll --out-dir DIR --scheduler-url URL

HistAll needs HistRoot (which needs two HistLeaf, one with markup in its label) and
HistFails (which raises), so one run records PENDING/RUNNING/DONE, PENDING/RUNNING/FAILED
and a task that never runs (HistAll, PENDING only). out_dir is insignificant (not in the
task ids) but the worker still sends it, so the tests pass the same relative folder.
"""
import hashlib
import os

import luigi


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
    attempt = luigi.IntParameter(default=1)

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


class HistAll(luigi.WrapperTask):
    out_dir = luigi.Parameter(significant=False)

    def requires(self):
        return [HistRoot(out_dir=self.out_dir), HistFails(out_dir=self.out_dir)]
