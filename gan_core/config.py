"""TrainConfig: every knob of a training run, its default and its valid range."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_PRESET = "dense-bn-aug"
DEFAULT_DATASET = "mnist-sample"
DEFAULT_LOSS = "bce"
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("auto", "mirrored", "multi-worker")  # gan_core.distribute
LOSS_NAMES = ("bce", "minimax", "lsgan", "hinge", "wgan-gp")  # losses.LOSSES, without importing TensorFlow here
# Settings a run can change while it trains (TrainingRun.steer, GAN.steer); the others shape the step.
STEERABLE = ("g_learning_rate", "d_learning_rate", "d_updates", "gp_weight", "ema")
# Settings renamed since earlier run folders were written: old name -> new name.
RENAMED = {"d_steps": "d_updates"}
CODE_BALANCE = 1e-3  # per step: the codes' biases move by up to ~1 in 1,000 steps (README, "Better digits")
CODE_WEIGHT = 0.2  # the code's loss against D's and G's own (README, "Better digits": 0.1 to 1 tried)


class ConfigError(ValueError):
    """Raised by `TrainConfig.validate()`; `problems` holds one message per bad field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _knob(default: Any, help: str, low: float | None = None, high: float | None = None, **kwargs):
    """A dataclass field that carries its help text and valid range for the CLI, UI and validate()."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, **kwargs})


@dataclass
class TrainConfig:
    # What to train on what
    preset: str = _knob(DEFAULT_PRESET, "architecture preset (see `python -m gan_core presets`)")
    dataset: str = _knob(DEFAULT_DATASET, "dataset (see `python -m gan_core datasets`)")
    npz_path: str | None = _knob(None, "path of the .npz file when dataset is 'npz'")
    # Model and optimisation; None means "the loss family's value, else the preset's"
    loss: str = _knob(DEFAULT_LOSS, "loss family (see `python -m gan_core losses`)", choices=LOSS_NAMES)
    conditional: bool = _knob(False, "feed the class label to both networks (datasets with labels only)")
    ema: float = _knob(
        0.999,
        "decay of the generator's moving average, used for samples, quality and export; 0 turns it off",
        0.0,
        0.9999,
    )
    augment: bool | None = _knob(
        None, "shift real and fake images by up to 1/8 of their size before D (DiffAugment; default: the preset's)"
    )
    latent_dim: int = _knob(100, "size of the generator's noise vector", 1, 1024)
    codes: int | None = _knob(
        None,
        "values of a categorical code carried by the noise, which a second head on D learns to recover "
        "(InfoGAN; unconditional runs only); 0: no code (default: the preset's, none for a conditional run)",
        0,
        100,
    )
    code_weight: float | None = _knob(
        None, "weight of the code's loss in D's and G's losses (codes only; default: the preset's)", 0.0, 100.0
    )
    code_balance: float = _knob(
        CODE_BALANCE,
        "how fast each code's share of the noise follows how real D finds that code's digits, per step "
        "(codes only); 0 keeps the codes equally likely",
        0.0,
        1.0,
    )
    batch_size: int | None = _knob(None, "images per step (default: the preset's)", 1, 4096)
    g_learning_rate: float | None = _knob(
        None, "generator Adam learning rate (default: the loss's or preset's)", 1e-6, 1.0
    )
    d_learning_rate: float | None = _knob(
        None, "discriminator Adam learning rate (default: the loss's or preset's)", 1e-6, 1.0
    )
    beta_1: float | None = _knob(None, "Adam beta_1 for both networks (default: the loss's or preset's)", 0.0, 0.999)
    beta_2: float | None = _knob(None, "Adam beta_2 for both networks (default: the loss's, else 0.999)", 0.0, 0.9999)
    d_updates: int | None = _knob(
        None,
        "discriminator updates per step, each on its own batch (default: the loss's, 5 for wgan-gp, else 1)",
        1,
        10,
    )
    gp_weight: float = _knob(10.0, "weight of the gradient penalty (wgan-gp only)", 0.0, 1000.0)
    # How long
    # A step is one generator update with its discriminator updates.
    steps: int = _knob(
        7_500,
        "total steps (ignored when epochs is set); the default takes about 3 minutes on 2 CPU cores",
        1,
        10_000_000,
    )
    epochs: int | None = _knob(None, "train this many passes over the data instead of `steps`", 1, 100_000)
    max_seconds: float | None = _knob(None, "end the run cleanly after this much wall time", 1, 7 * 24 * 3600)
    seed: int = _knob(0, "random seed (weights, data order, the fixed sample noise)", 0, 2**31 - 1)
    # How often
    sample_every: int = _knob(250, "steps between sample grids (kept in memory and written as PNG)", 1, 1_000_000)
    metrics_every: int = _knob(25, "steps between metric records (averaged over the interval)", 1, 100_000)
    checkpoint_every: int = _knob(2_000, "steps between checkpoints", 1, 10_000_000)
    quality_every: int = _knob(
        1_000,
        "steps between quality figures (FD-digits, classifier score, class coverage); 0 turns them off",
        0,
        10_000_000,
    )
    grid_size: int = _knob(64, "images in the sample grid", 1, 256)
    jit_compile: bool | None = _knob(None, "compile the training step with XLA (default: the preset's choice)")
    strategy: str = _knob(
        "auto",
        "where the step runs: auto (TensorFlow's default device: one GPU if there is one, else the CPU) or "
        "mirrored (tf.distribute.MirroredStrategy over every local GPU, else every logical CPU device) or "
        "multi-worker (tf.distribute.MultiWorkerMirroredStrategy over the machines TF_CONFIG names: the same "
        "command on each); batch_size is the global batch, split across them",
        choices=STRATEGIES,
    )
    precision: str | None = _knob(
        None,
        "arithmetic of the training step: float32, mixed_bfloat16 (bfloat16 maths, float32 weights) or "
        "mixed_float16 (float16 maths, float32 weights, losses scaled against underflow); default: the "
        "preset's choice on this machine (CPU: bfloat16 only where it computes it natively; GPU: bfloat16 "
        "from compute capability 8.0, float16 on 7.x, float32 before)",
        choices=PRECISIONS,
    )

    # ------------------------------------------------------------------ helpers
    def problems(self) -> list[str]:
        """Every invalid setting, as a message a person can act on; empty when all is well."""
        from gan_core.data import DATASETS
        from gan_core.losses import LOSSES
        from gan_core.models import PRESETS

        out: list[str] = []
        for name, known in (("preset", PRESETS), ("dataset", DATASETS), ("loss", LOSSES)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in known:  # a list or a dict is not a name either
                out.append(f"unknown {name} {value!r}; choose one of: {', '.join(known)}")
        for name in ("conditional", "augment", "jit_compile"):
            value = getattr(self, name)
            if not isinstance(value, bool) and (value is not None or name == "conditional"):
                out.append(f"{name} must be true or false (got {value!r})")
        if self.strategy not in STRATEGIES:
            out.append(f"unknown strategy {self.strategy!r}; choose one of: {', '.join(STRATEGIES)}")
        if self.precision is not None and self.precision not in PRECISIONS:
            out.append(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self._whole_in_range("codes") and self.codes:  # combinations, once each value is valid alone
            if self._whole_in_range("latent_dim") and self.codes > self.latent_dim:
                out.append(
                    f"codes must be at most latent_dim ({self.latent_dim}): the code is read off the noise "
                    f"(got {self.codes})"
                )
            if self.conditional is True:
                out.append(
                    "codes and conditional are two ways of telling G which digit to draw: a code it finds "
                    "itself, or the data's labels; set codes to 0 for a conditional run"
                )
        if self.npz_path is not None and not isinstance(self.npz_path, str):
            out.append(f"npz_path must be the path of your .npz file as text (got {self.npz_path!r})")
        elif self.dataset == "npz" and not self.npz_path:
            out.append("dataset 'npz' needs npz_path (the path of your .npz file)")
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = f.metadata.get("low"), f.metadata.get("high")
            if low is None or (value is None and "None" in f.type):  # None: the preset's or the family's value
                continue
            kind = int if f.type.startswith("int") else float
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not float(value).is_integer())
            ):
                out.append(f"{f.name} must be a{'n integer' if kind is int else ' number'} (got {value!r})")
            elif value != value or not (low <= value <= high):  # value != value: NaN
                out.append(f"{f.name} must be between {_fmt(low)} and {_fmt(high)} (got {value!r})")
        return out

    def _whole_in_range(self, name: str) -> bool:
        """Whether integer knob `name` holds a whole number within its range."""
        value, meta = getattr(self, name), next(f.metadata for f in fields(self) if f.name == name)
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and float(value).is_integer()
            and meta["low"] <= value <= meta["high"]
        )

    def validate(self) -> TrainConfig:
        """Raise `ConfigError` naming every invalid setting; return self when all is well."""
        problems = self.problems()
        if problems:
            raise ConfigError(problems)
        return self

    def resolved(self) -> TrainConfig:
        """A validated copy with the optimiser settings filled in: what the config says, else the
        loss family's (WGAN-GP needs its own), else the preset's. Precision and XLA stay as given:
        they depend on the machine, and the engine decides them where it builds the networks."""
        from gan_core.losses import LOSSES
        from gan_core.models import PRESETS

        self.validate()
        preset, family = PRESETS[self.preset], LOSSES[self.loss].defaults

        def pick(value, *fallbacks):
            return next(v for v in (value, *fallbacks) if v is not None)

        whole = {  # 64.0 from a JSON file or a form trains as 64
            f.name: int(v)
            for f in fields(self)
            if f.type.startswith("int") and isinstance(v := getattr(self, f.name), float)
        }
        config = dataclasses.replace(self, **whole)
        # The preset's code only where it fits: not with labels (they tell G the digit), not in a smaller noise.
        code_fits = not config.conditional and preset.codes <= config.latent_dim
        return dataclasses.replace(
            config,
            batch_size=pick(config.batch_size, preset.batch_size),
            augment=pick(config.augment, preset.augment),
            codes=pick(config.codes, preset.codes if code_fits else 0),
            code_weight=pick(config.code_weight, preset.code_weight),
            g_learning_rate=pick(config.g_learning_rate, family.learning_rate, preset.g_learning_rate),
            d_learning_rate=pick(config.d_learning_rate, family.learning_rate, preset.d_learning_rate),
            beta_1=pick(config.beta_1, family.beta_1, preset.beta_1),
            beta_2=pick(config.beta_2, family.beta_2, 0.999),
            d_updates=pick(config.d_updates, family.d_updates),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = {RENAMED.get(name, name): value for name, value in data.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                [f"unknown setting {name!r}; valid settings: {', '.join(sorted(known))}" for name in unknown]
            )
        return cls(**data)


def knobs() -> list[dataclasses.Field]:
    """The TrainConfig fields, in declaration order (for the CLI and the settings form)."""
    return list(fields(TrainConfig))


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
