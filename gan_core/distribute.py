"""Where the step runs: TensorFlow's own `tf.distribute`, never a distribution of our own.

    strategy = make_strategy("mirrored")      # every local GPU, else every logical CPU device
    with strategy.scope():
        gan = build_gan(config, shape, strategy=strategy)

`auto` is TensorFlow's default strategy (one GPU if there is one, else the CPU): nothing changes in
the step. Under `mirrored` the global batch (`batch_size`) is split across the replicas; each
replica's losses are averaged over the global batch (`tf.nn.compute_average_loss`), so the summed
gradients are those of the global mean; BatchNorm normalises each replica's part of the batch, as
Keras layers do under a strategy; the noise is drawn for the whole global batch and each replica
takes its slice, so that a run gives the same result whatever the number of replicas (up to the
order of float additions).

`logical_cpus(n)` splits the CPU into n logical devices before TensorFlow starts: how a machine
without GPUs tests the mirrored path (`python -m gan_core train --strategy mirrored --logical-cpus 2`).
"""

from __future__ import annotations

import tensorflow as tf


def logical_cpus(n: int) -> None:
    """Split the first CPU into `n` logical devices; call before TensorFlow has run anything."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as e:
        raise RuntimeError(
            f"cannot split the CPU into {n} logical devices once TensorFlow has started ({e}); "
            "split it first thing in the process (--logical-cpus on the command line)"
        ) from e


def make_strategy(name: str) -> tf.distribute.Strategy | None:
    """The strategy called `name` (TrainConfig.strategy); None for `auto`, TensorFlow's default."""
    if name == "auto":
        return None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(f"unknown strategy {name!r}; choose auto or mirrored")
