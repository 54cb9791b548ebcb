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

`multi-worker` is MultiWorkerMirroredStrategy over the machines that TF_CONFIG names, each running
the same command. Every worker runs the same loop: the same graph calls with the same step counts,
the same jobs at the same steps (a metric read or a checkpoint of synchronised variables is a
collective op: a worker that skipped one would leave the others waiting for ever). Only the chief
writes the run folder; the other workers write theirs to a scratch folder that is removed at the
end, as TensorFlow's multi-worker guide does. What only the chief knows (a stop, its time limit,
a setting steered from the dashboard) reaches the others through `Cluster.agree` after every graph
call: one small all-reduce in which only the chief's values count.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

_multi_worker: tf.distribute.MultiWorkerMirroredStrategy | None = None


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
    if name == "multi-worker":
        return multi_worker()
    raise ValueError(f"unknown strategy {name!r}; choose auto, mirrored or multi-worker")


def cluster_from_environment() -> dict:
    """TF_CONFIG, read and checked: {"cluster": {...}, "task": {"type", "index"}}; ValueError saying what is wrong."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            'multi-worker needs TF_CONFIG on each worker, e.g. TF_CONFIG=\'{"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
            "(index 1 on the second machine), then the same command on each (README, Several machines)"
        )
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        members = cluster[task["type"]]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"TF_CONFIG is not a cluster description ({type(e).__name__}: {e}); it needs "
            '"cluster" (lists of "host:port" per task type) and "task" ({"type", "index"} of this worker)'
        ) from e
    if not 0 <= index < len(members):
        raise ValueError(f"TF_CONFIG: task {task['type']} {index} is not in its cluster ({len(members)} of that type)")
    return spec


def multi_worker() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's MultiWorkerMirroredStrategy (TF_CONFIG), made once. TensorFlow sets up its collective
    ops only before anything else runs, so the CLI makes it first thing (`--strategy multi-worker`)."""
    global _multi_worker
    if _multi_worker is None:
        cluster_from_environment()
        try:
            _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as e:
            raise RuntimeError(
                f"cannot start the multi-worker strategy in this process ({e}); it must be made before "
                "TensorFlow runs anything: use the CLI on each worker (python -m gan_core train "
                "--strategy multi-worker ...), not the dashboard"
            ) from e
    return _multi_worker


def started_multi_worker() -> bool:
    """Whether this process made the multi-worker strategy (and so runs TensorFlow's cluster server)."""
    return _multi_worker is not None


def is_chief_here() -> bool:
    """False only in a worker of a multi-worker cluster that is not its chief."""
    return _multi_worker is None or Cluster(_multi_worker).is_chief


class Cluster:
    """The workers of a multi-worker run, seen from one of them."""

    def __init__(self, strategy: tf.distribute.Strategy):
        resolver = strategy.cluster_resolver
        self.strategy = strategy
        self.task_type, self.task_id = resolver.task_type, resolver.task_id
        cluster = resolver.cluster_spec().as_dict()
        has_chief = "chief" in cluster
        # TensorFlow's rule: the chief task if there is one, else worker 0.
        self.is_chief = self.task_type == "chief" or (not has_chief and (self.task_type, self.task_id) == ("worker", 0))
        self.workers = len(cluster.get("worker", [])) + has_chief

        @tf.function
        def agree(vector):
            def replica(v):
                context = tf.distribute.get_replica_context()
                # Only the first replica's counts, and it sits on the chief (TensorFlow numbers the chief's first).
                mine = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), v.dtype)
                return context.all_reduce(tf.distribute.ReduceOp.SUM, v * mine)

            return strategy.experimental_local_results(strategy.run(replica, args=(vector,)))[0]

        self._agree = agree

    @property
    def role(self) -> str:
        return f"{self.task_type} {self.task_id} of a {self.workers}-worker cluster"

    def agree(self, stop: bool, settings: dict[str, float]) -> tuple[bool, dict[str, float]]:
        """The chief's stop and settings, on every worker (the others' arguments are ignored). Called by
        every worker after every graph call, in the same order: it is a collective op."""
        names = sorted(settings)
        vector = tf.constant([float(stop), *(float(settings[n]) for n in names)], tf.float64)
        agreed = self._agree(vector).numpy()
        return bool(agreed[0]), {n: float(v) for n, v in zip(names, agreed[1:])}
