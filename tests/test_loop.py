"""The loop's periodic jobs, driven by hand: no thread, no TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest

from gan_core import loop
from gan_core.loop import Diverged, Job, Never, TimeLimit, run_due, steps_this_call
from gan_core.runs import RunDir


class Counting(Job):
    def __init__(self, every):
        self.every = every
        self.steps = []

    def __call__(self, step):
        self.steps.append(step)


def drive(jobs, total, most, start=0):
    """The engine's loop without a GAN: graph calls as `steps_this_call` sizes them."""
    step, calls = start, []
    while step < total:
        steps = steps_this_call(step, total, most, jobs)
        step += steps
        calls.append(steps)
        if run_due(jobs, step):
            break
    return calls


@pytest.mark.parametrize("most", [1, 7, 50])
def test_each_job_fires_at_its_interval_and_not_otherwise(most):
    metrics, samples, checkpoints = Counting(25), Counting(250), Counting(1000)
    calls = drive([metrics, samples, checkpoints, Never()], total=2600, most=most)
    assert metrics.steps == list(range(25, 2601, 25))
    assert samples.steps == [250 * i for i in range(1, 11)]
    assert checkpoints.steps == [1000, 2000]
    assert sum(calls) == 2600 and max(calls) <= most


def test_graph_calls_stop_at_the_next_jobs_step_and_at_the_end():
    jobs = [Counting(25), Counting(40)]
    assert steps_this_call(0, 1000, 50, jobs) == 25
    assert steps_this_call(25, 1000, 50, jobs) == 15  # 40 comes first
    assert steps_this_call(990, 1000, 50, [Never()]) == 10
    assert steps_this_call(3, 1000, 1, jobs) == 1


def test_a_continued_run_keeps_the_intervals_of_the_whole_run():
    metrics = Counting(25)
    drive([metrics], total=100, most=50, start=60)
    assert metrics.steps == [75, 100]


def test_a_job_after_every_call_does_not_bound_the_calls():
    clock = iter([0.0, 1.0, 2.0, 10.0]).__next__
    limit = TimeLimit(5.0, start=0.0, clock=clock)
    assert limit.steps_to_next(7) is None and limit.due(7)
    metrics = Counting(10)
    calls = drive([metrics, limit], total=1000, most=10)
    assert calls == [10, 10, 10, 10] and metrics.steps == [10, 20, 30, 40]  # the clock passed 5 s at the fourth
    assert not TimeLimit(None, start=0.0).due(10)  # no limit: never checked


def test_the_first_reason_to_end_is_kept():
    class Ends(Job):
        every = 5

        def __call__(self, step):
            return "enough"

    after = Counting(5)
    assert run_due([Ends(), after], 5) == "enough" and after.steps == [5]  # later jobs still run
    assert run_due([Ends()], 6) is None


class FakeGAN:
    def __init__(self, means, nonfinite=None):
        self.means, self.nonfinite = means, nonfinite

    def read_metrics(self):
        means, self.means = self.means, None
        return means

    def first_nonfinite_step(self):
        return self.nonfinite


def test_record_metrics_writes_the_record_and_stops_a_diverged_run(tmp_path):
    run = RunDir(tmp_path)
    kept = []
    job = loop.RecordMetrics(5, FakeGAN({"d_loss": 0.5, "g_loss": 1.0}), run, kept.append, lambda s: {"epoch": s / 10})
    job(5)
    assert kept == [{"step": 5, "epoch": 0.5, "d_loss": 0.5, "g_loss": 1.0}] and run.read_metrics() == kept
    job(10)  # nothing new since the last read: no record
    assert len(run.read_metrics()) == 1
    (tmp_path / "checkpoints").mkdir()
    bad = loop.RecordMetrics(5, FakeGAN(None, nonfinite=12), run, kept.append, dict)
    with pytest.raises(Diverged, match="NaN or inf at step 12; training stopped \\(no checkpoint was written\\)"):
        bad(15)


def test_draw_samples_writes_the_grid_and_remembers_its_step(tmp_path):
    class FakeSampler:
        def grid(self, noise):
            return np.full((4, 4), len(noise), np.uint8)

    run = RunDir(tmp_path)
    run.samples_dir.mkdir()
    shown = []
    job = loop.DrawSamples(10, FakeSampler(), np.zeros((3, 2)), run, lambda s, g: shown.append((s, int(g[0, 0]))))
    job(20)
    assert shown == [(20, 3)] and job.last_step == 20 and [s for s, _ in run.samples()] == [20]


def test_call_size_aims_at_a_quarter_second_per_call():
    size = loop.CallSize(seconds=0.25, most=50)
    assert size.steps == 1  # the first call compiles
    size.update(steps=10, elapsed=0.1)
    assert size.steps == 25
    size.update(steps=25, elapsed=0.001)
    assert size.steps == 50
    size.update(steps=50, elapsed=50.0)
    assert size.steps == 1


def test_the_engine_imports_neither_streamlit_nor_plotly():
    code = (
        "import sys, gan_core.engine, gan_core.gan, gan_core.loop, gan_core.losses, gan_core.registry, "
        "gan_core.explorer, gan_core.quality, gan_core.alerts, gan_core.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
