"""Headless CLI over the same engine as the dashboard.

    python -m gan_core train [--preset NAME --dataset NAME --steps N --max-seconds S ...] [--out runs]
    python -m gan_core sample RUN_DIR_OR_KERAS_FILE --n 64 --out grid.png|samples.npy
    python -m gan_core score RUN_DIR_OR_KERAS_FILE [--n 1000] [--real]
    python -m gan_core presets | datasets
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan_core", description="GAN Studio's headless training engine.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a GAN; prints the run folder")
    for field in knobs():
        kind, _optional = _flag_type(field)
        low, high = field.metadata.get("low"), field.metadata.get("high")
        bounds = f" [{low:g}..{high:g}]" if low is not None else ""
        preset_default = "rate" in field.name or field.name in ("beta_1", "precision", "jit_compile")
        default = field.default if field.default is not None else "the preset's" if preset_default else "unset"
        choices = field.metadata.get("choices")
        train.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_bool if kind is bool else kind,
            default=None,
            choices=choices,
            metavar=("|".join(choices) if choices else field.name.upper()) if kind is not bool else "true|false",
            help=f"{field.metadata['help']}{bounds} (default: {default})",
        )
    train.add_argument("--out", default="runs", help="folder that holds run folders (default: runs)")
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="continue this run from its latest checkpoint (--steps sets a new total)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = commands.add_parser("sample", help="draw images from a trained generator")
    sample.add_argument("source", help="a run folder (runs/<run-id>) or a generator .keras file")
    sample.add_argument("--n", type=int, default=64, help="how many images (default: 64)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    sample.add_argument("--out", default="grid.png", help="grid.png for a PNG grid, or samples.npy for a uint8 array")

    score = commands.add_parser("score", help="quality figures of a trained generator (FD-digits, score, coverage)")
    score.add_argument("rest", nargs=argparse.REMAINDER, help="RUN_DIR_OR_KERAS_FILE [--n 1000] [--real]")

    commands.add_parser("presets", help="list the architecture presets")
    commands.add_parser("datasets", help="list the datasets")
    return parser


RESUME_SETTINGS = ("steps", "precision")  # what --resume may change: how long, and the arithmetic for this machine


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gan_core.engine import TrainingRun
    from gan_core.runs import RunError

    overrides = {f.name: getattr(args, f.name) for f in knobs() if getattr(args, f.name) is not None}
    try:
        if args.resume:
            fixed = sorted(set(overrides) - set(RESUME_SETTINGS))
            if fixed:
                flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
                print(
                    f"error: --resume continues a run with its own settings; {flags} cannot change "
                    f"(only {', '.join('--' + n for n in RESUME_SETTINGS)} can)",
                    file=sys.stderr,
                )
                return 2
            run = TrainingRun.resume_from(
                args.resume, steps=overrides.get("steps"), precision=overrides.get("precision")
            )
        else:
            run = TrainingRun(TrainConfig(**overrides), runs_dir=args.out)
    except (ConfigError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run.start()
    bar = tqdm(total=None, unit="step", disable=args.quiet, dynamic_ncols=True)
    try:
        while run.wait(0.5) in ("compiling", "running", "paused"):
            snap = run.snapshot()
            bar.total = snap["total_steps"]
            bar.n = snap["step"]
            history = snap["history"]
            postfix = {"status": snap["status"]}
            if history["step"]:
                postfix.update(d_loss=f"{history['d_loss'][-1]:.3f}", g_loss=f"{history['g_loss'][-1]:.3f}")
            if snap["images_per_second"]:
                postfix["img/s"] = f"{snap['images_per_second']:.0f}"
            bar.set_postfix(postfix, refresh=False)
            bar.refresh()
    except KeyboardInterrupt:
        run.stop()
        run.wait()
    snap = run.snapshot()
    bar.n = snap["step"]
    bar.close()
    if snap["status"] in ("failed", "diverged"):
        print(f"error: run {snap['status']}: {snap['error']}", file=sys.stderr)
        if snap["traceback"] and not args.quiet:
            print(snap["traceback"], file=sys.stderr)
        if snap["run_dir"]:
            print(snap["run_dir"])
        return 1
    print(
        f"{snap['status']} at step {snap['step']} ({snap['end_reason']}) in {snap['elapsed_seconds']:.0f} s",
        file=sys.stderr,
    )
    print(snap["run_dir"])
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from gan_core.latent import fixed_noise, make_grid, save_png, to_uint8
    from gan_core.runs import RunError, load_generator

    if not 1 <= args.n <= 10_000:
        print(f"error: --n must be between 1 and 10000 (got {args.n})", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.suffix not in (".png", ".npy"):
        print(f"error: --out must end in .png (a grid) or .npy (an array) (got {out})", file=sys.stderr)
        return 2
    try:
        generator = load_generator(args.source)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    noise = fixed_noise(args.n, generator.input_shape[-1], args.seed)
    images = np.concatenate(
        [np.asarray(generator(noise[i : i + 256], training=False), np.float32) for i in range(0, args.n, 256)]
    )
    if out.suffix == ".png":
        save_png(make_grid(images), out)
    else:
        array = to_uint8(images)
        np.save(out, array[..., 0] if array.shape[-1] == 1 else array)
    print(out)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from gan_core.quality import main_score

    return main_score(args.rest)


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "train": cmd_train,
        "sample": cmd_sample,
        "score": cmd_score,
        "presets": cmd_presets,
        "datasets": cmd_datasets,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
