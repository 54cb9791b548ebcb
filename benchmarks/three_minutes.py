"""The README's 3-minute table: train each setting for 180 s on this machine, then score it.

    python benchmarks/three_minutes.py                      # every row below, one after another
    python benchmarks/three_minutes.py --rows default,default-seed1 --seconds 180

Each row runs `python -m gan_core train ... --max-seconds S --steps 1000000` in its own process
(as a person would), then `python -m gan_core score RUN` on what it exported (G's average when
averaging is on). It prints one line per row and a Markdown table at the end. Run it on an
otherwise quiet machine: the figures are only as steady as the CPU they share.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROWS: dict[str, list[str]] = {
    "default": [],
    "default-seed1": ["--seed", "1"],
    "no-code": ["--codes", "0"],
    "no-code-seed1": ["--codes", "0", "--seed", "1"],
    "codes-10": ["--codes", "10"],
    "codes-10-seed1": ["--codes", "10", "--seed", "1"],
    "codes-10-weight-0.1": ["--codes", "10", "--code-weight", "0.1"],
    "codes-10-weight-0.1-seed1": ["--codes", "10", "--code-weight", "0.1", "--seed", "1"],
    "codes-10-weight-0.05": ["--codes", "10", "--code-weight", "0.05"],
    "codes-10-weight-0.05-seed1": ["--codes", "10", "--code-weight", "0.05", "--seed", "1"],
    "codes-10-uniform": ["--codes", "10", "--code-balance", "0"],
    "codes-10-uniform-seed1": ["--codes", "10", "--code-balance", "0", "--seed", "1"],
    "code-weight-0.1": ["--code-weight", "0.1"],
    "code-weight-0.1-seed1": ["--code-weight", "0.1", "--seed", "1"],
    "codes-20": ["--codes", "20"],
    "codes-20-seed1": ["--codes", "20", "--seed", "1"],
    "code-weight-0.5": ["--code-weight", "0.5"],
    "conditional": ["--conditional", "true"],
    "conditional-seed1": ["--conditional", "true", "--seed", "1"],
    "loss-minimax": ["--loss", "minimax"],
    "loss-lsgan": ["--loss", "lsgan"],
    "loss-lsgan-2e-4": ["--loss", "lsgan", "--g-learning-rate", "2e-4", "--d-learning-rate", "2e-4"],
    "loss-hinge": ["--loss", "hinge"],
    "loss-wgan-gp": ["--loss", "wgan-gp"],
    "preset-dense-bn": ["--preset", "dense-bn"],
    "preset-dense-relu": ["--preset", "dense-relu"],
    "preset-dense-conv": ["--preset", "dense-conv"],
    "preset-dcgan": ["--preset", "dcgan"],
}
FIGURES = {
    "fd_digits": r"FD-digits \(lower is better\)\s+([\d.]+)",
    "score": r"classifier score \(max 10\)\s+([\d.]+)",
    "classes": r"classes covered\s+(\d+)/10",
    "class_accuracy": r"class accuracy \(as asked\)\s+([\d.]+%)",
}


def run_row(name: str, flags: list[str], seconds: float, out: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "gan_core",
        "train",
        "--quiet",
        "--out",
        str(out),
        "--max-seconds",
        str(seconds),
        "--steps",
        "1000000",
        *flags,
    ]
    t = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - t
    if done.returncode != 0:
        return {"row": name, "error": done.stderr.strip().splitlines()[-1:]}
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    training = [r for r in metrics if "d_loss" in r]
    config = json.loads((run_dir / "config.json").read_text())
    steps = training[-1]["step"]
    rates = [r["images_per_second"] for r in training if r.get("images_per_second")]
    scored = subprocess.run([sys.executable, "-m", "gan_core", "score", str(run_dir)], capture_output=True, text=True)
    figures = {k: (m.group(1) if (m := re.search(p, scored.stdout)) else None) for k, p in FIGURES.items()}
    return {
        "row": name,
        "command": " ".join(["python -m gan_core train", f"--max-seconds {seconds:g} --steps 1000000", *flags]),
        "preset": config["preset"],
        "loss": config["loss"],
        "conditional": config["conditional"],
        "steps": steps,
        "img_s": round(sum(rates) / len(rates)) if rates else None,
        "wall_s": round(wall),
        **figures,
        "run_dir": str(run_dir),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/three_minutes.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from: {', '.join(ROWS)}")
    parser.add_argument("--seconds", type=float, default=180.0, help="training time per row (default: 180)")
    parser.add_argument("--out", default="runs/three-minutes", help="where the runs are written")
    args = parser.parse_args(argv)
    names = [n for n in args.rows.split(",") if n]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    results = []
    for name in names:
        result = run_row(name, ROWS[name], args.seconds, Path(args.out))
        results.append(result)
        print(json.dumps(result), flush=True)
    print("\n| row | preset | loss | steps | img/s | FD-digits | score | classes | class accuracy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['row']} | error: {r['error']} |")
            continue
        print(
            f"| {r['row']} | {r['preset']} | {r['loss']} | {r['steps']:,} | {r['img_s']:,} | {r['fd_digits']} "
            f"| {r['score']} | {r['classes']}/10 | {r['class_accuracy'] or '–'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
