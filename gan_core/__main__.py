"""Headless CLI over the same engine as the dashboard.

    python -m gan_core train [--preset NAME --dataset NAME --loss NAME --steps N --max-seconds S ...] [--out runs]
    python -m gan_core train --continue RUN_DIR [--steps N] [--precision P]
    python -m gan_core train --branch RUN_DIR [--at STEP] [--g-learning-rate X ...]
    python -m gan_core sample RUN_DIR_OR_KERAS_FILE --n 64 [--class K] --out grid.png|samples.npy
    python -m gan_core sample RUN_DIR_OR_KERAS_FILE --n 10000 [--class K] --out synthetic.npz
    python -m gan_core score RUN_DIR_OR_KERAS_FILE [--n 1000] | score --real
    python -m gan_core presets | datasets | losses

The `train` flags are TrainConfig's knobs (config.py): one flag per setting, with its help and range.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import typing
from pathlib import Path

from gan_core import quality
from gan_core.config import ConfigError, TrainConfig, knobs


def _flag_type(field) -> tuple[type, bool]:
    """(parser type, optional) for a TrainConfig field."""
    hints = typing.get_type_hints(TrainConfig)
    hint = hints[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return base, type(None) in typing.get_args(hint)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (got {text!r})")


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan_core", description="GAN Studio's headless training engine.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a GAN; prints the run folder")
    for field in knobs():
        kind, _optional = _flag_type(field)
        low, high = field.metadata.get("low"), field.metadata.get("high")
        bounds = f" [{_number(low)}..{_number(high)}]" if low is not None else ""
        head, default_said, tail = field.metadata["help"].partition(" (default:")
        help_text = head + bounds + default_said + tail  # the range before the default the help gives
        if "default:" not in help_text:  # else the help says itself what None stands for
            default = str(field.default).lower() if kind is bool else field.default
            help_text += f" (default: {'unset' if default is None else default})"
        choices = field.metadata.get("choices")
        train.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_bool if kind is bool else kind,
            default=None,
            choices=choices,
            metavar=("|".join(choices) if choices else field.name.upper()) if kind is not bool else "true|false",
            help=help_text,
        )
    train.add_argument("--out", help="folder that holds run folders (default: runs; for --branch, the parent's folder)")
    train.add_argument(
        "--continue",
        dest="continue_from",
        metavar="RUN_DIR",
        help="train this run further from its latest checkpoint, in its folder (--steps sets a new total)",
    )
    train.add_argument(
        "--branch",
        dest="branch_from",
        metavar="RUN_DIR",
        help="start a new run (under --out) from this run's checkpoint at --at, with the flags given changed "
        "(not those a checkpoint fixes: preset, dataset, latent size, conditional, loss, grid size)",
    )
    train.add_argument("--at", type=int, metavar="STEP", help="with --branch: the checkpoint's step (default: latest)")
    train.add_argument(
        "--logical-cpus",
        type=int,
        metavar="N",
        help="split the CPU into N logical devices first (for --strategy mirrored on a machine without GPUs)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = commands.add_parser("sample", help="draw images from a trained generator")
    sample.add_argument("source", help="a run folder (runs/<run-id>) or a generator .keras file")
    sample.add_argument("--n", type=int, default=64, help="how many images (default: 64)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    sample.add_argument(
        "--class",
        dest="class_",
        type=int,
        metavar="K",
        help="a conditional generator draws every image as class K (default: the classes in turn, 0, 1, ...)",
    )
    sample.add_argument(
        "--out",
        default="grid.png",
        help="grid.png for a PNG grid (a conditional generator's classes in turn: one column per class), "
        "samples.npy for a uint8 array, or synthetic.npz for a dataset to train on again (--dataset npz "
        "--npz-path synthetic.npz): images uint8 (N, H, W, C) and, for a conditional generator, their labels",
    )

    score = commands.add_parser(
        "score",
        help="quality figures of a trained generator (FD-digits, score, coverage, class accuracy)",
        description=quality.SCORE_DESCRIPTION,
    )
    quality.add_score_arguments(score)

    commands.add_parser("presets", help="list the architecture presets")
    commands.add_parser("datasets", help="list the datasets")
    commands.add_parser("losses", help="list the loss families")
    return parser


MAX_SAMPLES = 10_000  # images in a grid or an .npy (an .npz dataset may hold export.MAX_IMAGES)
CONTINUE_SETTINGS = ("steps", "precision")  # what --continue may change: how long, and the arithmetic here


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gan_core.engine import ACTIVE, Status, TrainingRun
    from gan_core.runs import RunDir, RunError

    overrides = {f.name: getattr(args, f.name) for f in knobs() if getattr(args, f.name) is not None}
    if args.logical_cpus:
        from gan_core.distribute import logical_cpus

        logical_cpus(args.logical_cpus)
    strategy = overrides.get("strategy")
    if args.continue_from and strategy is None:  # a continued run keeps its strategy: a cluster's too
        with contextlib.suppress(RunError, OSError, ValueError):
            strategy = RunDir(args.continue_from).read_config().strategy
    if strategy == "multi-worker":
        from gan_core.distribute import multi_worker

        try:
            multi_worker()  # first thing: TensorFlow sets up collective ops only before anything else runs
        except (ValueError, RuntimeError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        if args.continue_from:
            fixed = sorted(set(overrides) - set(CONTINUE_SETTINGS))
            if fixed:
                flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
                print(
                    f"error: --continue trains a run further with its own settings; {flags} cannot change "
                    f"(only {', '.join('--' + n for n in CONTINUE_SETTINGS)} can)",
                    file=sys.stderr,
                )
                return 2
            run = TrainingRun.continue_from(
                args.continue_from, steps=overrides.get("steps"), precision=overrides.get("precision")
            )
        elif args.branch_from:
            run = TrainingRun.branch_from(args.branch_from, args.at, args.out, **overrides)  # out None: beside it
        else:
            run = TrainingRun(TrainConfig(**overrides), runs_dir=args.out or "runs")
    except (ConfigError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run.start()
    bar = tqdm(total=None, unit="step", disable=args.quiet, dynamic_ncols=True)
    try:
        while run.wait(0.5) in ACTIVE:
            snap = run.snapshot()
            bar.total = snap.total_steps
            bar.n = snap.step
            postfix = {"status": str(snap.status)}
            if snap.history.get("step"):
                postfix.update(d_loss=f"{snap.history['d_loss'][-1]:.3f}", g_loss=f"{snap.history['g_loss'][-1]:.3f}")
            if snap.images_per_second:
                postfix["img/s"] = f"{snap.images_per_second:.0f}"
            bar.set_postfix(postfix, refresh=False)
            bar.refresh()
    except KeyboardInterrupt:
        run.stop()
    run.wait()  # the thread to its end: event files closed, a worker's scratch folder removed
    snap = run.snapshot()
    bar.n = snap.step
    bar.close()
    if snap.status in (Status.FAILED, Status.DIVERGED):
        print(f"error: run {snap.status}: {snap.error}", file=sys.stderr)
        if snap.traceback and not args.quiet:
            print(snap.traceback, file=sys.stderr)
        if snap.run_dir:
            print(snap.run_dir)
        return 1
    print(f"{snap.status} at step {snap.step} ({snap.end_reason}) in {snap.elapsed_seconds:.0f} s", file=sys.stderr)
    if run.worker_role:
        print(f"{run.worker_role}: the chief wrote the run folder")
        return 0
    print(snap.run_dir)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from gan_core import export
    from gan_core.latent import fixed_noise, make_grid, save_png, to_uint8

    out = Path(args.out)
    if out.suffix not in (".png", ".npy", ".npz"):
        print(
            f"error: --out must end in .png (a grid), .npy (an array) or .npz (a dataset) (got {out})", file=sys.stderr
        )
        return 2
    most = export.MAX_IMAGES if out.suffix == ".npz" else MAX_SAMPLES
    if not 1 <= args.n <= most:
        print(f"error: --n must be between 1 and {most} for a {out.suffix} file (got {args.n})", file=sys.stderr)
        return 2
    try:
        sampler = export.load_sampler(args.source)
    except ValueError as e:  # a RunError: no generator there, or a model that is not one of our generators
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.class_ is not None and not sampler.conditional:
        print(
            f"error: --class needs a conditional generator, and {args.source} is unconditional "
            "(train one with --conditional true)",
            file=sys.stderr,
        )
        return 2
    if args.class_ is not None and not 0 <= args.class_ < sampler.num_classes:
        print(f"error: --class must be between 0 and {sampler.num_classes - 1} (got {args.class_})", file=sys.stderr)
        return 2
    if out.suffix == ".npz":
        most = export.max_images(sampler.image_shape)
        if args.n > most:
            size = "x".join(str(s) for s in sampler.image_shape)
            print(f"error: --n must be at most {most} for an .npz of {size} images (got {args.n})", file=sys.stderr)
            return 2
        images, labels = export.synthetic_dataset(sampler, args.n, args.seed, args.class_)
        out.write_bytes(export.npz_bytes(images, labels))
        if labels is not None:
            which = f"class {args.class_}" if args.class_ is not None else f"image i is class i % {sampler.num_classes}"
            print(f"note: labels saved with the images ({which})", file=sys.stderr)
        print(out)
        return 0
    # One class asked for, or every class in turn (0, 1, ..., K-1, 0, ...), or none for an unconditional generator.
    labels = args.class_ if args.class_ is not None else sampler.balanced_labels(args.n)
    images = sampler(fixed_noise(args.n, sampler.latent_dim, args.seed), labels)
    if out.suffix == ".png":
        in_turn = sampler.conditional and args.class_ is None and args.n >= sampler.num_classes
        save_png(make_grid(images, ncols=sampler.num_classes if in_turn else None), out)
    else:
        array = to_uint8(images)
        np.save(out, array[..., 0] if array.shape[-1] == 1 else array)
    if sampler.conditional and args.class_ is None:
        print(f"note: image i is class i % {sampler.num_classes} (--class K draws one class)", file=sys.stderr)
    print(out)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    return quality.run_score(args)


def cmd_presets(_args) -> int:
    from gan_core.config import DEFAULT_PRESET
    from gan_core.models import PRESETS

    for name, preset in PRESETS.items():
        print(f"{name}{' (default)' if name == DEFAULT_PRESET else ''}\n    {preset.description}")
    return 0


def cmd_datasets(_args) -> int:
    from gan_core.config import DEFAULT_DATASET
    from gan_core.data import DATASETS

    for name, description in DATASETS.items():
        print(f"{name}{' (default)' if name == DEFAULT_DATASET else ''}\n    {description}")
    return 0


def cmd_losses(_args) -> int:
    from gan_core.config import DEFAULT_LOSS
    from gan_core.losses import LOSSES

    for name, family in LOSSES.items():
        print(f"{name}{' (default)' if name == DEFAULT_LOSS else ''}\n    {family.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "train": cmd_train,
        "sample": cmd_sample,
        "score": cmd_score,
        "presets": cmd_presets,
        "datasets": cmd_datasets,
        "losses": cmd_losses,
    }
    return commands[args.command](args)


def exit_now(code: int) -> None:
    """End a multi-worker process without TensorFlow's teardown: its gRPC server has no clean shutdown
    ("Clean shutdown is not currently implemented", tensorflow/tensorflow#60706), so a worker that
    finished well would still abort at exit. Everything of the run is written and closed by then."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    code = main()
    from gan_core import distribute

    if distribute.started_multi_worker():
        exit_now(code)
    sys.exit(code)
