"""The GAN step: one compiled function that updates D on real and fake images, then G through D.

By default one forward pass of G and D serves both updates (as in seed 002, the TensorFlow DCGAN
tutorial): on two CPU cores that is 10-20% faster than the seeds 001/003 order of a separate
generator pass after D's update, which a preset can ask for (`Preset.shared_forward=False`).

Why not the seeds' loop: in Keras 3 the `trainable` flag that counts is the one in force when a
model's train function is first built, not the one at `compile()`. The seeds' trick of setting
`D.trainable = False` after compiling D freezes D for good when ported literally, and G then
trains against a fixed D and draws noise. Here "frozen D" simply means the generator step takes
gradients with respect to G's variables only.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# What one step reports, in this order; the names are used by the metrics file, charts and tests.
METRICS = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake")


def bce(labels: tf.Tensor, outputs: tf.Tensor, from_logits: bool) -> tf.Tensor:
    """Mean binary cross-entropy of D's outputs (logits or probabilities) against 0/1 labels."""
    return tf.reduce_mean(keras.losses.binary_crossentropy(labels, outputs, from_logits=from_logits))


def discriminator_loss(real_output, fake_output, from_logits: bool) -> tf.Tensor:
    """D wants real -> 1 and fake -> 0; the mean of the two halves, as when both are one batch."""
    real_loss = bce(tf.ones_like(real_output), real_output, from_logits)
    fake_loss = bce(tf.zeros_like(fake_output), fake_output, from_logits)
    return 0.5 * (real_loss + fake_loss)


def generator_loss(fake_output, from_logits: bool) -> tf.Tensor:
    """Non-saturating loss: G wants D to call its images real."""
    return bce(tf.ones_like(fake_output), fake_output, from_logits)


class GAN:
    """Owns both networks and both optimisers and one compiled `train_step(real_images)`.

    `real_images` holds `d_steps * batch_size` images: each discriminator update takes its own
    slice. Metrics are summed into variables on the device; `read_metrics()` pulls their mean
    since the last read, so nothing leaves the graph on steps nobody looks at.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        latent_dim: int,
        from_logits: bool,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        d_steps: int = 1,
        seed: int = 0,
        jit_compile: bool = True,
        shared_forward: bool = True,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.from_logits = from_logits
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.d_steps = d_steps
        self.shared_forward = shared_forward  # False: G's update takes its own pass after D's (seeds 001/003)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Build the optimisers' slots now: variables must not be created inside the compiled step.
        g_optimizer.build(generator.trainable_variables)
        d_optimizer.build(discriminator.trainable_variables)
        self._sums = tf.Variable(tf.zeros(len(METRICS)), trainable=False, name="metric_sums")
        self._count = tf.Variable(0, trainable=False, name="metric_count")
        self._first_nonfinite = tf.Variable(-1, dtype=tf.int64, trainable=False, name="first_nonfinite")
        self.steps_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_done")
        self.train_step = tf.function(self._train_step, jit_compile=jit_compile)
        # Without XLA for the whole step, XLA still fuses the optimisers' updates: each is a dozen
        # small elementwise ops on every weight (12-14% faster for dense-bn in bfloat16, measured in turns).
        self._apply_d = self._fused_update(d_optimizer, discriminator, enabled=not jit_compile)
        self._apply_g = self._fused_update(g_optimizer, generator, enabled=not jit_compile)
        self._train_steps = tf.function(self._train_steps_loop)

    @staticmethod
    def _fused_update(optimizer, model, enabled: bool):
        """grads -> optimizer update of `model`'s trainable variables, compiled with XLA when enabled."""
        variables = model.trainable_variables

        def apply(grads):
            optimizer.apply_gradients(zip(grads, variables))

        return tf.function(apply, jit_compile=True) if enabled else apply

    def train_steps(self, batches, steps: int) -> None:
        """`steps` training steps on batches from the tf.data iterator `batches`, in one call.

        The loop runs inside the graph: Python dispatch and the iterator's hand-off cost about
        a tenth of a dense preset's step on two cores, and this pays them once per call."""
        self._train_steps(batches, tf.constant(steps, tf.int32))

    def _train_steps_loop(self, batches, steps):
        for _ in tf.range(steps):
            self.train_step(next(batches))

    def discriminate(self, images: tf.Tensor) -> tf.Tensor:
        """D's outputs in float32, whatever precision D computes in: losses and metrics need it."""
        return tf.cast(self.discriminator(images, training=True), tf.float32)

    def probability(self, outputs: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(outputs) if self.from_logits else outputs

    def _discriminator_step(self, real: tf.Tensor, batch_size) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """One update of D on `real` and on fresh fakes; returns (d_loss, real_output, fake_output)."""
        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            real_output = self.discriminate(real)
            fake_output = self.discriminate(fake)
            d_loss = discriminator_loss(real_output, fake_output, self.from_logits)
        self._apply_d(tape.gradient(d_loss, self.discriminator.trainable_variables))
        return d_loss, real_output, fake_output

    def _train_step(self, real_images: tf.Tensor) -> dict[str, tf.Tensor]:
        batch_size = tf.shape(real_images)[0] // self.d_steps
        shared = self.shared_forward
        real_slices = [real_images[i * batch_size : (i + 1) * batch_size] for i in range(self.d_steps)]

        # Train the discriminator (the last update joins the generator's pass when it is shared)
        for real in real_slices[:-1] if shared else real_slices:
            d_loss, real_output, fake_output = self._discriminator_step(real, batch_size)

        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        if shared:
            # One forward pass serves both updates, as in seed 002: D's gradients come from d_loss;
            # G's come from g_loss through D, whose weights g_loss never updates (the "frozen" D).
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self.generator(noise, training=True)
                real_output = self.discriminate(real_slices[-1])
                fake_output = self.discriminate(fake)
                d_loss = discriminator_loss(real_output, fake_output, self.from_logits)
                g_loss = generator_loss(fake_output, self.from_logits)
            d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
            g_grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
            self._apply_d(d_grads)
        else:
            # Train the generator through the just-updated D with fresh noise (seeds 001 and 003)
            with tf.GradientTape() as g_tape:
                g_loss = generator_loss(self.discriminate(self.generator(noise, training=True)), self.from_logits)
            g_grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
        # (do not update the discriminator's weights)
        self._apply_g(g_grads)

        p_real, p_fake = self.probability(real_output), self.probability(fake_output)
        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_acc_real": tf.reduce_mean(tf.cast(p_real > 0.5, tf.float32)),
            "d_acc_fake": tf.reduce_mean(tf.cast(p_fake < 0.5, tf.float32)),
            "d_real": tf.reduce_mean(p_real),
            "d_fake": tf.reduce_mean(p_fake),
        }
        stacked = tf.stack([tf.cast(values[k], tf.float32) for k in METRICS])
        self._sums.assign_add(stacked)
        self._count.assign_add(1)
        finite = tf.reduce_all(tf.math.is_finite(stacked[:2]))
        self._first_nonfinite.assign(
            tf.where(finite | (self._first_nonfinite >= 0), self._first_nonfinite, self.steps_done + 1)
        )
        self.steps_done.assign_add(1)
        return values

    def read_metrics(self) -> dict[str, float] | None:
        """Mean of each metric over the steps since the last read (None if there were none)."""
        count = int(self._count.numpy())
        if count == 0:
            return None
        sums = self._sums.numpy() / count
        self._sums.assign(tf.zeros_like(self._sums))
        self._count.assign(0)
        return {name: float(v) for name, v in zip(METRICS, sums)}

    def first_nonfinite_step(self) -> int | None:
        """The step (1-based, counted by `steps_done`) where a loss first became NaN or inf."""
        step = int(self._first_nonfinite.numpy())
        return step if step >= 0 else None

    def generate(self, noise, batch_size: int = 256):
        """float32 images for `noise` in inference mode (BatchNorm uses its moving averages)."""
        out = [self.generator(noise[i : i + batch_size], training=False) for i in range(0, len(noise), batch_size)]
        return tf.cast(tf.concat(out, axis=0), tf.float32).numpy()


def build_gan(config, image_shape) -> GAN:
    """The GAN for a `TrainConfig` and an image shape (H, W, C)."""
    from gan_core.models import PRESETS, build_models

    config = config.resolved()  # one place decides the preset's defaults: precision, XLA, optimiser
    preset = PRESETS[config.preset]
    keras.utils.set_random_seed(config.seed)
    generator, discriminator = build_models(config.preset, config.latent_dim, image_shape, config.precision)
    return GAN(
        generator,
        discriminator,
        latent_dim=config.latent_dim,
        from_logits=preset.from_logits,
        g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=config.beta_1),
        d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=config.beta_1),
        d_steps=config.d_steps,
        seed=config.seed,
        jit_compile=config.jit_compile,
        shared_forward=preset.shared_forward,
    )
