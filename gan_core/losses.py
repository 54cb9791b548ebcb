"""Loss families: what D and G minimise, an optional regulariser, and the step's metrics.

Each family is one small object; `LOSSES` maps `TrainConfig.loss` to it. The GAN step (gan.py)
calls it with D's raw outputs in float32, one value per example, and averages over the global
batch itself, so a family never needs to know how many replicas share the batch:

    d_loss(real_out, fake_out)   per-example loss of D (the critic, for WGAN-GP)
    g_loss(fake_out)             per-example loss of G
    penalty(critic, real, fake)  a scalar regulariser added to D's loss (WGAN-GP), or None
    metrics(real_out, fake_out, penalty)  scalars named in `metric_names` (after d_loss, g_loss)

Adding a family is one class and one line in `LOSSES`. D's outputs are logits except for the
seeds' BCE recipes whose discriminator ends in a sigmoid: `from_logits=False` tells BCE and
minimax that they are probabilities. Every other family needs raw outputs (`needs_logits`), and
models.py builds such presets without their sigmoid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

# Every family reports these first: the divergence guard and the loss chart read them.
LOSS_METRICS = ("d_loss", "g_loss")


@dataclass(frozen=True)
class Chart:
    """A chart the Train page draws for a family: a title, the metric names it plots, and their axis."""

    title: str
    keys: tuple[str, ...]
    y_title: str
    y_range: tuple[float, float] | None = None


# The chart a run with a categorical code (TrainConfig.codes, InfoGAN) adds to its family's.
CODE_CHART = Chart("Code read back (InfoGAN)", ("code_accuracy",), "accuracy", (0.0, 1.02))


@dataclass(frozen=True)
class Defaults:
    """Optimiser settings a family needs to train at all; None leaves the preset's value."""

    learning_rate: float | None = None
    beta_1: float | None = None
    beta_2: float | None = None
    d_updates: int = 1


class LossFamily:
    """Non-saturating binary cross-entropy (Goodfellow et al. 2014, section 3): the seeds' loss."""

    name = "bce"
    description = "non-saturating binary cross-entropy (the seeds' loss and the default)"
    needs_logits = False  # True: D must output raw scores, not sigmoid probabilities
    metric_names: tuple[str, ...] = ("d_acc_real", "d_acc_fake", "d_real", "d_fake")
    charts: tuple[Chart, ...] = (
        Chart("Losses", LOSS_METRICS, "loss"),
        Chart("D accuracy", ("d_acc_real", "d_acc_fake"), "accuracy", (0.0, 1.02)),
        Chart("D outputs (mean probability)", ("d_real", "d_fake"), "D(·)", (0.0, 1.02)),
    )
    defaults = Defaults()

    def __init__(self, from_logits: bool = True):
        self.from_logits = from_logits

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric the step reports, in order."""
        return LOSS_METRICS + self.metric_names

    # --- the losses, per example -------------------------------------------------------------
    def _bce(self, target: float, outputs: tf.Tensor) -> tf.Tensor:
        """Per-example binary cross-entropy of D's outputs (logits or probabilities) against 0 or 1."""
        if self.from_logits:
            return tf.nn.sigmoid_cross_entropy_with_logits(tf.fill(tf.shape(outputs), target), outputs)[:, 0]
        p = tf.clip_by_value(outputs[:, 0], 1e-7, 1.0 - 1e-7)  # as keras.losses.binary_crossentropy
        return -tf.math.log(p) if target == 1.0 else -tf.math.log(1.0 - p)

    def d_loss(self, real_out: tf.Tensor, fake_out: tf.Tensor) -> tf.Tensor:
        # D wants real -> 1 and fake -> 0; half of each, as when both halves are one batch.
        return 0.5 * (self._bce(1.0, real_out) + self._bce(0.0, fake_out))

    def g_loss(self, fake_out: tf.Tensor) -> tf.Tensor:
        # G wants D to call its images real.
        return self._bce(1.0, fake_out)

    def penalty(self, critic: Callable[[tf.Tensor], tf.Tensor], real: tf.Tensor, fake: tf.Tensor) -> tf.Tensor | None:
        return None

    # --- what the step reports ---------------------------------------------------------------
    def probability(self, outputs: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(outputs) if self.from_logits else outputs

    def realness(self, outputs: tf.Tensor) -> tf.Tensor:
        """(N,) how real D finds each image, on the logit's scale: for BCE's best D, log(p_data / p_g)
        (Goodfellow et al. 2014, prop. 1). Probabilities are turned back into logits; the other
        families' raw scores grow with realness too, which is all GAN._balance_codes needs."""
        if self.from_logits:
            return outputs[:, 0]
        p = tf.clip_by_value(outputs[:, 0], 1e-7, 1.0 - 1e-7)
        return tf.math.log(p) - tf.math.log(1.0 - p)

    def metrics(self, real_out: tf.Tensor, fake_out: tf.Tensor, penalty=None) -> dict[str, tf.Tensor]:
        p_real, p_fake = self.probability(real_out), self.probability(fake_out)
        return {
            "d_acc_real": _share(p_real > 0.5),
            "d_acc_fake": _share(p_fake < 0.5),
            "d_real": tf.reduce_mean(p_real),
            "d_fake": tf.reduce_mean(p_fake),
        }


BCE = LossFamily


class Minimax(LossFamily):
    """The original minimax game: G minimises log(1 - D(G(z))), which saturates early on."""

    name = "minimax"
    description = "the original minimax loss: G minimises log(1 - D(G(z))) (saturates when D wins early)"

    def g_loss(self, fake_out: tf.Tensor) -> tf.Tensor:
        # log(1 - D(G(z))) = -BCE(0, D(G(z))): G pushes D's verdict on its images away from 0.
        return -self._bce(0.0, fake_out)


class LeastSquares(LossFamily):
    """LSGAN (Mao et al. 2017), targets a=0 (fake), b=1 (real), c=1 (what G wants)."""

    name = "lsgan"
    description = "least squares (LSGAN): D regresses real to 1 and fake to 0; G pulls its images to 1"
    needs_logits = True
    metric_names = ("d_real", "d_fake")
    charts = (
        Chart("Losses", LOSS_METRICS, "loss"),
        Chart("D outputs (targets: real 1, fake 0)", ("d_real", "d_fake"), "D(·)"),
    )

    def d_loss(self, real_out, fake_out):
        return 0.5 * (tf.square(real_out[:, 0] - 1.0) + tf.square(fake_out[:, 0]))

    def g_loss(self, fake_out):
        return 0.5 * tf.square(fake_out[:, 0] - 1.0)

    def metrics(self, real_out, fake_out, penalty=None):
        return {"d_real": tf.reduce_mean(real_out), "d_fake": tf.reduce_mean(fake_out)}


class Hinge(LossFamily):
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): D wants real >= 1 and fake <= -1."""

    name = "hinge"
    description = "hinge: D wants real scores >= 1 and fake <= -1; G raises its images' scores"
    needs_logits = True
    metric_names = ("d_real", "d_fake", "margin_real", "margin_fake")
    charts = (
        Chart("Losses", LOSS_METRICS, "loss"),
        Chart("D scores (margins at +1 and -1)", ("d_real", "d_fake"), "D(·)"),
        Chart("Share beyond the margin (no loss)", ("margin_real", "margin_fake"), "share", (0.0, 1.02)),
    )

    def d_loss(self, real_out, fake_out):
        return tf.nn.relu(1.0 - real_out[:, 0]) + tf.nn.relu(1.0 + fake_out[:, 0])

    def g_loss(self, fake_out):
        return -fake_out[:, 0]

    def metrics(self, real_out, fake_out, penalty=None):
        return {
            "d_real": tf.reduce_mean(real_out),
            "d_fake": tf.reduce_mean(fake_out),
            "margin_real": _share(real_out >= 1.0),
            "margin_fake": _share(fake_out <= -1.0),
        }


class WassersteinGP(LossFamily):
    """WGAN-GP (Gulrajani et al. 2017): a critic without sigmoid, a gradient penalty of weight
    `gp_weight` on random interpolates between real and fake (alpha drawn per example), five
    critic updates per generator update, and Adam(1e-4, beta_1 0, beta_2 0.9) as in the paper."""

    name = "wgan-gp"
    description = "Wasserstein with gradient penalty (WGAN-GP): a critic, 5 critic updates per step, Adam(1e-4, 0, 0.9)"
    needs_logits = True
    metric_names = ("critic_real", "critic_fake", "wasserstein", "gradient_penalty")
    charts = (
        Chart("Losses", LOSS_METRICS, "loss"),
        Chart("Critic scores", ("critic_real", "critic_fake"), "critic(·)"),
        Chart("Wasserstein estimate and gradient penalty", ("wasserstein", "gradient_penalty"), "value"),
    )
    defaults = Defaults(learning_rate=1e-4, beta_1=0.0, beta_2=0.9, d_updates=5)

    def __init__(self, from_logits: bool = True, gp_weight: float = 10.0):
        super().__init__(from_logits)
        # A variable the compiled step reads, so that a run can be steered without recompiling it.
        self.gp_weight = tf.Variable(float(gp_weight), trainable=False, name="gp_weight")

    def d_loss(self, real_out, fake_out):
        return fake_out[:, 0] - real_out[:, 0]

    def g_loss(self, fake_out):
        return -fake_out[:, 0]

    def penalty(self, critic, real, fake):
        """gp_weight * E[(||grad critic(x_hat)|| - 1)^2], x_hat on the line from a real to a fake image."""
        alpha = tf.random.uniform([tf.shape(real)[0]] + [1] * (len(real.shape) - 1), dtype=real.dtype)
        interpolates = real + alpha * (tf.cast(fake, real.dtype) - real)
        with tf.GradientTape() as tape:
            tape.watch(interpolates)
            scores = critic(interpolates)
        grads = tape.gradient(scores, interpolates)
        norms = tf.sqrt(tf.reduce_sum(tf.square(tf.cast(grads, tf.float32)), axis=range(1, len(real.shape))) + 1e-12)
        return self.gp_weight * tf.square(norms - 1.0)  # per example, averaged by the step

    def metrics(self, real_out, fake_out, penalty=None):
        critic_real, critic_fake = tf.reduce_mean(real_out), tf.reduce_mean(fake_out)
        return {
            "critic_real": critic_real,
            "critic_fake": critic_fake,
            "wasserstein": critic_real - critic_fake,
            "gradient_penalty": tf.constant(0.0) if penalty is None else tf.reduce_mean(penalty),
        }


def _share(condition: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(condition, tf.float32))


LOSSES: dict[str, type[LossFamily]] = {
    family.name: family for family in (BCE, Minimax, LeastSquares, Hinge, WassersteinGP)
}
DEFAULT_LOSS = "bce"


def make_loss(name: str, *, from_logits: bool = True, gp_weight: float = 10.0) -> LossFamily:
    """The loss family called `name` (see `LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    family = LOSSES[name]
    if family is WassersteinGP:
        return family(from_logits, gp_weight=gp_weight)
    return family(from_logits)
