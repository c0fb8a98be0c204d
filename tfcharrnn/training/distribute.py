"""Devices and tf.distribute: which strategy, which replica holds which rows, when workers agree.

    from tfcharrnn.training.distribute import Distribution, configure_devices
    configure_devices(cpu=True)                       # before TensorFlow touches a device
    dist = Distribution("mirrored", batch_size=64)    # the strategy, its replicas, this worker's role
    for x, y in dist.distribute(dataset): ...         # per-replica batches (plain tensors on one replica)

Distribution is tf.distribute's, nothing home-made; this module only says how tfcharrnn uses it:
row r of every global batch always goes to the same replica (so the state a replica carries
continues its own rows' text), only the chief writes, and workers agree on when to stop.
"""

from __future__ import annotations

import os

from tfcharrnn.errors import RunFailed, UserError

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def configure_devices(cpu: bool = False, gpu: int | None = None) -> None:
    import tensorflow as tf

    if cpu or (gpu is not None and gpu < 0):
        tf.config.set_visible_devices([], "GPU")
    elif gpu is not None:
        gpus = tf.config.list_physical_devices("GPU")
        if gpu >= len(gpus):
            raise UserError(f"--gpu {gpu} asked for, but {len(gpus)} GPU(s) are visible; use --cpu or a valid index")
        tf.config.set_visible_devices([gpus[gpu]], "GPU")


def make_strategy(name: str):
    """A tf.distribute strategy by name; nothing home-made."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        # One replica per GPU; on a machine without GPUs, one per logical CPU device (tests, CI).
        devices = [d.name for d in (gpus or cpus)]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--strategy multiworker needs TF_CONFIG describing the cluster and this task; see the README")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.NotFoundError) as e:
            raise UserError(f"--strategy tpu: no TPU found ({str(e).splitlines()[0]}); run on a TPU VM or pick another strategy") from None
        return tf.distribute.TPUStrategy(resolver)
    raise UserError(f"--strategy {name!r} is not known; use one of {', '.join(STRATEGIES)}")


def is_chief(strategy) -> bool:
    """Only the chief writes checkpoints and logs (worker 0 when the cluster names no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    spec = resolver.cluster_spec().as_dict()
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in spec


class Distribution:
    """One run's strategy, its replicas and this process's role."""

    def __init__(self, name: str, batch_size: int):
        self.name = name
        self.strategy = make_strategy(name)
        self.replicas = self.strategy.num_replicas_in_sync
        self.chief = is_chief(self.strategy)
        self.batch_size = batch_size
        if batch_size % self.replicas:
            raise UserError(f"--batch_size {batch_size} must divide evenly over {self.replicas} replicas; use a multiple of {self.replicas}")

    @property
    def multiworker(self) -> bool:
        return self.name in ("multiworker", "tpu")

    @property
    def single_replica(self) -> bool:
        """One replica in this process: batches, state and the step's arguments are plain tensors."""
        return self.replicas == 1 and not self.multiworker

    def distribute(self, ds):
        """Global (B, T) batches -> per-replica batches; row r of the global batch always goes to
        the same replica, so the state each replica carries continues its own rows' text."""
        import tensorflow as tf

        if self.single_replica:
            return ds
        n, per = self.replicas, self.batch_size // self.replicas

        def dataset_fn(ctx):
            per_pipeline = n // ctx.num_input_pipelines
            first = ctx.input_pipeline_id * per_pipeline * per

            def split(x, y):
                xs = tf.reshape(x[first : first + per_pipeline * per], [per_pipeline, per, -1])
                ys = tf.reshape(y[first : first + per_pipeline * per], [per_pipeline, per, -1])
                return tf.data.Dataset.from_tensor_slices((xs, ys))

            return ds.flat_map(split)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def zero_state(self, model):
        """The zero recurrent state of a global batch, per replica when distributed."""
        if self.single_replica:
            return model.initial_state(self.batch_size)
        per = self.batch_size // self.replicas
        return self.strategy.experimental_distribute_values_from_function(lambda ctx: model.initial_state(per))

    def agree(self, flag: bool) -> bool:
        """True on every worker if any worker wants to stop (a SUM all-reduce of flags across the cluster)."""
        import tensorflow as tf

        if not hasattr(self, "_agree_fn"):

            @tf.function
            def agree(per_replica):
                return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

            self._agree_fn = agree
        value = 1.0 if flag else 0.0
        per_replica = self.strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(value))
        return bool(self._agree_fn(per_replica) > 0)

    def lost_contact(self, error, checkpoint_dir: str) -> RunFailed:
        """The one-line error for a worker that lost its peers (an Unavailable / Aborted / ... error)."""
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        telling = [line for line in lines if any(w in line.lower() for w in ("abort", "connect", "unavailable", "heartbeat", "timed out"))]
        first = (telling or lines or [""])[0][:200]
        return RunFailed(
            f"lost contact with another worker ({type(error).__name__}: {first}); restart every worker with --resume "
            f"to continue from the chief's latest checkpoint in {checkpoint_dir!r}"
        )
