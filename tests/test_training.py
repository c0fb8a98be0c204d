"""Training on real text: loss goes down, checkpoints reload exactly, resume is exact, errors are clear."""

import dataclasses
import json
import math
import os
import re
import signal

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.errors import UserError
from tfcharrnn.recurrence import Recurrence
from tfcharrnn.training import TrainConfig, Trainer, learning_rate, train
from tfcharrnn.training.train_path import TrainPath


# --- does it learn? ----------------------------------------------------------------------------
#
# A model that learns only character frequencies reaches the unigram entropy of the text (~3.25
# nats/char here); one that sees only the current character (its recurrence broken, or its state
# never carried from one character to the next) reaches at best the conditional entropy of the next
# character given the current one. Measured on the validation split itself, that conditional entropy
# is a floor no such model can go below, whatever it learned: the validation loss is a
# cross-entropy over exactly those (current, next) pairs, and the empirical conditional
# distribution minimises it. So "below the bigram floor" can only be reached with context from
# further back, which only a working recurrence carries.
#
# Measured on small_corpus (first 60,000 characters of Tiny Shakespeare; validation: the last 6,000):
# unigram entropy 3.254, bigram floor 2.239 nats/char. LEARNS below, 150 steps (~2-4 s): LSTM 1.855,
# GRU 1.797, RNN 1.888, LSTM bfloat16 1.859, LSTM with dropout + weight drop + decay 1.961; the same
# LSTM with its recurrence disabled (NoRecurrence) 2.416. A fixed threshold such as "below 3.5" would
# pass a model stuck at the unigram plateau (3.25): the floor is what a working recurrence must beat.

LEARNS = dict(hidden_size=64, num_layers=1, batch_size=32, seq_length=64, learning_rate=0.03, max_steps=150)


def unigram_entropy(ids, vocab_size) -> float:
    counts = np.bincount(np.asarray(ids, np.int64), minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def bigram_floor(ids, vocab_size) -> float:
    """H(next | current) over the consecutive pairs of ``ids`` (nats): the lowest mean loss on these
    ids of any model that sees only the current character."""
    ids = np.asarray(ids, np.int64)
    pairs = np.zeros((vocab_size, vocab_size))
    np.add.at(pairs, (ids[:-1], ids[1:]), 1)
    rows = pairs.sum(axis=1, keepdims=True)
    seen = pairs > 0
    return float(-(pairs[seen] * np.log((pairs / np.maximum(rows, 1))[seen])).sum() / pairs.sum())


def assert_uses_context(trainer, result):
    """The validation loss is below what the current character alone can give: the recurrence works."""
    floor = bigram_floor(trainer.corpus.val, trainer.vocab.size)
    assert math.isfinite(result["val_loss"]) and result["val_loss"] < floor, (
        f"validation loss {result['val_loss']:.4f} is not below the bigram floor {floor:.4f} "
        f"(unigram entropy {unigram_entropy(trainer.corpus.val, trainer.vocab.size):.4f}): the model does not use context")


@dataclasses.dataclass(frozen=True)
class NoRecurrence(Recurrence):
    """The recurrence disabled: every time step runs from the zero state, so each
    prediction sees only the current character (the state is never carried, not even one step).
    Everything else (embedding, cells, head, optimiser, evaluation) is the real code."""

    def run_layer(self, layer, x, state, training=False):
        from tfcharrnn import fused

        ids = x.ids if isinstance(x, fused.Lookup) else x
        batch, steps, units = tf.shape(ids)[0], tf.shape(ids)[1], layer.cell.units
        if isinstance(x, fused.Lookup):
            one_step = fused.Lookup(tf.reshape(x.ids, [-1, 1]), x.table)  # (B * T, 1): each step its own sequence
        else:
            one_step = tf.reshape(x, [-1, 1, x.shape[-1]])
        zeros = [tf.zeros([batch * steps, units]) for _ in state]
        out, _ = super().run_layer(layer, one_step, zeros, training)
        return tf.reshape(out, [batch, steps, units]), [tf.zeros_like(s) for s in state]


def test_training_learns_more_than_the_current_character_gives(small_corpus, tmp_path):
    trainer = Trainer(tiny_config(small_corpus, tmp_path, **LEARNS))
    before = trainer.evaluate(trainer.corpus.val)
    assert before == pytest.approx(math.log(trainer.vocab.size), abs=1.0)  # an untrained model: about uniform
    assert_uses_context(trainer, trainer.run())


def test_a_model_without_recurrence_fails_the_learning_check(small_corpus, tmp_path):
    """The check above can fail: the same run with the recurrence disabled learns the bigram
    statistics (well below the unigram entropy) and still cannot get under the floor."""
    trainer = Trainer(tiny_config(small_corpus, tmp_path, **LEARNS), path=TrainPath("no-recurrence", NoRecurrence()))
    result = trainer.run()
    assert result["val_loss"] < unigram_entropy(trainer.corpus.val, trainer.vocab.size) - 0.5  # it learned what it can see
    with pytest.raises(AssertionError, match="does not use context"):
        assert_uses_context(trainer, result)


@pytest.mark.parametrize("cell", [dict(model="gru"), dict(model="rnn"), dict(model="lstm", multiplicative_integration=True)], ids=["gru", "rnn", "mi-lstm"])
def test_other_cells_train(small_corpus, tmp_path, cell):
    trainer = Trainer(tiny_config(small_corpus, tmp_path, **cell, **LEARNS))
    assert_uses_context(trainer, trainer.run())


def test_bfloat16_matmuls_train_and_stay_with_their_own_model(small_corpus, tmp_path):
    """The matmul dtype is part of one trainer's recurrence value, not process state: a float32 trainer
    built afterwards in the same process is float32, and the bfloat16 one stays bfloat16."""
    bf16 = Trainer(tiny_config(small_corpus, tmp_path / "bf16", train_path="layer-groups-bf16", **LEARNS))
    assert_uses_context(bf16, bf16.run())
    f32 = Trainer(tiny_config(small_corpus, tmp_path / "f32", max_steps=1))
    assert f32.model.recurrence.matmul_dtype == "float32" and bf16.model.recurrence.matmul_dtype == "bfloat16"


def test_regularised_run_trains_and_its_checkpoint_keeps_the_settings(small_corpus, tmp_path):
    trainer = Trainer(tiny_config(small_corpus, tmp_path, weight_drop=0.3, weight_decay=0.1, dropout=0.1, **LEARNS))
    result = trainer.run()
    assert_uses_context(trainer, result)
    ckpt = ckpt_lib.load_checkpoint(result["checkpoint"])
    assert ckpt.config.weight_drop == 0.3 and ckpt.train_state["train_config"]["weight_decay"] == 0.1


def test_checkpoints_hold_the_moving_average_and_the_last_the_better_of_it_and_the_raw_weights(small_corpus, tmp_path):
    """--ema_momentum m: validation and the checkpoints along the way use the average of every step's
    weights (a <- w_1, then a <- m_t a + (1 - m_t) w_t with m_t = min(m, (t - 1) / (t + 4)), warming
    up: recomputed here from the raw weights); the last checkpoint holds whichever of the average and
    the raw weights scores better on validation and says which; training's own weights stay in the model."""
    trainer = Trainer(tiny_config(small_corpus, tmp_path, max_steps=20, eval_val_every=10, ema_momentum=0.6))
    raw, step = [], trainer._step

    def recording(*args):
        out = step(*args)
        raw.append([v.numpy() for v in trainer.model.trainable_variables])
        return out

    trainer._step = recording
    result = trainer.run()
    averages = [raw[0]]
    for t, weights in enumerate(raw[1:], start=2):
        m = np.float32(min(0.6, (t - 1) / (t + 4)))  # 0.6 from the 9th step on
        averages.append([m * a + (1 - m) * w for a, w in zip(averages[-1], weights)])
    variables = trainer.model.trainable_variables
    (step10,) = [path for path, meta in ckpt_lib.list_checkpoints(str(tmp_path)) if meta["train_state"]["step"] == 10]
    assert ckpt_lib.load_checkpoint(step10).train_state["weights"] == "average"
    for v, a in zip(variables, averages[9]):
        np.testing.assert_allclose(ckpt_lib.load_checkpoint(step10).weights[v.path], a, rtol=1e-5, atol=1e-6, err_msg=v.path)
    for v, w in zip(variables, raw[-1]):
        np.testing.assert_array_equal(v.numpy(), w)  # training's own weights, back after the saves
    assert max(np.abs(a - w).max() for a, w in zip(averages[-1], raw[-1])) > 1e-3  # the average is not the last step's weights
    scores = {"raw": trainer.evaluate(trainer.corpus.val)}
    for v, a in zip(variables, averages[-1]):
        v.assign(a)
    scores["average"] = trainer.evaluate(trainer.corpus.val)
    kept = min(scores, key=scores.get)
    assert result["raw_val_loss"] == pytest.approx(scores["raw"], rel=1e-5)
    assert result["weights"] == kept and result["val_loss"] == pytest.approx(scores[kept], rel=1e-5)
    last = ckpt_lib.load_checkpoint(result["checkpoint"], with_optimizer=False)
    assert last.train_state["weights"] == kept and last.train_state["val_loss"] == pytest.approx(scores[kept], rel=1e-5)
    for v, w in zip(variables, raw[-1] if kept == "raw" else averages[-1]):
        np.testing.assert_allclose(last.weights[v.path], w, rtol=1e-5, atol=1e-6, err_msg=v.path)


def test_weight_decay_shrinks_weight_matrices_not_biases(small_corpus, tmp_path):
    """Decoupled decay (AdamW): with a zero gradient a matrix shrinks by lr x decay, a bias stays."""
    trainer = Trainer(tiny_config(small_corpus, tmp_path, weight_decay=0.5, max_steps=1, multiplicative_integration=True))
    trainer.optimizer.learning_rate = 0.1
    variables = trainer.model.trainable_variables
    before = [v.numpy() for v in variables]
    trainer.optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    for v, b in zip(variables, before):
        expected = b if "bias" in v.path or "integration" in v.path else b * (1 - 0.1 * 0.5)  # integration: MILSTMCell's gains
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6, atol=1e-7, err_msg=v.path)


def _sgd_trainer(cfg, groups):
    """A Trainer whose step applies plain SGD at lr 1 (weights move by the clipped gradient, so two
    steps compare by their gradients, not by Adam's sign-like first update), run as ``groups`` row groups."""
    import keras

    path = TrainPath("step-groups", Recurrence.fused(groups), step_groups=groups) if groups > 1 else TrainPath("whole-batch", Recurrence.fused(1))
    from tfcharrnn.training.steps import Steps

    trainer = Trainer(cfg, path=path)
    trainer.optimizer = keras.optimizers.SGD(learning_rate=1.0)
    trainer.optimizer.build(trainer.model.trainable_variables)
    trainer.steps = Steps(trainer.model, trainer.optimizer, trainer.dist, trainer.path, cfg, trainer.unseen)
    return trainer


def _batch(trainer, rows=8, steps=32):
    ids = trainer.train_ids[: rows * steps + 1].numpy().astype(np.int32)
    x = tf.constant(ids[:-1].reshape(rows, steps))
    y = tf.constant(ids[1:].reshape(rows, steps))
    state = tf.random.normal([rows, trainer.model_config.num_states, trainer.model_config.hidden_size], stddev=0.5, seed=3)
    return x, y, state


@pytest.mark.parametrize("kind, regularisers", [("lstm", {}), ("lstm", dict(multiplicative_integration=True)), ("gru", {}), ("rnn", {}),
                                                ("lstm", dict(dropout=0.3, weight_drop=0.3)),
                                                ("lstm", dict(unseen_share=0.05))])
def test_a_whole_step_per_row_group_equals_the_batch_step(request, small_corpus, tmp_path, kind, regularisers):
    """Two row groups, each one XLA computation, give the step over the whole batch: loss, carried
    state, gradients; with dropout and weight drop, the very masks the batch step draws; with a
    share for characters only the validation text holds (--unseen_share), the same objective."""
    from tfcharrnn.recurrence import gpu_visible

    if gpu_visible():
        pytest.skip("on a GPU the Keras layers (cuDNN) run the step; row groups are a CPU path")
    got = []
    for groups in (1, 2):
        corpus = request.getfixturevalue("absent_corpus") if "unseen_share" in regularisers else small_corpus
        trainer = _sgd_trainer(tiny_config(corpus, tmp_path / str(groups), model=kind, max_steps=1, **regularisers), groups)
        assert trainer.path.groups_for(8) == groups and (trainer.steps.unseen is not None) == ("unseen_share" in regularisers)
        before = [v.numpy() for v in trainer.model.trainable_variables]
        loss, state = trainer.train_step(*_batch(trainer), tf.constant(1.0))  # lr 1: SGD moves by the gradient
        assert trainer.steps.group_grads.experimental_get_tracing_count() == (1 if groups > 1 else 0)  # the grouped path ran (or not)
        deltas = [v.numpy() - b for v, b in zip(trainer.model.trainable_variables, before)]
        got.append((float(loss), state.numpy(), before, deltas, [g.state.numpy() for g in trainer.model.seed_generators()]))
    (loss1, state1, init1, d1, rng1), (loss2, state2, init2, d2, rng2) = got
    for a, b in zip(init1, init2):
        np.testing.assert_array_equal(a, b)  # the same seed built the same model
    assert loss2 == pytest.approx(loss1, rel=1e-6)
    np.testing.assert_allclose(state2, state1, atol=1e-5)
    assert any(np.abs(d).max() > 1e-3 for d in d1)
    for a, b in zip(d1, d2):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert len(rng1) == (3 if "dropout" in regularisers else 0)  # two layers' dropout streams and weight drop's
    for a, b in zip(rng1, rng2):
        np.testing.assert_array_equal(a, b)  # the streams advanced alike


def test_adams_update_compiled_on_its_own_steps_as_the_graphs_does(small_corpus, tmp_path):
    """Adam's update (clipping, Adam, weight decay, the moving average) as its own XLA computation moves
    the weights and their average as TensorFlow's graph does; Muon's update is not compiled."""
    from tfcharrnn.training.averaging import swap_average
    from tfcharrnn.training.steps import Steps

    got = []
    for compiled in (True, False):
        trainer = Trainer(tiny_config(small_corpus, tmp_path / str(compiled), weight_decay=0.1))
        assert (trainer.steps.update != trainer.steps._apply) and trainer.steps.update.experimental_get_tracing_count() == 0
        if not compiled:
            trainer.steps = Steps(trainer.model, trainer.optimizer, trainer.dist, trainer.path, trainer.cfg, trainer.unseen)
        x, y, state = _batch(trainer)
        for _ in range(3):
            _, state = trainer.train_step(x, y, state, tf.constant(1e-2))
        if compiled:
            assert trainer.steps.update.experimental_get_tracing_count() == 1  # the compiled update ran
        weights = [v.numpy() for v in trainer.model.trainable_variables]
        swap_average(trainer.model, trainer.optimizer)
        got.append((weights, [v.numpy() for v in trainer.model.trainable_variables]))
    (w1, avg1), (w2, avg2) = got
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(w1, avg1))  # three steps moved the weights away from their average
    for a, b in zip(w1 + avg1, w2 + avg2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    muon = Trainer(tiny_config(small_corpus, tmp_path / "muon", optimizer="muon"))
    assert muon.steps.update == muon.steps._apply


PROGRESS_LINE = re.compile(r"^\s*(\d+) \| epoch")  # the trainer's line after a step


def stop_when(condition):
    """A log function for train(): after the first progress line whose step satisfies ``condition``, this
    process gets SIGTERM, and the trainer does what it does for a user's Ctrl-C or kill: it finishes
    the step, saves, and stops. So a run can stop half-way without changing the flags its schedule
    depends on (a smaller --max_steps would bend a cosine)."""

    def log(line="", *_, **__):
        match = PROGRESS_LINE.match(str(line))
        if match and condition(int(match.group(1))):
            signal.raise_signal(signal.SIGTERM)

    return log


def records(run_dir, kind="train"):
    return [r for r in map(json.loads, open(os.path.join(run_dir, "metrics.jsonl"))) if r["kind"] == kind]


def tensorboard_steps(run_dir, tag):
    steps = []
    for events in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return sorted(steps)


@pytest.mark.parametrize("layout, regularised, optimizer", [("stream", False, "adam"), ("windows", False, "adam"), ("stream", True, "adam"),
                                                         ("stream", True, "muon")])
def test_resume_is_exact(small_corpus, tmp_path, layout, regularised, optimizer):
    """N steps straight == N/2 steps, stop, resume, N/2 steps, under the cosine schedule: every step's
    learning rate, the data position, the weights, the optimizer's state and (with dropout and weight drop)
    the random streams, bit for bit (--deterministic promises bit-exact reruns on one machine).
    The resumed run appends to metrics.jsonl and TensorBoard: both hold all N steps."""
    common = dict(layout=layout, deterministic=True, lr_schedule="cosine", max_steps=16, stride=16, iters_to_report=1, sample_length=0,
                  optimizer=optimizer)
    if regularised:
        common.update(dropout=0.3, weight_drop=0.3, weight_decay=0.1)
    straight = train(tiny_config(small_corpus, tmp_path / "a", **common))
    half = train(tiny_config(small_corpus, tmp_path / "b", quiet=False, **common), log=stop_when(lambda step: step == 8))
    assert half["step"] == 8 and half["stop_reason"] == "SIGTERM received"
    assert half["weights"] == "raw"  # 8 steps in, the average still holds untrained weights: resumed from the raw ones, not swapped
    resumed = train(tiny_config(small_corpus, tmp_path / "b", resume=True, **common))
    assert resumed["step"] == straight["step"] == 16
    lrs = {name: [(r["step"], r["learning_rate"]) for r in records(tmp_path / name)] for name in ("a", "b")}
    assert lrs["a"] == lrs["b"] and [s for s, _ in lrs["b"]] == list(range(1, 17))  # the first 8 kept, 8 appended
    assert len({lr for _, lr in lrs["a"]}) == 16  # the schedule moves every step
    assert len(records(tmp_path / "b", "end")) == 2
    assert tensorboard_steps(tmp_path / "b", "train/learning_rate") == list(range(1, 17))
    a, b = ckpt_lib.load_checkpoint(straight["checkpoint"]), ckpt_lib.load_checkpoint(resumed["checkpoint"])
    for key in ("step", "epoch_index", "batch_in_epoch", "epoch", "chars_seen"):
        assert a.train_state[key] == b.train_state[key], key
    for kind in ("weights", "optimizer", "run_arrays"):  # the optimizer's moments and counter; the carried state and random streams
        got, want = getattr(b, kind), getattr(a, kind)
        assert sorted(got) == sorted(want), kind
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{kind} {name}")
    assert len(a.run_arrays) == (3 if regularised else 0) + (layout == "stream")


@pytest.mark.parametrize("layout", ["stream", "windows"])
def test_batches_pulled_several_per_element_train_as_one_at_a_time(small_corpus, tmp_path, monkeypatch, layout):
    """BATCHES_PER_ELEMENT (tfcharrnn.training.trainer) is a speed matter only: the same losses step by step, across an
    epoch boundary and an element cut short by it."""
    from tfcharrnn import data
    from tfcharrnn.training import trainer as trainer_module

    histories, asked = [], []
    for name in ("stream_dataset", "window_dataset"):  # spy: the batches per element the trainer asks for
        real = getattr(data, name)
        monkeypatch.setattr(data, name, lambda *a, _real=real, **kw: asked.append(kw.get("batches_per_element", 1)) or _real(*a, **kw))
    for per_element in (1, 16):
        monkeypatch.setattr(trainer_module, "BATCHES_PER_ELEMENT", per_element)
        cfg = tiny_config(small_corpus, tmp_path / str(per_element), layout=layout, deterministic=True, batch_size=16, seq_length=64, max_steps=60)
        trainer = Trainer(cfg)
        batches_per_epoch = sum(1 for _ in trainer.train_batches(0))
        assert batches_per_epoch < 60 and batches_per_epoch % 16, batches_per_epoch
        trainer.run()
        histories.append(trainer.history)
    assert set(asked) == {1, 16}
    assert [s for s, _ in histories[0]] == [s for s, _ in histories[1]] == list(range(1, 61))
    np.testing.assert_allclose([loss for _, loss in histories[0]], [loss for _, loss in histories[1]], rtol=1e-6)


def test_resume_on_a_different_vocabulary_is_a_clear_error(tiny_checkpoint, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("completely different text 0123456789 " * 300)
    with pytest.raises(UserError, match="vocabulary"):
        Trainer(tiny_config(str(other), tmp_path / "r", init_from=tiny_checkpoint))


def test_learning_rate_schedules():
    cfg = TrainConfig(learning_rate=1.0, lr_schedule="cosine", max_steps=100, max_epochs=0, min_lr_frac=0.1)
    assert learning_rate(cfg, 0, 0, 0) == pytest.approx(1.0)
    assert learning_rate(cfg, 50, 0, 0) == pytest.approx(0.55)
    assert learning_rate(cfg, 100, 0, 0) == pytest.approx(0.1)
    exp = TrainConfig(learning_rate=1.0, lr_schedule="exp", lr_decay=0.5, lr_decay_after=2)
    assert [learning_rate(exp, 0, e, 0) for e in (0.5, 1.9, 2.1, 3.5)] == [1.0, 1.0, 0.5, 0.25]
    wsd = TrainConfig(learning_rate=1.0, lr_schedule="wsd", max_steps=100, max_epochs=0, min_lr_frac=0.1, lr_decay_frac=0.4)
    assert [learning_rate(wsd, step, 0, 0) for step in (0, 59, 60, 80, 100, 120)] == pytest.approx([1.0, 1.0, 1.0, 0.55, 0.1, 0.1])



def test_cosine_schedule_over_a_time_budget():
    from tfcharrnn.training import TrainConfig, learning_rate

    cfg = TrainConfig(learning_rate=1.0, lr_schedule="cosine", time_budget=2.0, max_epochs=0, min_lr_frac=0.1)
    assert learning_rate(cfg, 0, 0.0, 0.0) == pytest.approx(1.0)
    assert learning_rate(cfg, 50, 0.3, 60.0) == pytest.approx(0.55)  # half the budget gone: half-way down
    assert learning_rate(cfg, 90, 0.5, 120.0) == pytest.approx(0.1)  # the budget's end: the floor
    assert learning_rate(cfg, 99, 0.6, 500.0) == pytest.approx(0.1)  # past it (the last step ends late): stays there
    both = dataclasses.replace(cfg, max_epochs=4.0)  # whichever limit is further along decides
    assert learning_rate(both, 10, 2.0, 30.0) == pytest.approx(0.55)
    assert learning_rate(both, 10, 1.0, 60.0) == pytest.approx(0.55)


def test_a_time_budgeted_run_resumed_half_way_continues_its_schedule_to_the_floor(small_corpus, tmp_path):
    """--time_budget 0.15 (9 s), stopped (SIGTERM) once half of it is spent, then --resume: the clock
    continues where it stopped, so the resumed run's first learning rate is no higher than where the
    schedule stood (a clock restarted at 0 would start again at the peak), the rate only goes down,
    and the run ends when the summed time reaches the budget, its last rate near the floor. The
    keras path: its first step (tracing) takes ~2 s of the budget, the XLA paths' ~5 s. No
    validations, so early stopping (--patience) never ends it."""
    cfg = tiny_config(small_corpus, tmp_path, train_path="keras", max_steps=0, max_epochs=0, time_budget=0.15, iters_to_report=1,
                      lr_schedule="cosine", min_lr_frac=0.05, sample_length=0)
    budget_s = cfg.time_budget * 60
    first = train(dataclasses.replace(cfg, quiet=False), log=stop_when(lambda step: records(tmp_path)[-1]["elapsed_s"] >= budget_s / 2))
    assert first["stop_reason"] == "SIGTERM received" and budget_s / 2 <= first["elapsed_s"] < budget_s
    stopped = ckpt_lib.load_checkpoint(first["checkpoint"]).train_state
    result = train(dataclasses.replace(cfg, resume=True))
    assert "time_budget" in result["stop_reason"] and result["elapsed_s"] >= budget_s
    rows = records(tmp_path)
    lrs = [r["learning_rate"] for r in rows]
    assert [r["step"] for r in rows] == list(range(1, result["step"] + 1))
    resumed = rows[first["step"]]
    assert resumed["elapsed_s"] >= stopped["elapsed_s"]  # time is summed over the runs
    where = learning_rate(cfg, stopped["step"], stopped["epoch"], stopped["elapsed_s"])  # at least half-way down
    floor, peak = cfg.learning_rate * cfg.min_lr_frac, cfg.learning_rate
    assert where < floor + 0.5 * (peak - floor) and resumed["learning_rate"] <= where, (resumed, where)
    assert lrs[0] > 0.85 * peak  # the first step starts near the peak
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # it only goes down, across the resume too
    assert lrs[-1] - floor < 0.15 * (peak - floor), (lrs[-5:], floor)  # the last step's rate: (nearly) the floor
    assert math.isfinite(result["val_loss"])


@pytest.mark.parametrize(
    "field, value",
    [("learning_rate", 0.0), ("learning_rate", -1.0), ("batch_size", 0), ("seq_length", -5), ("hidden_size", 0), ("dropout", 1.5),
     ("weight_drop", 1.0), ("weight_decay", -0.1),
     ("val_frac", 1.2), ("grad_clip", 0.0), ("layout", "zigzag"), ("model", "transformer")],
)
def test_bad_settings_are_clear_errors(small_corpus, tmp_path, field, value):
    cfg = tiny_config(small_corpus, tmp_path, **{field: value})
    with pytest.raises(UserError):
        Trainer(cfg)


def test_monitoring_files(small_corpus, tmp_path):
    """metrics.jsonl, TensorBoard events (scalars and sample text) and the curve PNG in the run directory."""
    train(tiny_config(small_corpus, tmp_path, max_steps=20, iters_to_report=5, eval_val_every=10, sample_every=10, sample_length=30))
    # validations at steps 10 and 20; the end of the run at step 20 reuses the second (a step is validated once)
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    kinds = [r["kind"] for r in records]
    assert kinds.count("train") == 4 and kinds.count("val") == 2 and kinds.count("sample") == 2 and kinds[-1] == "end"
    train_rec = next(r for r in records if r["kind"] == "train")
    assert {"step", "epoch", "loss", "smooth_loss", "chars_per_s", "iters_per_s", "learning_rate", "chars_seen", "elapsed_s"} <= set(train_rec)
    val_rec = next(r for r in records if r["kind"] == "val")
    assert val_rec["val_bits_per_char"] == pytest.approx(val_rec["val_loss"] / math.log(2))
    png = (tmp_path / "training_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        tags.update(v.tag for v in event.summary.value)
    assert {"train/loss", "val/loss_nats", "val/bits_per_char", "train/learning_rate", "train/chars_per_s", "samples"} <= tags


def test_a_new_model_starts_from_the_texts_character_frequencies(tmp_path, small_corpus, tiny_checkpoint):
    """A new run's output bias is the training text's character log-frequencies (add-one), counted
    here from the text itself; a fine-tuned run keeps the bias it loaded."""
    from collections import Counter

    trainer = Trainer(tiny_config(small_corpus, tmp_path / "new"))
    with open(small_corpus, encoding="utf-8") as f:
        text = f.read()
    train_text = text[: len(trainer.corpus.train)]
    counts = Counter(train_text)
    expected = np.array([counts[c] + 1.0 for c in trainer.vocab.chars])
    np.testing.assert_allclose(tf.nn.softmax(trainer.model.head.bias).numpy(), expected / expected.sum(), rtol=1e-5)

    tuned = Trainer(tiny_config(small_corpus, tmp_path / "tuned", finetune_from=tiny_checkpoint))
    np.testing.assert_array_equal(tuned.model.head.bias.numpy(), ckpt_lib.load_checkpoint(tiny_checkpoint).model.head.bias.numpy())


def test_unseen_chars_are_the_vocabulary_s_characters_training_never_shows_with_good_turing_s_share():
    from tfcharrnn.model import unseen_chars

    ids = np.array([0, 0, 1, 2, 2, 2, 3])  # vocabulary of 6: 4 and 5 absent; kinds 1 and 3 occur once
    absent, share = unseen_chars(ids, 6)
    assert absent.tolist() == [4, 5] and share == pytest.approx(2 / 7)  # N1 / N
    assert unseen_chars(ids, 6, share=0.01)[1] == 0.01  # --unseen_share wins
    absent, share = unseen_chars(ids, 4)
    assert absent.tolist() == [] and share == 0.0  # nothing absent: plain cross-entropy


@pytest.fixture(scope="module")
def absent_corpus(tmp_path_factory, shakespeare_text):
    """30,000 characters of Tiny Shakespeare whose last 3,000 (the validation split) write k and y as ĸ and ŷ."""
    path = tmp_path_factory.mktemp("absent") / "text.txt"
    path.write_text(shakespeare_text[:27_000] + shakespeare_text[27_000:30_000].replace("k", "ĸ").replace("y", "ŷ"), encoding="utf-8")
    return str(path)


def test_characters_only_validation_holds_keep_the_share_training_leaves_them(tmp_path, absent_corpus):
    """Two characters only the validation text holds: plain cross-entropy drives their probability
    towards zero; --unseen_share 0.02 leaves them together about 2% of it, and validation, which
    holds them, scores better."""
    mass, val = {}, {}
    for share in (0.0, 0.02):
        trainer = Trainer(tiny_config(absent_corpus, tmp_path / str(share), unseen_share=share, **LEARNS))
        absent, _ = trainer.unseen
        assert sorted(trainer.vocab.chars[i] for i in absent) == ["ĸ", "ŷ"]
        val[share] = trainer.run()["val_loss"]
        x = tf.constant(np.asarray(trainer.corpus.train[:64 * 8]).reshape(8, 64))  # (B, T) training text
        logits, _ = trainer.model(x, trainer.model.initial_state(8))  # (B, T, V)
        mass[share] = float(tf.reduce_mean(tf.reduce_sum(tf.gather(tf.nn.softmax(logits), absent, axis=-1), -1)))
    assert mass[0.0] < 0.002 and 0.01 < mass[0.02] < 0.04, mass
    assert val[0.02] < val[0.0] - 0.02, val


def test_the_unseen_share_objective_is_cross_entropy_against_the_moved_target(tmp_path, absent_corpus):
    """The step's gradient is that of (1 - s) x -log p(y) + s x the mean -log p over the characters training
    never shows, written here from log-softmax; the loss it reports stays the plain cross-entropy."""
    trainer = Trainer(tiny_config(absent_corpus, tmp_path, unseen_share=0.05, max_steps=1))
    x, y, state = _batch(trainer)  # (8, 32): the batch of tiny_config
    loss, grads, _ = trainer.steps._loss_and_grads(x, y, state)
    ids, share = trainer.unseen
    with tf.GradientTape() as tape:
        logits, _ = trainer.model(x, state, training=True)  # (B, T, V)
        log_p = tf.nn.log_softmax(logits)
        nats = -tf.gather(log_p, y, batch_dims=2)  # (B, T)
        objective = tf.reduce_mean((1 - share) * nats + share * -tf.reduce_mean(tf.gather(log_p, ids, axis=-1), -1))
    assert float(loss) == pytest.approx(float(tf.reduce_mean(nats)), rel=1e-5)
    for got, want, v in zip(grads, tape.gradient(objective, trainer.model.trainable_variables), trainer.model.trainable_variables):
        np.testing.assert_allclose(got, tf.convert_to_tensor(want), rtol=1e-4, atol=1e-6, err_msg=v.path)
