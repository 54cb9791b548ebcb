"""The GAN step: one compiled function that updates D on real and fake images, then G through D,
open to any loss family (losses.py), class labels and an average of G's weights.

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

from gan_core.config import STEERABLE
from gan_core.latent import Sampler
from gan_core.losses import LOSSES, LossFamily, WassersteinGP, make_loss
from gan_core.models import code_layer

CODE_BIAS_LIMIT = 3.0  # the codes' biases stay within +-3: a share of at least ~0.1% for ten codes


class GAN:
    """Owns both networks, both optimisers, G's average and one compiled `train_step((images, labels))`.

    Each discriminator update takes its own batch from the iterator. The settings a run may change
    while it trains (`STEERABLE`: both learning rates, the D:G ratio, the penalty's weight, the
    average's decay) live in variables that the compiled step reads: `steer()` changes them between
    two graph calls without retracing anything. Metrics (named by the loss family) are summed into
    variables on the device; `read_metrics()` pulls their mean since the last read, so nothing leaves the graph on steps
    nobody looks at. With `ema_generator`, its weights follow an exponential moving average of
    G's inside the step (Yazici et al. 2019), and samples come from it.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        loss: LossFamily,
        latent_dim: int,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        d_updates: int = 1,
        conditional: bool = False,
        ema_generator: keras.Model | None = None,
        ema_decay: float = 0.999,
        codes: int = 0,
        code_weight: float = 0.2,
        code_balance: float = 0.0,
        augment: bool = False,
        seed: int = 0,
        jit_compile: bool = True,
        shared_forward: bool = True,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.latent_dim = latent_dim
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.conditional = conditional
        self.ema_generator = ema_generator
        self.augment = augment
        self.shared_forward = shared_forward  # False: G's update takes its own pass after D's (seeds 001/003)
        # A categorical code in the noise (models.NoiseCode) that D's second head learns to recover:
        # both networks add code_weight x its cross-entropy on the fakes to their losses (InfoGAN's
        # mutual-information term, Chen et al. 2016, sec. 5: Q shares D's layers, G and Q minimise it).
        self.codes = codes
        self.code_weight = code_weight
        self._code_layer = code_layer(generator) if codes else None
        # Each code's share of the noise may follow the data (`_balance_codes`): with a bias in G's code.
        has_bias = self._code_layer is not None and self._code_layer.bias is not None
        self.code_balance = code_balance if has_bias else 0.0
        self.metric_names = loss.names + (("code_accuracy",) if codes else ())
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Under a tf.distribute strategy (built in its scope): one step per replica through strategy.run,
        # no nested compiled functions (a replica's step cannot hold one that all-reduces), G's average
        # updated once per step across replicas, noise drawn for the global batch and sliced.
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        self.seed = seed
        # Build the optimisers' slots now: variables must not be created inside the compiled step.
        g_optimizer.build(generator.trainable_variables)
        d_optimizer.build(discriminator.trainable_variables)
        if ema_generator is not None:
            ema_generator.set_weights(generator.get_weights())
        self.d_updates = tf.Variable(d_updates, dtype=tf.int32, trainable=False, name="d_updates")
        self.ema_decay = tf.Variable(ema_decay, dtype=tf.float32, trainable=False, name="ema_decay")
        # Each replica adds its own; reading sums them (one replica: a plain variable).
        per_replica = {"synchronization": tf.VariableSynchronization.ON_READ, "aggregation": tf.VariableAggregation.SUM}
        first = {"aggregation": tf.VariableAggregation.ONLY_FIRST_REPLICA}
        self._sums = tf.Variable(tf.zeros(len(self.metric_names)), trainable=False, name="metric_sums", **per_replica)
        self._count = tf.Variable(0.0, trainable=False, name="metric_count", **per_replica)
        self._first_nonfinite = tf.Variable(-1, dtype=tf.int64, trainable=False, name="first_nonfinite", **first)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step", **first)  # steps trained so far
        distributed = strategy is not None
        compile_step = (lambda fn: fn) if distributed else (lambda fn: tf.function(fn, jit_compile=jit_compile))
        self.train_step = compile_step(self._train_step)
        self.d_step = compile_step(self._d_only_step)
        # Without XLA for the whole step, XLA still fuses the optimisers' updates: each is a dozen
        # small elementwise ops on every weight (12-14% faster for dense-bn in bfloat16, measured in turns).
        fuse = not jit_compile and not distributed
        self._apply_d = self._maybe_fused(self._updater(d_optimizer, discriminator), fuse)
        self._apply_g = self._maybe_fused(self._updater(g_optimizer, generator), fuse)
        self._update_ema = self._maybe_fused(self._average_generator, fuse)
        self._train_steps = tf.function(self._train_steps_loop)
        self._sampler: Sampler | None = None

    @staticmethod
    def _updater(optimizer, model):
        variables = model.trainable_variables

        def apply(grads):
            optimizer.apply_gradients(zip(grads, variables))

        return apply

    @staticmethod
    def _maybe_fused(fn, enabled: bool):
        return tf.function(fn, jit_compile=True) if enabled else fn

    # ------------------------------------------------------------------ training
    def train_steps(self, batches, steps: int) -> None:
        """`steps` training steps on batches from the tf.data iterator `batches`, in one call.

        The loop runs inside the graph: Python dispatch and the iterator's hand-off cost about
        a tenth of a dense preset's step on two cores, and this pays them once per call."""
        self._train_steps(batches, tf.constant(steps, tf.int32))

    def _train_steps_loop(self, batches, steps):
        for _ in tf.range(steps):
            for _ in tf.range(self.d_updates - 1):  # the D:G ratio, read at each step: steerable
                self._replicas(self.d_step, next(batches))
            self._replicas(self.train_step, next(batches))  # D's last update, then G's
            if self.strategy is not None and self.ema_generator is not None:
                self._update_ema()  # across replicas, once a step

    def _replicas(self, step, batch):
        """`step` on each replica's part of `batch` (a strategy's distributed batch), or on `batch`."""
        return step(batch) if self.strategy is None else self.strategy.run(step, args=(batch,))

    def steer(self, **settings: float) -> None:
        """Change the STEERABLE settings (TrainConfig names) from the next graph call on."""
        unknown = set(settings) - set(STEERABLE)
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} while training; can: {', '.join(STEERABLE)}")
        for name, value in settings.items():
            if name == "g_learning_rate":
                self.g_optimizer.learning_rate = value
            elif name == "d_learning_rate":
                self.d_optimizer.learning_rate = value
            elif name == "d_updates":
                self.d_updates.assign(int(value))
            elif name == "gp_weight" and isinstance(self.loss, WassersteinGP):
                self.loss.gp_weight.assign(value)
            elif name == "ema":
                self.ema_decay.assign(value)

    def settings(self) -> dict[str, float]:
        """The STEERABLE settings the step trains with now."""
        values = {
            "g_learning_rate": float(self.g_optimizer.learning_rate.numpy()),
            "d_learning_rate": float(self.d_optimizer.learning_rate.numpy()),
            "d_updates": int(self.d_updates.numpy()),
            "ema": float(self.ema_decay.numpy()) if self.ema_generator is not None else 0.0,
        }
        if isinstance(self.loss, WassersteinGP):
            values["gp_weight"] = float(self.loss.gp_weight.numpy())
        return values

    def discriminate(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """D's outputs in float32, whatever precision D computes in: losses and metrics need it."""
        return self._discriminate(images, labels)[0]

    def _discriminate(self, images, labels) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(D's scores, its code head's logits or None), in float32."""
        if self.augment:
            images = translate(images)
        outputs = self.discriminator([images, labels] if self.conditional else images, training=True)
        scores, code_logits = outputs if self.codes else (outputs, None)
        return tf.cast(scores, tf.float32), None if code_logits is None else tf.cast(code_logits, tf.float32)

    def _code_loss(self, noise, code_logits) -> tf.Tensor | float:
        """code_weight x the cross-entropy of the code D's head reads off the fakes against the code
        their noise carries, averaged over the global batch; 0 (no op at all) without a code."""
        if not self.codes:
            return 0.0
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(self._code_layer.code(noise), code_logits)
        return self._average(self.code_weight * per_example)

    def _code_accuracy(self, noise, code_logits) -> tf.Tensor:
        """The share of fakes whose code D's head reads right."""
        right = tf.equal(self._code_layer.code(noise), tf.argmax(code_logits, axis=-1, output_type=tf.int32))
        return tf.reduce_mean(tf.cast(right, tf.float32))

    def _balance_codes(self, noise, fake_out) -> None:
        """Move each code's share of the noise towards the data's proportions; no op unless code_balance.

        With the codes equally likely, a code that finds no digit of its own still draws a tenth of
        the fakes, and two digits that share a code get a tenth between them (README, "Better digits").
        D's logit on a fake estimates log(p_data / p_g) there, so a code whose fakes D finds more real
        than the average fake is drawn too rarely: its bias (models.NoiseCode) rises by code_balance
        times that gap, and falls in the other case, which stops where every code's fakes look equally
        real, each code's share the share of the data it draws. The biases are centred and bounded."""
        if not self.code_balance:
            return
        bias = self._code_layer.bias
        realness = self.loss.realness(tf.cast(fake_out, tf.float32))
        in_code = tf.one_hot(self._code_layer.code(noise), self.codes)  # (N, codes)
        count = tf.reduce_sum(in_code, axis=0)
        mean = tf.math.divide_no_nan(tf.linalg.matvec(in_code, realness, transpose_a=True), count)
        gap = tf.where(count > 0, mean - tf.reduce_mean(realness), 0.0)
        moved = bias + self.code_balance * gap
        bias.assign(tf.clip_by_value(moved - tf.reduce_mean(moved), -CODE_BIAS_LIMIT, CODE_BIAS_LIMIT))

    def _generate(self, noise: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        return self.generator([noise, labels] if self.conditional else noise, training=True)

    def _noise(self, batch_size, site: int = 0) -> tf.Tensor:
        if self.strategy is None:
            return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        # The global batch's noise, keyed by the run's seed and D's update count (the same on every
        # replica), then this replica's slice: the same noise however many replicas share the batch.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        key = tf.stack([tf.cast(self.seed * 2 + site, tf.int64), tf.cast(self.d_optimizer.iterations, tf.int64)])
        noise = tf.random.stateless_normal((batch_size * self.replicas, self.latent_dim), seed=key)
        return noise[replica * batch_size : (replica + 1) * batch_size]

    def _average(self, per_example: tf.Tensor) -> tf.Tensor:
        """The mean over the global batch: under a tf.distribute strategy each replica divides by
        the global batch size, so summing the replicas' gradients gives the global mean's."""
        return tf.nn.compute_average_loss(per_example)

    def _d_objective(self, real, fake, labels, real_out, fake_out):
        """(D's loss with its regulariser, the regulariser per example or None)."""
        penalty = self.loss.penalty(lambda x: self.discriminate(x, labels), real, fake)
        per_example = self.loss.d_loss(real_out, fake_out)
        if penalty is not None:
            per_example += penalty
        return self._average(per_example), penalty

    def _discriminator_step(self, real, labels, batch_size):
        """One update of D on `real` and on fresh fakes of the same classes."""
        with tf.GradientTape() as tape:
            noise = self._noise(batch_size)
            fake = self._generate(noise, labels)
            real_out, (fake_out, code_logits) = self.discriminate(real, labels), self._discriminate(fake, labels)
            d_loss, penalty = self._d_objective(real, fake, labels, real_out, fake_out)
            d_loss += self._code_loss(noise, code_logits)  # D's code head learns to read the code off a fake
            scaled = self.d_optimizer.scale_loss(d_loss)  # float16: see build_gan; else d_loss itself
        self._apply_d(tape.gradient(scaled, self.discriminator.trainable_variables))
        return d_loss, real_out, fake_out, penalty

    def _d_only_step(self, batch: tuple[tf.Tensor, tf.Tensor]) -> None:
        """One of D's extra updates when the D:G ratio is above 1."""
        real, y = batch
        self._discriminator_step(real, y, tf.shape(real)[0])

    def _train_step(self, batch: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        real, y = batch  # G draws the classes of this real batch: the data's class balance
        batch_size = tf.shape(real)[0]
        if self.shared_forward:
            # One forward pass serves both updates, as in seed 002: D's gradients come from d_loss;
            # G's come from g_loss through D, whose weights g_loss never updates (the "frozen" D).
            noise = self._noise(batch_size)
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self._generate(noise, y)
                real_out, (fake_out, code_logits) = self.discriminate(real, y), self._discriminate(fake, y)
                d_loss, penalty = self._d_objective(real, fake, y, real_out, fake_out)
                # The code's loss: D's head learns to read the code off a fake, G to draw it readably.
                code_loss = self._code_loss(noise, code_logits)
                d_loss += code_loss
                g_loss = self._average(self.loss.g_loss(fake_out)) + code_loss
                d_scaled, g_scaled = self.d_optimizer.scale_loss(d_loss), self.g_optimizer.scale_loss(g_loss)
            d_grads = d_tape.gradient(d_scaled, self.discriminator.trainable_variables)
            g_grads = g_tape.gradient(g_scaled, self.generator.trainable_variables)
            self._apply_d(d_grads)
            self._balance_codes(noise, fake_out)
        else:
            # Train the discriminator, then the generator through the just-updated D with fresh noise
            # (seeds 001 and 003)
            d_loss, real_out, fake_out, penalty = self._discriminator_step(real, y, batch_size)
            with tf.GradientTape() as g_tape:
                noise = self._noise(batch_size, site=1)  # fresh, and not D's
                scores, code_logits = self._discriminate(self._generate(noise, y), y)
                g_loss = self._average(self.loss.g_loss(scores)) + self._code_loss(noise, code_logits)
                g_scaled = self.g_optimizer.scale_loss(g_loss)
            g_grads = g_tape.gradient(g_scaled, self.generator.trainable_variables)
            self._balance_codes(noise, scores)
        # (do not update the discriminator's weights)
        self._apply_g(g_grads)

        # Average the generator's weights (under a strategy: after every replica's step, in _train_steps_loop)
        if self.ema_generator is not None and self.strategy is None:
            self._update_ema()

        values = {"d_loss": d_loss, "g_loss": g_loss, **self.loss.metrics(real_out, fake_out, penalty)}
        if self.codes:
            values["code_accuracy"] = self._code_accuracy(noise, code_logits)
        self._record(values)
        return values

    def _average_generator(self):
        """avg <- d * avg + (1 - d) * w for every weight of G (BatchNorm's statistics too), with the
        decay warmed up as d = min(decay, (1 + t) / (10 + t)) so early samples are not a blur of
        the untrained start (t: steps trained before this one)."""
        t = tf.cast(self.step, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(decay * average + (1.0 - decay) * tf.cast(weight, average.dtype))

    def _record(self, values: dict[str, tf.Tensor]) -> None:
        # A replica's losses are its share of the global mean (compute_average_loss divides by the global
        # batch): times the replicas, they are its own mean, like every other metric; reading averages them.
        scale = {"d_loss": float(self.replicas), "g_loss": float(self.replicas)}
        stacked = tf.stack([tf.cast(values[k], tf.float32) * scale.get(k, 1.0) for k in self.metric_names])
        self._sums.assign_add(stacked)
        self._count.assign_add(1.0)
        finite = tf.reduce_all(tf.math.is_finite(stacked[:2]))
        self._first_nonfinite.assign(
            tf.where(finite | (self._first_nonfinite >= 0), self._first_nonfinite, self.step + 1)
        )
        self.step.assign_add(1)

    # ------------------------------------------------------------------ reading
    def read_metrics(self) -> dict[str, float] | None:
        """Mean of each metric over the steps since the last read (None if there were none)."""
        count = int(round(float(self._count.numpy())))
        if count == 0:
            return None
        sums = self._sums.numpy() / count
        self._sums.assign(tf.zeros_like(self._sums))
        self._count.assign(0.0)
        return {name: float(v) for name, v in zip(self.metric_names, sums)}

    def first_nonfinite_step(self) -> int | None:
        """The step (1-based, counted by `step`) where a loss first became NaN or inf."""
        step = int(self._first_nonfinite.numpy())
        return step if step >= 0 else None

    @property
    def sampling_generator(self) -> keras.Model:
        """What samples, quality figures and the exported file come from: G's average when on."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    @property
    def sampler(self) -> Sampler:
        if self._sampler is None:
            self._sampler = Sampler(self.sampling_generator)
        return self._sampler


def translate(images: tf.Tensor, ratio: float = 0.125) -> tf.Tensor:
    """Each image shifted by up to `ratio` of its size (4 px of 28) in x and y, the background (-1)
    filling in: DiffAugment's translation (Zhao et al. 2020). Applied to real and fake images alike
    before D, and differentiable, so G learns through it; D, which sees each of a small dataset's
    images hundreds of times in a few minutes, can no longer memorise them pixel for pixel."""
    # As two batched products with one-hot shift matrices, (S_y (x + 1) S_x^T) - 1: the background
    # shifts in as -1, and the gradient is two more products. On two CPU cores this costs a tenth
    # of what a gather costs (whose gradient is a scatter).
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    shift = int(height * ratio + 0.5)

    def shifts(size):  # (batch, size, size): row i picks row i - offset, or nothing off the edge
        offset = tf.random.uniform([batch, 1], -shift, shift + 1, dtype=tf.int32)
        return tf.one_hot(tf.range(size)[None, :] - offset, size, dtype=images.dtype)

    moved = tf.einsum("bij,bjwc->biwc", shifts(height), images + 1.0)
    return tf.einsum("biwc,bvw->bivc", moved, shifts(width)) - 1.0


def build_gan(config, image_shape, num_classes: int | None = None, strategy=None) -> GAN:
    """The GAN for a `TrainConfig`, an image shape (H, W, C) and, when conditional, the number of classes.

    Everything that owns a variable (both networks, G's average, both optimisers, the metric
    accumulators) is created in this call: a tf.distribute strategy wraps it in its scope."""
    from gan_core.models import PRESETS, build_models, for_this_machine

    config = for_this_machine(config)  # one place decides the defaults: optimiser, precision, XLA
    if config.conditional and not num_classes:
        raise ValueError("a conditional GAN needs the number of classes; the dataset has no labels")
    preset = PRESETS[config.preset]
    logits = preset.from_logits or LOSSES[config.loss].needs_logits or config.conditional
    loss = make_loss(config.loss, from_logits=logits, gp_weight=config.gp_weight)
    classes = num_classes if config.conditional else None
    keras.utils.set_random_seed(config.seed)
    codes = 0 if classes else config.codes
    generator, discriminator = build_models(
        config.preset, config.latent_dim, image_shape, config.precision, logits=logits, num_classes=classes, codes=codes
    )
    ema_generator = None
    if config.ema:  # in float32: it only samples, and exports as it is
        ema_generator, _ = build_models(config.preset, config.latent_dim, image_shape, num_classes=classes, codes=codes)

    def adam(learning_rate):
        adam = keras.optimizers.Adam(learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
        if config.precision != "mixed_float16":
            return adam  # float32 and bfloat16 have float32's exponent range: nothing underflows
        # float16 gradients below 6e-8 flush to zero: the step scales each loss up (`scale_loss`) before
        # taking gradients, and `apply_gradients` scales them back down, skipping a step whose gradients
        # overflowed and halving the scale then (doubling it after 2,000 clean steps). Learning rates
        # pass through to Adam inside; checkpoints hold Adam's variables and the scale apart (runs.py).
        return keras.optimizers.LossScaleOptimizer(adam)

    return GAN(
        generator,
        discriminator,
        loss=loss,
        latent_dim=config.latent_dim,
        g_optimizer=adam(config.g_learning_rate),
        d_optimizer=adam(config.d_learning_rate),
        d_updates=config.d_updates,
        conditional=config.conditional,
        ema_generator=ema_generator,
        ema_decay=config.ema,
        codes=codes,
        code_weight=config.code_weight,
        code_balance=config.code_balance,
        augment=config.augment,
        seed=config.seed,
        jit_compile=config.jit_compile,
        shared_forward=preset.shared_forward,
        strategy=strategy,
    )
