"""The training loop: tf.function steps, reporting, evaluation, checkpoints, resume, signals.

    from tfcharrnn.training import TrainConfig, train
    result = train(TrainConfig(train_data="input.txt", max_epochs=1, checkpoint_dir="cv"))
    result["val_loss"], result["checkpoint"]

Run from the command line with scripts/train.py (flags: tfcharrnn.cli). The learning rate is
a pure function of progress, set on the optimizer each step, so a resumed run continues the
schedule exactly; the data position is (epoch, batch) of a deterministic per-epoch layout and
the carried recurrent state is saved, so resume continues the same batches.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import signal
import sys
import time
from dataclasses import dataclass

import numpy as np

from tfcharrnn.config import ModelConfig
from tfcharrnn.errors import RunFailed, UserError


STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


@dataclass
class TrainConfig:
    # data
    train_data: str | None = None  # file, directory or glob; None = bundled Tiny Shakespeare
    encoding: str = "utf-8"
    byte_mode: bool = False
    val_frac: float = 0.1
    test_frac: float = 0.0
    layout: str = "stream"  # stream (carried state, truncated BPTT) | windows
    seq_length: int = 100
    stride: int = 0  # windows layout: 0 = seq_length
    batch_size: int = 32
    # model
    model: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    embedding_size: int = 64
    dropout: float = 0.0
    weight_drop: float = 0.0  # DropConnect on the recurrent kernels
    # optimisation
    learning_rate: float = 5e-3
    lr_schedule: str = "cosine"  # cosine | exp | constant
    lr_decay: float = 0.97  # exp: multiply per epoch after lr_decay_after epochs
    lr_decay_after: float = 10.0
    min_lr_frac: float = 0.05  # cosine: floor, as a fraction of learning_rate
    warmup_steps: int = 0
    grad_clip: float = 5.0
    weight_decay: float = 0.0  # decoupled (AdamW), on weight matrices and embeddings, not biases
    fused: bool = True  # the fused CPU kernel (tfcharrnn.fused) when no GPU is visible
    jit: bool = False
    matmul_dtype: str = "float32"  # fused kernels' large matmuls: float32 (exact) | bfloat16 (opt-in, faster)
    # stopping
    max_epochs: float = 10.0
    max_steps: int = 0  # 0 = no limit
    time_budget: float = 0.0  # minutes; 0 = no limit
    # reporting and checkpoints
    iters_to_report: int = 50
    eval_val_every: int = 500
    sample_every: int = 1000
    sample_length: int = 200
    checkpoint_dir: str = "cv"
    keep_best: int = 3
    init_from: str | None = None
    resume: bool = False
    seed: int = 123
    deterministic: bool = False
    quiet: bool = False
    # distribution and monitoring
    strategy: str = "default"  # default | mirrored | multiworker | tpu
    tensorboard: bool = True  # TensorBoard summaries, metrics.jsonl and training_curve.png in checkpoint_dir

    def validate(self) -> None:
        from tfcharrnn.data import LAYOUTS

        positive_ints = ("seq_length", "batch_size", "hidden_size", "num_layers", "embedding_size", "iters_to_report")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UserError(f"--{name} must be a positive integer, got {value}")
        for name in ("eval_val_every", "sample_every", "max_steps", "keep_best", "stride", "warmup_steps", "sample_length"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if not (0 <= self.weight_decay < 1):
            raise UserError(f"--weight_decay must be in [0, 1) (it is multiplied by the learning rate), got {self.weight_decay}")
        if not self.grad_clip > 0:
            raise UserError(f"--grad_clip must be > 0, got {self.grad_clip}")
        if self.max_epochs < 0 or self.time_budget < 0:
            raise UserError("--max_epochs and --time_budget must be >= 0")
        if self.max_epochs == 0 and self.max_steps == 0 and self.time_budget == 0:
            raise UserError("no stop condition: set --max_epochs, --max_steps or --time_budget")
        if self.layout not in LAYOUTS:
            raise UserError(f"--layout {self.layout!r} is not known; use one of {', '.join(LAYOUTS)}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"--strategy {self.strategy!r} is not known; use one of {', '.join(STRATEGIES)}")
        if self.lr_schedule not in ("cosine", "exp", "constant"):
            raise UserError(f"--lr_schedule {self.lr_schedule!r} is not known; use cosine, exp or constant")
        if not 0 < self.lr_decay <= 1:
            raise UserError(f"--lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.matmul_dtype not in ("float32", "bfloat16"):
            raise UserError(f"--matmul_dtype {self.matmul_dtype!r} is not known; use float32 or bfloat16")
        if not 0 <= self.min_lr_frac <= 1:
            raise UserError(f"--min_lr_frac must be in [0, 1], got {self.min_lr_frac}")
        self.model_config(vocab_size=1)  # the model flags' own checks

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The model these flags describe, for a corpus with ``vocab_size`` characters."""
        return ModelConfig(vocab_size, self.model, self.hidden_size, self.num_layers, self.embedding_size, self.dropout, self.weight_drop)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------


def learning_rate(cfg: TrainConfig, step: int, epoch: float, elapsed_s: float) -> float:
    """The schedule, a pure function of where training is."""
    lr = cfg.learning_rate
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "exp":
        return lr * cfg.lr_decay ** max(0.0, math.floor(epoch) - cfg.lr_decay_after + 1) if epoch >= cfg.lr_decay_after else lr
    if cfg.lr_schedule == "cosine":
        progress = 0.0
        if cfg.max_steps:
            progress = max(progress, step / cfg.max_steps)
        if cfg.max_epochs:
            progress = max(progress, epoch / cfg.max_epochs)
        if cfg.time_budget:
            progress = max(progress, elapsed_s / (cfg.time_budget * 60.0))
        progress = min(1.0, progress)
        return lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))
    return lr


def checkpoint_name(model_kind: str, epoch: float, loss: float | None) -> str:
    loss_part = f"{loss:.4f}" if loss is not None and math.isfinite(loss) else "noval"
    return f"lm_{model_kind}_epoch{epoch:.2f}_{loss_part}"


class _StopFlag:
    """SIGINT / SIGTERM set a flag; the loop saves at the next step boundary and exits cleanly."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # a second Ctrl-C: stop right away
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _progress_bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


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


# ---------------------------------------------------------------------------------------------


class Trainer:
    # Batches per tf.data element for one replica (see data._chunked): the loop pulls from the
    # iterator once every CHUNK steps and slices the rest from memory.
    CHUNK = 16

    def __init__(self, cfg: TrainConfig, log=None):
        import keras
        import tensorflow as tf

        from tfcharrnn import checkpoint as ckpt_lib
        from tfcharrnn.data import check_trainable, load_corpus
        from tfcharrnn.model import CharRNN

        cfg.validate()
        self.cfg = cfg
        self.log = (lambda *a, **k: None) if cfg.quiet else (log or functools.partial(print, flush=True))
        self.state = {"step": 0, "epoch_index": 0, "batch_in_epoch": 0, "epoch": 0.0, "chars_seen": 0, "elapsed_s": 0.0, "best_val_loss": None}
        resume_from = None
        if cfg.resume and not cfg.init_from:
            latest = ckpt_lib.read_pointer(cfg.checkpoint_dir, "latest") if os.path.isdir(cfg.checkpoint_dir) else None
            if latest is None:
                raise UserError(f"--resume: no latest.json in {cfg.checkpoint_dir!r}; train first or pass --init_from CHECKPOINT")
            resume_from = latest
        elif cfg.init_from:
            resume_from = cfg.init_from
        restored = ckpt_lib.load_checkpoint(resume_from) if resume_from else None
        if restored is not None:
            saved = restored.train_state.get("train_config", {})
            # The corpus layout must match for the data position to mean the same text.
            for key in ("layout", "seq_length", "batch_size", "stride", "val_frac", "test_frac", "seed", "byte_mode", "encoding"):
                if key in saved and saved[key] != getattr(cfg, key):
                    self.log(f"note: --{key} {getattr(cfg, key)!r} differs from the checkpoint's {saved[key]!r}; the data position restarts at the epoch start")
                    restored.train_state["batch_in_epoch"] = 0
                    restored.optimizer.pop("carry_state", None)

        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(cfg.seed)

        t0 = time.time()
        self.corpus = load_corpus(cfg.train_data, cfg.val_frac, cfg.test_frac, cfg.encoding, cfg.byte_mode)
        vocab = self.corpus.vocab
        self.prep_seconds = time.time() - t0
        check_trainable(len(self.corpus.train), cfg.seq_length, cfg.batch_size, cfg.layout, cfg.stride or cfg.seq_length)
        if cfg.val_frac > 0 and len(self.corpus.val) < 2:
            raise UserError(
                f"the corpus ({self.corpus.num_chars} characters) is too short to leave a validation split with "
                f"--val_frac {cfg.val_frac}; use more text or --val_frac 0"
            )

        self.strategy = make_strategy(cfg.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        self.chief = is_chief(self.strategy)
        if cfg.batch_size % self.replicas:
            raise UserError(f"--batch_size {cfg.batch_size} must divide evenly over {self.replicas} replicas; use a multiple of {self.replicas}")
        if not self.chief:
            self.log = lambda *a, **k: None

        if restored is not None:
            if restored.vocab != vocab:
                only_ckpt = sorted(set(restored.vocab.chars) - set(vocab.chars))
                only_data = sorted(set(vocab.chars) - set(restored.vocab.chars))
                raise UserError(
                    f"the corpus vocabulary ({vocab.size} chars) differs from the checkpoint's ({restored.vocab.size}): "
                    f"{len(only_data)} new, {len(only_ckpt)} missing characters; resume on the same corpus or start a new run"
                )
            self.model_config = restored.config
            self.state.update({k: v for k, v in restored.train_state.items() if k in self.state})
        else:
            self.model_config = cfg.model_config(vocab.size)
        self.vocab = vocab
        with self.strategy.scope():
            self.model = CharRNN(self.model_config)
            if restored is not None:
                ckpt_lib.assign_weights(self.model, restored.weights, restored.path)
            # Gradients are clipped by hand after the cross-replica sum (see _build_steps), so
            # one replica and N replicas clip the same global gradient.
            self.optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay or None)
            if cfg.weight_decay:
                self.optimizer.exclude_from_weight_decay(var_names=["bias"])
            self.optimizer.build(self.model.trainable_variables)
            if restored is not None:
                ckpt_lib.restore_optimizer(self.optimizer, self.model, restored.optimizer, restored.path)
        if cfg.fused:
            from tfcharrnn import fused

            fused.enable(self.model)
            fused.set_matmul_dtype(cfg.matmul_dtype)
        if restored is not None:
            self._restore_rng(restored.optimizer)
        self.carry = None
        if restored is not None and "carry_state" in restored.optimizer and cfg.layout == "stream" and self.replicas == 1:
            self.carry = tf.constant(restored.optimizer["carry_state"])
        self.monitor = None
        if cfg.tensorboard and self.chief:
            from tfcharrnn.monitor import RunMonitor

            self.monitor = RunMonitor(cfg.checkpoint_dir)
        self.history = []  # (step, loss) of every step: for tests and the curve
        self.restored_from = restored.path if restored is not None else None
        self.train_ids = tf.constant(np.ascontiguousarray(self.corpus.train))
        # Read when the train step is traced: False keeps the row groups inside each layer's
        # kernels (the step as it was before whole-step groups; scripts/bench.py compares them).
        self.group_steps = True
        self._build_steps()

    # --- compiled steps -------------------------------------------------------------------------
    def _build_steps(self):
        import tensorflow as tf

        from tfcharrnn import fused
        from tfcharrnn.model import _gpu_visible

        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        variables = model.trainable_variables
        global_chars = float(self.cfg.batch_size * self.cfg.seq_length)
        clip, replicas = self.cfg.grad_clip, self.replicas

        def loss_and_grads(x, y, state, masks=None):
            with tf.GradientTape() as tape:
                logits, new_state = model(x, state, training=True, masks=masks)  # (b, T, V), (b, S, H)
                per_char = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)  # (b, T)
                loss = tf.reduce_sum(per_char) / global_chars  # these rows' share of the global mean
            return loss, [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)], new_state

        def apply(grads):
            grads, _ = tf.clip_by_global_norm(grads, clip)
            if replicas > 1:  # Keras' optimizer sums the replicas' (now identical) gradients once more
                grads = [g / replicas for g in grads]
            optimizer.apply_gradients(zip(grads, variables))

        def replica_step(x, y, state):
            loss, grads, new_state = loss_and_grads(x, y, state)
            apply(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads))
            return loss, new_state

        # A whole step per row group (one replica on a CPU, fused kernels on): each group of rows
        # runs embedding, every layer, the loss and the backward pass as one XLA computation, and
        # the executor runs the groups' computations side by side on different cores; their
        # gradients add up to the batch's. Against splitting each layer's loops only, this drops
        # the executor's per-op overhead and the wait for both groups between layers (small
        # 2x128 LSTM: ~16 -> ~13.5 ms a step on 2 cores). Dropout and weight-drop masks are drawn
        # for the whole batch outside XLA (the very draws the one-group step makes) and split by rows.
        def group_grads(x, y, state, masks):
            with fused.one_group(model):
                return loss_and_grads(x, y, state, masks)

        compiled_group_grads = tf.function(group_grads, jit_compile=True, reduce_retracing=True)
        self.group_grads = compiled_group_grads  # its tracing count tells tests the grouped path ran

        def grouped_step(x, y, state, groups):
            masks = model.draw_masks(x.shape[0], tf.shape(x)[1])
            dropout = [tf.split(m, groups) for m in masks["dropout"]]  # per layer, per group (B/g, T, H)
            outs = [
                compiled_group_grads(xs, ys, ss, {"weight_drop": masks["weight_drop"], "dropout": [m[g] for m in dropout]})
                for g, (xs, ys, ss) in enumerate(zip(tf.split(x, groups), tf.split(y, groups), tf.split(state, groups)))
            ]
            apply([tf.add_n([o[1][i] for o in outs]) for i in range(len(variables))])
            return tf.add_n([o[0] for o in outs]), tf.concat([o[2] for o in outs], axis=0)

        def train_step(x, y, state, lr=None):
            if lr is not None:  # assigned in the step: an eager assign cost ~0.35 ms between steps (2 cores, 2x128 LSTM)
                optimizer.learning_rate = lr
            if self._single_replica:
                # bfloat16 matmuls keep the layer-level groups: oneDNN runs them faster than XLA does
                # (2x512 LSTM, same run: whole-step groups in bfloat16 no faster than in float32).
                whole_steps = (self.group_steps and self.cfg.strategy == "default" and not self.cfg.jit
                               and fused.MATMUL_DTYPE is None and not _gpu_visible())
                groups = fused.row_groups(model, x.shape[0]) if whole_steps else 1
                if groups > 1:
                    return grouped_step(x, y, state, groups)
                return replica_step(x, y, state)
            loss, new_state = strategy.run(replica_step, args=(x, y, state))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None), new_state

        def eval_step(x, y, state):
            logits, new_state = model(x, state, training=False)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)  # (B, T)
            return tf.reduce_sum(loss), new_state

        self.train_step = tf.function(train_step, jit_compile=self.cfg.jit or None, reduce_retracing=True)
        self.eval_step = tf.function(eval_step, reduce_retracing=True)

    @property
    def _multiworker(self) -> bool:
        return self.cfg.strategy in ("multiworker", "tpu")

    @property
    def _single_replica(self) -> bool:
        """One replica in this process: batches, state and the step's arguments are plain tensors."""
        return self.replicas == 1 and not self._multiworker

    def _distribute(self, ds):
        """Global (B, T) batches -> per-replica batches; row r of the global batch always goes to
        the same replica, so the state each replica carries continues its own rows' text."""
        import tensorflow as tf

        if self._single_replica:
            return ds
        n, per = self.replicas, self.cfg.batch_size // self.replicas

        def dataset_fn(ctx):
            per_pipeline = n // ctx.num_input_pipelines
            first = ctx.input_pipeline_id * per_pipeline * per

            def split(x, y):
                xs = tf.reshape(x[first : first + per_pipeline * per], [per_pipeline, per, -1])
                ys = tf.reshape(y[first : first + per_pipeline * per], [per_pipeline, per, -1])
                return tf.data.Dataset.from_tensor_slices((xs, ys))

            return ds.flat_map(split)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def train_batches(self, epoch_index: int, start_batch: int = 0):
        """Epoch ``epoch_index``'s training batches from ``start_batch`` on: (x, y) pairs, per-replica
        values when distributed. One replica pulls them from tf.data CHUNK batches at a time."""
        import tensorflow as tf

        from tfcharrnn.data import stream_dataset, window_dataset

        cfg = self.cfg
        chunk = self.CHUNK if self._single_replica else 1
        if cfg.layout == "stream":
            ds = stream_dataset(self.corpus.train, cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index, start_batch, self.train_ids, chunk=chunk)
        else:
            ds = window_dataset(self.corpus.train, cfg.seq_length, cfg.batch_size, cfg.stride or cfg.seq_length, cfg.seed,
                                epoch_index, start_batch, self.train_ids, chunk=chunk)
        for xs, ys in self._distribute(ds):
            if chunk == 1:
                yield xs, ys
            else:
                yield from zip(tf.unstack(xs), tf.unstack(ys))  # (K, B, T) -> K x (B, T)

    def _zero_carry(self):
        if self._single_replica:
            return self.model.initial_state(self.cfg.batch_size)
        per = self.cfg.batch_size // self.replicas
        return self.strategy.experimental_distribute_values_from_function(lambda ctx: self.model.initial_state(per))

    # --- evaluation -----------------------------------------------------------------------------
    def evaluate(self, ids) -> float | None:
        """Mean nats per character of ``ids``, state carried through each of 64 rows."""
        from tfcharrnn.data import eval_chunks

        chunks = eval_chunks(ids, rows=64, chunk=self.cfg.seq_length)
        if not chunks:
            return None
        state = self.model.initial_state(chunks[0][0].shape[0])
        total, count = 0.0, 0
        for x, y in chunks:
            loss_sum, state = self.eval_step(x, y, state)
            total += float(loss_sum)
            count += y.size
        return total / count

    def sample(self, length: int, temperature: float = 0.8, prompt: str = "") -> str:
        from tfcharrnn.sampling import Generator

        if not hasattr(self, "_generator"):
            self._generator = Generator(self.model, self.vocab)
        return self._generator.sample_text(prompt, length, seed=self.state["step"], temperature=temperature)[0]

    # --- checkpoints --------------------------------------------------------------------------
    def _restore_rng(self, arrays):
        """Dropout / weight-drop streams continue where the checkpoint left them (older checkpoints
        carry no rng_* arrays: their streams start afresh, as before)."""
        saved = [arrays[k] for k in sorted(arrays) if k.startswith("rng_")]
        generators = self.model.seed_generators()
        if saved and len(saved) == len(generators) and all(a.shape == tuple(g.state.shape) for a, g in zip(saved, generators)):
            for a, g in zip(saved, generators):
                g.state.assign(a.astype(g.state.dtype))

    def save(self, val_loss, reason=""):
        from tfcharrnn import checkpoint as ckpt_lib

        st = dict(self.state)
        st["val_loss"] = val_loss
        st["train_config"] = self.cfg.to_dict()
        name = checkpoint_name(self.model_config.model, st["epoch"], val_loss)
        pointers = ["latest"]
        best = self.state.get("best_val_loss")
        if val_loss is not None and (best is None or val_loss <= best):
            pointers.append("best")
            self.state["best_val_loss"] = st["best_val_loss"] = val_loss
        elif ckpt_lib.read_pointer(self.cfg.checkpoint_dir, "best") is None:
            pointers.append("best")
        if not self.chief:
            return None  # workers other than the chief never write (tf.distribute's rule)
        carry = self.carry.numpy() if self.carry is not None and self._single_replica else None
        rng = [g.state.numpy() for g in self.model.seed_generators()]
        path = ckpt_lib.save_checkpoint(self.cfg.checkpoint_dir, name, self.model, self.vocab, self.optimizer, st, carry, pointers, rng)
        ckpt_lib.prune(self.cfg.checkpoint_dir, self.cfg.keep_best)
        self.log(f"saved checkpoint {path}{' (' + reason + ')' if reason else ''}")
        self.last_checkpoint = path
        return path

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> dict:
        import tensorflow as tf

        lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.DeadlineExceededError)
        try:
            return self._run()
        except lost as e:
            if not self._multiworker:
                raise
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            telling = [line for line in lines if any(w in line.lower() for w in ("abort", "connect", "unavailable", "heartbeat", "timed out"))]
            first = (telling or lines or [""])[0][:200]
            raise RunFailed(
                f"lost contact with another worker ({type(e).__name__}: {first}); restart every worker with --resume "
                f"to continue from the chief's latest checkpoint in {self.cfg.checkpoint_dir!r}"
            ) from None

    def _run(self) -> dict:
        import tensorflow as tf

        from tfcharrnn.data import num_window_batches, stream_layout

        cfg, st = self.cfg, self.state
        n_params = self.model.count_params()
        self.log(f"corpus: {len(self.corpus.paths)} file(s), {self.corpus.num_chars:,} chars, vocab {self.vocab.size}, "
                 f"train {len(self.corpus.train):,} / val {len(self.corpus.val):,} / test {len(self.corpus.test):,} ({self.prep_seconds:.1f}s)")
        self.log(f"model: {self.model_config.num_layers}x{self.model_config.hidden_size} {self.model_config.model}, "
                 f"{n_params:,} parameters; layout {cfg.layout}, batch {cfg.batch_size} x seq {cfg.seq_length}")
        if self.restored_from:
            self.log(f"resumed from {self.restored_from} at step {st['step']}, epoch {st['epoch']:.2f}")

        def batches_in(epoch_index):
            if cfg.layout == "stream":
                return stream_layout(len(self.corpus.train), cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index)[1]
            return num_window_batches(len(self.corpus.train), cfg.seq_length, cfg.stride or cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index)

        chars_per_step = cfg.batch_size * cfg.seq_length
        start_time = time.time() - st["elapsed_s"]
        smooth = None
        val_loss = None
        last_report_t, last_report_step = time.time(), st["step"]
        stop_reason = None
        zero_state = self._zero_carry()
        self.last_checkpoint = None
        with _StopFlag() as stop:
            while stop_reason is None:
                e = st["epoch_index"]
                nb = batches_in(e)
                if cfg.layout == "stream" and (st["batch_in_epoch"] == 0 or self.carry is None):
                    self.carry = zero_state
                for x, y in self.train_batches(e, st["batch_in_epoch"]):
                    elapsed = time.time() - start_time
                    lr = learning_rate(cfg, st["step"], st["epoch"], elapsed)
                    state_in = self.carry if cfg.layout == "stream" else zero_state
                    if self._single_replica:
                        loss, new_state = self.train_step(x, y, state_in, tf.constant(lr, tf.float32))  # assigned in the step
                    else:
                        self.optimizer.learning_rate = lr
                        loss, new_state = self.train_step(x, y, state_in)
                    loss = float(loss)
                    if not math.isfinite(loss):
                        where = f"; last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint else ""
                        raise RunFailed(
                            f"loss became {loss} at step {st['step'] + 1} (learning rate {lr:.3g}); "
                            f"lower --learning_rate or --grad_clip and resume{where}"
                        )
                    if cfg.layout == "stream":
                        self.carry = new_state
                    st["step"] += 1
                    st["batch_in_epoch"] += 1
                    st["epoch"] = e + st["batch_in_epoch"] / nb
                    st["chars_seen"] += chars_per_step
                    st["elapsed_s"] = time.time() - start_time
                    smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
                    step = st["step"]
                    self.history.append((step, loss))

                    if step % cfg.iters_to_report == 0:
                        now = time.time()
                        rate = (step - last_report_step) / max(now - last_report_t, 1e-9)
                        last_report_t, last_report_step = now, step
                        if self.monitor:
                            self.monitor.train(step, st["epoch"], loss, smooth, rate * chars_per_step, rate, lr, st["chars_seen"], st["elapsed_s"])
                        self.log(f"{step:6d} | epoch {st['epoch']:6.2f} {_progress_bar(st['batch_in_epoch'] / nb)} | loss {loss:.4f} | "
                                 f"smooth {smooth:.4f} | {rate * chars_per_step:9,.0f} chars/s | {rate:6.2f} it/s | lr {lr:.2e}")
                    if cfg.eval_val_every and step % cfg.eval_val_every == 0:
                        val_loss = self._report_val()
                        self.save(val_loss)
                    if cfg.sample_every and step % cfg.sample_every == 0 and cfg.sample_length and self.chief:
                        text = self.sample(cfg.sample_length)
                        if self.monitor:
                            self.monitor.sample(step, text)
                        self.log("---- sample ----\n" + text + "\n----------------")

                    wants_stop = bool(stop.signal) or bool(cfg.time_budget and st["elapsed_s"] >= cfg.time_budget * 60)
                    if self._multiworker and step % cfg.iters_to_report == 0:
                        wants_stop = self._agree(wants_stop)  # every worker must stop on the same step
                    elif self._multiworker:
                        wants_stop = False
                    if wants_stop and stop.signal:
                        stop_reason = f"{stop.signal} received"
                    elif wants_stop and self._multiworker and not cfg.time_budget:
                        stop_reason = "another worker was interrupted"
                    elif cfg.max_steps and step >= cfg.max_steps:
                        stop_reason = f"reached --max_steps {cfg.max_steps}"
                    elif cfg.max_epochs and st["epoch"] >= cfg.max_epochs - 1e-9:
                        stop_reason = f"reached --max_epochs {cfg.max_epochs:g}"
                    elif wants_stop and cfg.time_budget:
                        stop_reason = f"reached --time_budget {cfg.time_budget:g} min"
                    if stop_reason:
                        break
                else:
                    st["epoch_index"] += 1
                    st["batch_in_epoch"] = 0
                    st["epoch"] = float(st["epoch_index"])
                    self.carry = None
                    if nb == 0:
                        raise UserError("an epoch has no batches; lower --batch_size or --seq_length")
                    continue

        self.log(f"stopping: {stop_reason}")
        interrupted = stop_reason.endswith("received")
        val_loss = self._report_val()
        path = self.save(val_loss, reason=stop_reason)
        result = {"step": st["step"], "epoch": st["epoch"], "val_loss": val_loss, "checkpoint": path, "elapsed_s": st["elapsed_s"],
                  "chars_seen": st["chars_seen"], "stop_reason": stop_reason, "params": n_params}
        if len(self.corpus.test):
            result["test_loss"] = self.evaluate(self.corpus.test)
            self.log(f"test loss {result['test_loss']:.4f} nats/char ({result['test_loss'] / math.log(2):.4f} bits/char)")
        if self.monitor:
            self.monitor.end(**{k: v for k, v in result.items() if k != "checkpoint"}, checkpoint=path)
        if interrupted:
            self.log(f"interrupted; resume with: python scripts/train.py --resume --checkpoint_dir {cfg.checkpoint_dir} (plus the same data and optimisation flags; the model comes from the checkpoint)")
        if cfg.sample_length and not interrupted:
            self.log("---- sample ----\n" + self.sample(cfg.sample_length * 2) + "\n----------------")
        return result

    def _report_val(self):
        if not len(self.corpus.val):
            return None
        t = time.time()
        val = self.evaluate(self.corpus.val)
        if val is not None and self.monitor:
            self.monitor.validation(self.state["step"], self.state["epoch"], val, self.state["chars_seen"], self.state["elapsed_s"])
        if val is not None:
            self.log(f"validation: {val:.4f} nats/char, {val / math.log(2):.4f} bits/char, perplexity {math.exp(min(val, 700)):.2f} "
                     f"(step {self.state['step']}, {time.time() - t:.1f}s)")
        return val


    def _agree(self, flag: bool) -> bool:
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


def train(cfg: TrainConfig, log=None) -> dict:
    return Trainer(cfg, log=log).run()
