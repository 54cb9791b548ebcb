"""The same GAN trained under MirroredStrategy on one logical CPU device and on two, from the same seed
and global batches; prints how far apart their weights and metrics end (tests/test_distribute.py).

    python tests/scripts/mirrored_match.py D_UPDATES    # in a fresh process: it splits the CPU first
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gan_core.distribute import logical_cpus  # noqa: E402

logical_cpus(2)  # before TensorFlow runs anything

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_core.config import TrainConfig  # noqa: E402
from gan_core.gan import build_gan  # noqa: E402

d_updates = int(sys.argv[1]) if len(sys.argv) > 1 else 1
cfg = TrainConfig(preset="tiny", batch_size=16, jit_compile=False, ema=0.999, seed=3, d_updates=d_updates).resolved()
rng = np.random.default_rng(0)
images = rng.uniform(-1, 1, (64, 28, 28, 1)).astype("float32")
labels = np.zeros(64, "int32")
cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
out = {}
for name, devices in (("one", cpus[:1]), ("two", cpus)):
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        gan = build_gan(cfg, (28, 28, 1), strategy=strategy)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16).repeat()
    gan.train_steps(iter(strategy.experimental_distribute_dataset(data)), 5)
    out[name] = {
        "g": [w.numpy() for w in gan.generator.weights],
        "ema": [w.numpy() for w in gan.ema_generator.weights],
        "metrics": gan.read_metrics(),
        "step": int(gan.step.numpy()),
    }
diff = max(float(np.abs(a - b).max()) for a, b in zip(out["one"]["g"], out["two"]["g"]))
ediff = max(float(np.abs(a - b).max()) for a, b in zip(out["one"]["ema"], out["two"]["ema"]))
start = build_gan(cfg, (28, 28, 1))  # the same seed's untrained weights: how far training moved them
moved = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(out["one"]["g"], start.generator.weights))
print(
    json.dumps(
        {
            "g_max_diff": diff,
            "ema_max_diff": ediff,
            "moved": moved,
            "steps": [out["one"]["step"], out["two"]["step"]],
            "metrics": [out["one"]["metrics"], out["two"]["metrics"]],
        }
    )
)
