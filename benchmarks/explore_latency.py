"""Server-side time of each Explore page interaction, per preset; and of a whole page rerun under AppTest.

    python benchmarks/explore_latency.py [--repeats 30] [--presets dense-bn,dcgan] [--conditional] [--skip-apptest]

Generators are built untrained (timing does not depend on the weights). Every repetition uses a new
point, so the Explorer's cache of recent images never answers: these are the times of real work.
The budget is 200 ms per slider move on two CPU cores. `--conditional` also times each preset's
conditional generator (ten classes): the same interactions drawn as a class, and the walk between
two classes with the same noise, whose class weights take the sampler's second traced call.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, from anywhere

import numpy as np

from gan_core import explorer as ex
from gan_core.config import TrainConfig
from gan_core.latent import walk
from gan_core.models import PRESETS, build_models
from gan_core.runs import RunDir

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 200.0
LATENT_DIM, SHAPE, CLASSES = 100, (28, 28, 1), 10
# The page's sizes (pages/explore.py): the image at t ~336 px, strip frames and plane cells ~84 px.
BIG, SMALL = ex.scale_for(28, 336), ex.scale_for(28, 84)


def stats(samples_ms: list[float]) -> tuple[float, float]:
    """(median, 95th percentile) in ms."""
    return statistics.median(samples_ms), float(np.percentile(samples_ms, 95))


def timed(fn, repeats: int, warmup: int = 3) -> tuple[float, float]:
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(warmup + i)
        samples.append((time.perf_counter() - start) * 1000)
    return stats(samples)


def interactions(explorer: ex.Explorer) -> dict:
    """Each page interaction as the page does it, on a new point each call (a conditional
    generator draws class 3, and walks from class 3 to class 8 with the same noise)."""
    rng = np.random.default_rng(0)
    a, b = explorer.noise(0), explorer.noise(1)
    dims = [0, 1, 2, 3]
    plane_dirs = ex.dimension_directions(LATENT_DIM, (0, 1))
    pca_dirs, _ = explorer.principal_directions()
    label = 3 if explorer.conditional else None

    def image_at_t(_):
        z_t = ex.point_at(a, b, rng.uniform(), "slerp")
        ex.picture_png(explorer.generate(z_t, label), BIG)

    def strip(i):  # a new endpoint or method or frame count: 16 frames, the most the slider allows
        ex.picture_png(explorer.generate(walk(a, explorer.noise(1000 + i), 16, "slerp"), label), SMALL, ncols=16)

    def dimension_slider(_):
        z = ex.nudge(ex.point_at(a, b, 0.5, "slerp"), dims, rng.uniform(-3, 3, len(dims)))
        ex.picture_png(explorer.generate(z, label), BIG)

    def plane(directions):
        def move(_):
            center = ex.point_at(a, b, rng.uniform(), "slerp")
            ex.picture_png(explorer.generate(ex.plane(center, directions, 7, 2.0), label), SMALL, ncols=7)

        return move

    def t_move(_):  # what a t move recomputes: the image at t, the per-dimension image (same point), the plane
        z_t = ex.point_at(a, b, rng.uniform(), "slerp")
        ex.picture_png(explorer.generate(z_t, label), BIG)
        ex.picture_png(explorer.generate(ex.nudge(z_t, dims, [0.0] * 4), label), BIG)
        ex.picture_png(explorer.generate(ex.plane(z_t, plane_dirs, 7, 2.0), label), SMALL, ncols=7)

    found = {
        "image at t": image_at_t,
        "strip (16 frames)": strip,
        "dimension slider": dimension_slider,
        "plane 7x7 (dimensions)": plane(plane_dirs),
        "plane 7x7 (pca)": plane(pca_dirs),
        "t move (all of the above that t redraws)": t_move,
    }
    if not explorer.conditional:
        return found

    def class_t_move(_):  # between two classes, what a t move recomputes: the mix at t, and the plane through it
        t = rng.uniform()
        ex.picture_png(explorer.between_classes(a, 3, 8, t), BIG)
        mix = ex.class_mix(3, 8, t, explorer.num_classes)
        ex.picture_png(explorer.generate(ex.plane(a, plane_dirs, 7, 2.0), mix), SMALL, ncols=7)

    def class_strip(i):  # a new noise: 16 frames from class 3 to class 8
        frames = explorer.between_classes(explorer.noise(2000 + i), 3, 8, np.linspace(0.0, 1.0, 16))
        ex.picture_png(frames, SMALL, ncols=16)

    return {**found, "between classes: t move": class_t_move, "between classes: strip (16 frames)": class_strip}


def bench_presets(presets: list[str], repeats: int, conditional: bool = False) -> None:
    print(f"\nPer interaction, server side, ms (median / p95 of {repeats}; budget {BUDGET_MS:.0f} ms)")
    rows = []
    for name in [*presets, *(f"{p}+cond" for p in presets if conditional)]:
        preset, _, cond = name.partition("+")
        generator, _ = build_models(preset, LATENT_DIM, SHAPE, num_classes=CLASSES if cond else None)
        start = time.perf_counter()
        explorer = ex.Explorer(generator)
        load_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        explorer.principal_directions()
        pca_ms = (time.perf_counter() - start) * 1000
        for label, fn in interactions(explorer).items():
            median, p95 = timed(fn, repeats)
            rows.append((name, label, median, p95))
        rows.append((name, f"one-off: trace {load_ms:.0f} ms, principal directions {pca_ms:.0f} ms", None, None))
    width = max(len(r[1]) for r in rows if r[2] is not None)
    name_width = max(11, *(len(r[0]) for r in rows))
    print(f"{'preset':<{name_width}} {'interaction':<{width}} {'median':>8} {'p95':>8}")
    for name, label, median, p95 in rows:
        if median is None:
            print(f"{name:<{name_width}} {label}")
        else:
            flag = "" if p95 <= BUDGET_MS else "  over budget"
            print(f"{name:<{name_width}} {label:<{width}} {median:8.1f} {p95:8.1f}{flag}")


def make_run(runs_dir: Path, preset: str) -> str:
    """A run folder holding an untrained generator of `preset`, as the page finds runs."""
    config = TrainConfig(preset=preset)
    run = RunDir.create(runs_dir, config, run_id=f"bench-{preset}")
    run.export_generator(build_models(preset, config.latent_dim, SHAPE)[0])
    run.write_status(status="finished", step=0, total_steps=config.steps)
    return run.run_id


def bench_apptest(presets: list[str], repeats: int) -> None:
    """A whole rerun of pages/explore.py after the t slider moves, as Streamlit runs it."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    times: dict[str, list[float]] = {}
    original_run, original_exec = script_runner.ScriptRunner._run_script, script_runner.exec_func_with_error_handling

    def run_script(self, *args, **kwargs):  # everything the script thread does for one rerun
        start = time.perf_counter()
        try:
            return original_run(self, *args, **kwargs)
        finally:
            times.setdefault("rerun", []).append((time.perf_counter() - start) * 1000)

    def exec_page(*args, **kwargs):  # the page's own code only
        start = time.perf_counter()
        try:
            return original_exec(*args, **kwargs)
        finally:
            times.setdefault("page", []).append((time.perf_counter() - start) * 1000)

    script_runner.ScriptRunner._run_script = run_script
    script_runner.exec_func_with_error_handling = exec_page
    runs_dir = Path(tempfile.mkdtemp(prefix="explore-bench-"))
    os.environ["GAN_STUDIO_RUNS"] = str(runs_dir)
    print(f"\nWhole page rerun after a t slider move (AppTest), ms (median / p95 of {repeats})")
    print(f"{'preset':<11} {'page code':>17} {'script thread':>17} {'AppTest run()':>17}")
    try:
        for name in presets:
            at = AppTest.from_file(str(ROOT / "pages" / "explore.py"), default_timeout=120)
            at.query_params["run"] = make_run(runs_dir, name)
            at.run()
            assert not at.exception, at.exception
            rng = np.random.default_rng(1)
            pages, reruns, walls = [], [], []
            for i in range(repeats + 2):  # the first two moves warm up
                at.slider(key="t").set_value(round(float(rng.uniform()), 2))
                times.clear()
                start = time.perf_counter()
                at.run()
                assert not at.exception, at.exception
                if i >= 2:
                    walls.append((time.perf_counter() - start) * 1000)
                    pages.append(times["page"][-1])
                    reruns.append(times["rerun"][-1])
            print(f"{name:<11} " + " ".join(f"{m:8.1f} / {p:6.1f}" for m, p in map(stats, (pages, reruns, walls))))
        # A server also runs gc.collect(2) after every rerun (runner.postScriptGC), which AppTest skips.
        # app.common.protect_training_thread() freezes the long-lived heap so that it stays cheap.
        frozen = timed(lambda _: gc.collect(2), 5, warmup=1)[0]
        gc.unfreeze()
        unfrozen = timed(lambda _: gc.collect(2), 5, warmup=1)[0]
        gc.freeze()
        print(
            f"Streamlit's post-rerun gc.collect(2), not in the figures above: {frozen:.1f} ms with the heap frozen "
            f"(as app.common does), {unfrozen:.0f} ms without"
        )
    finally:
        script_runner.ScriptRunner._run_script, script_runner.exec_func_with_error_handling = (
            original_run,
            original_exec,
        )
        shutil.rmtree(runs_dir, ignore_errors=True)
    print(
        "AppTest recompiles the page for every run (a server caches the bytecode) and polls for the end, so its "
        "run() is an upper bound."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets (default: all)")
    parser.add_argument(
        "--conditional", action="store_true", help="also time each preset's conditional generator (presets+cond)"
    )
    parser.add_argument("--skip-apptest", action="store_true")
    args = parser.parse_args()
    presets = [p for p in args.presets.split(",") if p]
    print(f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f} at start")
    bench_presets(presets, args.repeats, args.conditional)
    if not args.skip_apptest:
        bench_apptest(presets, args.repeats)
    print(f"\nload average {os.getloadavg()[0]:.2f} at end (other processes on the machine inflate every figure)")


if __name__ == "__main__":
    main()
