"""Mixed precision: float16 with loss scaling, the precision each machine trains in, batches that
wait on the GPU, and a smoke test of the GPU benchmark (benchmarks/gpu.py). All on the CPU."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_core import data, models
from gan_core.config import PRECISIONS, ConfigError, TrainConfig
from gan_core.engine import TrainingRun
from gan_core.gan import build_gan
from gan_core.models import for_this_machine
from gan_core.runs import RunDir, checkpoint_identity, checkpoint_objects, load_generator
from tests.conftest import tiny_config

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[1]
SHAPE = (28, 28, 1)


def batches(config: TrainConfig, seed: int = 0):
    """The same (images, labels) batch for ever."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (config.batch_size, *SHAPE)).astype("float32")
    labels = rng.integers(0, 10, config.batch_size).astype("int32")
    return iter(tf.data.Dataset.from_tensors((images, labels)).repeat())


def tiny(precision: str) -> TrainConfig:
    return tiny_config(precision=precision, jit_compile=False, ema=0.9).resolved()


def values(gan) -> dict[str, list[np.ndarray]]:
    return {name: [np.array(v) for v in variables] for name, (_, variables) in checkpoint_objects(gan).items()}


def loss_scale(optimizer) -> tuple[float, int]:
    return float(optimizer.dynamic_scale.numpy()), int(optimizer.step_counter.numpy())


def save(gan, config: TrainConfig, folder: Path, step: int = 3) -> Path:
    run = RunDir.create(folder, config)
    return run.save_checkpoint(gan, step, {**checkpoint_identity(config, SHAPE, None), "config": config.to_dict()})


@pytest.fixture(scope="module")
def float16():
    """A tiny GAN in mixed_float16, trained 3 steps (once for the module: tracing takes seconds)."""
    config = tiny("mixed_float16")
    gan = build_gan(config, SHAPE)
    gan.train_steps(batches(config), 3)
    return config, gan


def test_float16_scales_the_losses_of_both_optimisers_and_keeps_float32_weights(float16):
    config, gan = float16
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(optimizer.inner_optimizer, keras.optimizers.Adam)
        assert int(optimizer.iterations.numpy()) == 3  # no step skipped: the gradients were finite
        assert loss_scale(optimizer) == (2.0**15, 3)  # three clean steps counted towards doubling it
    for model in (gan.generator, gan.discriminator):
        assert {w.dtype for w in model.weights} == {"float32"}
        assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float16"}
    metrics = gan.read_metrics()
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert 0.3 < metrics["d_loss"] < 3.0  # a real BCE, not one scaled by 32768
    assert gan.first_nonfinite_step() is None


def test_steering_a_learning_rate_reaches_the_adam_inside(float16):
    config, gan = float16
    before = gan.settings()
    gan.steer(g_learning_rate=1e-3, d_learning_rate=5e-4)
    try:
        assert gan.settings()["g_learning_rate"] == pytest.approx(1e-3)
        assert gan.settings()["d_learning_rate"] == pytest.approx(5e-4)
        assert float(gan.g_optimizer.inner_optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    finally:
        gan.steer(g_learning_rate=before["g_learning_rate"], d_learning_rate=before["d_learning_rate"])


def test_a_float16_checkpoint_holds_adam_and_the_loss_scale_apart(float16, tmp_path):
    config, gan = float16
    folder = save(gan, config, tmp_path)
    state = json.loads((folder / "state.json").read_text())
    # Adam's variables as in any other precision, so that a run can continue in another one
    assert [v["shape"] for v in state["objects"]["g_optimizer"]] == [
        list(v.shape) for v in gan.g_optimizer.inner_optimizer.variables
    ]
    assert len(state["objects"]["g_loss_scale"]) == len(state["objects"]["d_loss_scale"]) == 2

    other = build_gan(config, SHAPE)
    assert loss_scale(other.d_optimizer) == (2.0**15, 0)
    RunDir.restore_checkpoint(other, folder)
    assert loss_scale(other.d_optimizer) == loss_scale(gan.d_optimizer) == (2.0**15, 3)
    mine, theirs = values(gan), values(other)
    assert mine.keys() == theirs.keys()
    for name in mine:
        for a, b in zip(mine[name], theirs[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_a_run_changes_precision_across_a_checkpoint(float16, tmp_path):
    config, gan = float16
    f32_config = tiny("float32")
    f32 = build_gan(f32_config, SHAPE)
    f32.train_steps(batches(f32_config), 1)
    # float32 -> float16: Adam's state loads, the loss scale starts afresh
    target = build_gan(config, SHAPE)
    RunDir.restore_checkpoint(target, save(f32, f32_config, tmp_path / "f32"))
    for a, b in zip(target.g_optimizer.inner_optimizer.variables, f32.g_optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    assert loss_scale(target.g_optimizer) == (2.0**15, 0)
    # float16 -> float32: the scale is left behind
    RunDir.restore_checkpoint(f32, save(gan, config, tmp_path / "f16"))
    for a, b in zip(f32.d_optimizer.variables, gan.d_optimizer.inner_optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_a_float16_run_exports_float32_and_continues_with_its_loss_scale(tmp_path):
    run = TrainingRun(tiny_config(steps=20, precision="mixed_float16"), runs_dir=tmp_path).start()
    assert run.wait(120) == "finished", run.snapshot().error
    run_dir = RunDir(run.snapshot().run_dir)
    records = [r for r in run_dir.read_metrics() if "d_loss" in r]
    assert records and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in records)
    exported = load_generator(run_dir.generator_path)
    assert {layer.compute_dtype for layer in exported.layers} == {"float32"}  # runs the same on any machine
    assert exported(np.zeros((2, 100), "float32")).dtype == "float32"

    def scales(step: int) -> list:
        reader = tf.train.load_checkpoint(str(dict(run_dir.checkpoints())[step] / "variables"))
        return [reader.get_tensor(f"d_loss_scale/{i}/.ATTRIBUTES/VARIABLE_VALUE").item() for i in (0, 1)]

    scale, counted = scales(20)
    assert counted == 20  # D's 20 updates, none skipped
    second = TrainingRun.continue_from(run_dir.path, steps=40).start()
    assert second.wait(120) == "finished", second.snapshot().error
    assert second.snapshot().config.precision == "mixed_float16"
    assert scales(40) == [scale, 40]  # counting on from the checkpoint's 20; a fresh scale would read 20


@pytest.fixture
def gpus(monkeypatch):
    """`gpus(*capabilities)` fakes that many GPUs with those compute capabilities for TensorFlow's device lookup."""

    def fake(*capabilities):
        devices = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(len(capabilities))]
        details = {d.name: {"compute_capability": c, "device_name": "fake"} for d, c in zip(devices, capabilities)}
        real = tf.config.list_physical_devices

        def listed(kind=None):
            return devices if kind == "GPU" else real(kind)

        monkeypatch.setattr(tf.config, "list_physical_devices", listed)
        monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda d: details[d.name])
        models.gpu_compute_capability.cache_clear()

    monkeypatch.setattr(models, "native_bfloat16", lambda: False)
    yield fake
    models.gpu_compute_capability.cache_clear()  # the real machine's answer from here on


@pytest.mark.parametrize(
    ("capabilities", "precision"),
    [
        ((7, 5), "mixed_float16"),  # Turing: float16 tensor cores only
        ((7, 0), "mixed_float16"),
        ((8, 0), "mixed_bfloat16"),  # Ampere: bfloat16 tensor cores, no loss scaling
        ((9, 0), "mixed_bfloat16"),
        ((6, 1), "float32"),  # no tensor cores
        ((8, 6), "mixed_bfloat16"),
    ],
)
def test_a_gpu_trains_in_what_its_compute_capability_computes_fast(gpus, capabilities, precision):
    gpus(capabilities)
    for preset in ("dense-bn-aug", "dcgan", "dense-relu", "tiny"):
        assert for_this_machine(TrainConfig(preset=preset)).precision == precision
    assert for_this_machine(TrainConfig(preset="dcgan", precision="float32")).precision == "float32"  # asked for


def test_the_slowest_gpu_decides_and_no_gpu_leaves_the_cpu_choice(gpus, monkeypatch):
    gpus((8, 0), (7, 5))
    assert for_this_machine(TrainConfig(preset="dcgan")).precision == "mixed_float16"
    gpus()
    assert models.gpu_compute_capability() is None
    assert for_this_machine(TrainConfig(preset="dense-bn")).precision == "float32"
    monkeypatch.setattr(models, "native_bfloat16", lambda: True)  # this CPU's choice, unchanged
    assert for_this_machine(TrainConfig(preset="dense-bn")).precision == "mixed_bfloat16"
    assert for_this_machine(TrainConfig(preset="dense-relu")).precision == "float32"


def test_the_config_refuses_an_unknown_precision_naming_the_choices():
    assert "mixed_float16" in PRECISIONS
    choices = "float32, mixed_bfloat16, mixed_float16"
    with pytest.raises(ConfigError, match=f"unknown precision 'float8'; choose one of: {choices}"):
        TrainConfig(precision="float8").validate()
    assert TrainConfig(precision="mixed_float16").problems() == []


def test_batches_wait_on_the_gpu_unless_a_strategy_places_them(monkeypatch):
    copied_to = []
    real = tf.data.experimental.prefetch_to_device

    def spy(device, buffer_size=None):
        copied_to.append(device)
        return real(device, buffer_size)

    monkeypatch.setattr(tf.data.experimental, "prefetch_to_device", spy)
    images = np.random.default_rng(0).uniform(-1, 1, (64, *SHAPE)).astype("float32")
    data.make_dataset(images, 16, 0)
    assert copied_to == []  # no GPU here: the CPU pipeline as it was
    monkeypatch.setattr(data, "prefetch_device", lambda: "/device:CPU:0")  # the copy, to where the CPU can run it
    data.make_dataset(images, 16, 0, to_device=False)  # for a strategy's experimental_distribute_dataset
    assert copied_to == []
    batches = iter(data.make_dataset(images, 16, 0))
    assert copied_to == ["/device:CPU:0"]
    config = tiny_config(jit_compile=True).resolved()
    gan = build_gan(config, SHAPE)
    gan.train_steps(batches, 2)  # the compiled step takes its batches from the copied pipeline
    assert all(math.isfinite(v) for v in gan.read_metrics().values())


def test_the_gpu_benchmark_runs_on_a_cpu_with_quick(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--quick", "--logical-cpus", "2", "--precisions", "mixed_float16"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)},
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "img/s" in done.stdout and "mirrored x2" in done.stdout
    results = json.loads(out.read_text())["results"]
    rows = {(r["precision"], r["jit_compile"], r["replicas"]) for r in results}
    assert rows == {("mixed_float16", True, 1), ("mixed_float16", False, 1), ("mixed_float16", None, 2)}
    for r in results:
        assert math.isfinite(r["images_per_second"]) and r["images_per_second"] > 0, r
        assert r["note"].startswith("loss scale")
    assert {r["global_batch"] for r in results} == {16, 32}  # mirrored: the batch per replica
