"""CharRNN: the cell against a naive NumPy reference, sequence vs step-by-step, fused vs Keras."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfcharrnn import fused
from tfcharrnn.config import ModelConfig
from tfcharrnn.recurrence import Recurrence
from tfcharrnn.model import CharRNN


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def naive_forward(model, ids, state):
    """The whole model in NumPy, one character at a time, from the Keras weights."""
    cfg = model.config
    emb = model.embedding.embeddings.numpy()
    state = [s.copy() for s in np.moveaxis(state, 1, 0)]  # S x (B, H)
    outputs = []
    for t in range(ids.shape[1]):
        x = emb[ids[:, t]]
        new, layer_outputs = [], []
        for li, layer in enumerate(model.rnn_layers):
            W, R, b = layer.cell.kernel.numpy(), layer.cell.recurrent_kernel.numpy(), layer.cell.bias.numpy()
            H = cfg.hidden_size
            if cfg.model == "lstm":
                h, c = state[2 * li], state[2 * li + 1]
                z = x @ W + h @ R + b
                if cfg.multiplicative_integration:
                    alpha, beta_h, beta_x = (v.numpy() for v in (layer.cell.alpha, layer.cell.beta_h, layer.cell.beta_x))
                    z = alpha * (x @ W) * (h @ R) + beta_h * (h @ R) + beta_x * (x @ W) + b
                i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H]), np.tanh(z[:, 2 * H : 3 * H]), sigmoid(z[:, 3 * H :])
                c = f * c + i * g
                h = o * np.tanh(c)
                new += [h, c]
            elif cfg.model == "gru":
                h = state[li]
                xz = x @ W + b[0]
                hz = h @ R + b[1]
                z = sigmoid(xz[:, :H] + hz[:, :H])
                r = sigmoid(xz[:, H : 2 * H] + hz[:, H : 2 * H])
                n = np.tanh(xz[:, 2 * H :] + r * hz[:, 2 * H :])
                h = z * h + (1 - z) * n
                new += [h]
            else:
                h = np.tanh(x @ W + state[li] @ R + b)
                new += [h]
            x = h
            layer_outputs.append(h)
        state = new
        head_input = np.concatenate(layer_outputs, -1) if cfg.skip_connections else x  # skip connections: every layer's output
        outputs.append(head_input @ model.head.kernel.numpy() + model.head.bias.numpy())
    return np.stack(outputs, 1), np.stack(state, 1)


KINDS = ["lstm", "mi-lstm", "gru", "rnn"]  # mi-lstm: an LSTM with multiplicative integration


def config_for(kind: str, **fields) -> ModelConfig:
    mi = kind == "mi-lstm"
    return ModelConfig(vocab_size=23, model="lstm" if mi else kind, multiplicative_integration=mi, **fields)


def integration_varied(model):
    """The model with its multiplicative integration's gains moved off their start (alpha 0, betas 1:
    the plain LSTM), so a check can tell them apart."""
    for layer in model.rnn_layers:
        for v in (getattr(layer.cell, name, None) for name in ("alpha", "beta_h", "beta_x")):
            if v is not None:
                v.assign(v + tf.random.normal(v.shape, stddev=0.5, seed=4))
    return model


@pytest.fixture(params=KINDS)
def model(request):
    tf.random.set_seed(0)
    return integration_varied(CharRNN(config_for(request.param, hidden_size=12, num_layers=2, embedding_size=8)))


def random_inputs(model, batch=3, steps=9, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, model.config.vocab_size, (batch, steps)).astype(np.int32)
    state = rng.normal(size=(batch, model.config.num_states, model.config.hidden_size)).astype(np.float32) * 0.5
    return ids, state


def test_call_matches_naive_reference(model):
    ids, state = random_inputs(model)
    logits, new_state = model(ids, state)
    ref_logits, ref_state = naive_forward(model, ids, state)
    np.testing.assert_allclose(logits.numpy(), ref_logits, atol=1e-5)
    np.testing.assert_allclose(new_state.numpy(), ref_state, atol=1e-5)


def test_sequence_equals_step_by_step_and_split_calls(model):
    ids, state = random_inputs(model, steps=10)
    logits, final = model(ids, state)
    s = tf.constant(state)
    for t in range(ids.shape[1]):
        step_logits, s = model.next(ids[:, t], s)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t].numpy(), atol=1e-5)
    np.testing.assert_allclose(s.numpy(), final.numpy(), atol=1e-5)
    first, mid = model(ids[:, :4], state)  # carrying the state across calls = one long call
    second, end = model(ids[:, 4:], mid)
    np.testing.assert_allclose(np.concatenate([first, second], 1), logits.numpy(), atol=1e-5)
    np.testing.assert_allclose(end.numpy(), final.numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,skip_connections", [(1, True), (3, True), (3, False)])
def test_stepper_matches_naive_reference(kind, num_layers, skip_connections):
    """model.stepper(): the generation loop's leaner `next` (lookup table, stacked kernels,
    reordered gates, tuple state) computes the same function as the naive reference, with the
    output layer reading every layer (skip connections) or the top one."""
    tf.random.set_seed(1)
    model = CharRNN(config_for(kind, hidden_size=12, num_layers=num_layers, embedding_size=8, skip_connections=skip_connections))
    assert model.head.kernel.shape == ((num_layers if skip_connections else 1) * 12, 23)
    for w in model.trainable_weights:  # non-zero biases, so a misplaced bias would show
        w.assign(w + tf.random.normal(w.shape, stddev=0.3, seed=2))
    ids, state = random_inputs(model, steps=6)
    ref_logits, ref_state = naive_forward(model, ids, state)
    step = model.stepper()
    carry = step.split(tf.constant(state))
    for t in range(ids.shape[1]):
        logits, carry = step(ids[:, t], carry)
        np.testing.assert_allclose(logits.numpy(), ref_logits[:, t], atol=1e-5)
    np.testing.assert_allclose(step.join(carry).numpy(), ref_state, atol=1e-5)


def test_default_state_is_zero(model):
    ids, _ = random_inputs(model)
    a, _ = model(ids)
    b, _ = model(ids, model.initial_state(ids.shape[0]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("splits", [1, 2])  # one loop over the batch; two row groups side by side
def test_fused_recurrence_matches_keras_forward_and_gradients(model, splits):
    ids, state = random_inputs(model, batch=4, steps=13, seed=1)
    targets = np.roll(ids, -1, axis=1)
    s0 = tf.constant(state)

    def loss_and_grads():
        with tf.GradientTape() as tape:
            tape.watch(s0)
            logits, final = model(ids, s0, training=True)
            # a loss on the final state too, so its gradient path is checked as well
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)) + 0.1 * tf.reduce_sum(final**2)
        grads = tape.gradient(loss, model.trainable_variables + [s0])
        return loss.numpy(), final.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]

    ref = loss_and_grads()
    model.recurrence = Recurrence.fused(row_groups=splits)
    try:
        got = loss_and_grads()
    finally:
        model.recurrence = Recurrence()
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], ref[1], atol=1e-5)
    for g, r in zip(got[2], ref[2]):
        np.testing.assert_allclose(g, r, atol=1e-5 * max(1.0, np.abs(r).max()))


@pytest.mark.parametrize("row_groups", [1, 2])
def test_fused_lookup_input_equals_the_embedded_rows(model, row_groups):
    """The first layer's input as (ids, table): same outputs and gradients as the gathered rows."""
    ids, state = random_inputs(model, batch=4, steps=7, seed=4)
    layer, table = model.rnn_layers[0], tf.convert_to_tensor(model.embedding.embeddings)  # (V, E)
    layer_state = model._split_state(tf.constant(state))[0]
    weights = [table, *layer.trainable_variables]

    def run(make_input):
        with tf.GradientTape() as tape:
            tape.watch(table)
            out, new_state = fused.sequence(layer, make_input(), layer_state, row_groups=row_groups)  # (B, T, H)
            loss = tf.reduce_sum(out * tf.sin(out)) + tf.reduce_sum(tf.concat(new_state, axis=1) ** 2)
        return [out.numpy()] + [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, weights)]

    got = run(lambda: fused.Lookup(ids, table))
    ref = run(lambda: tf.gather(table, ids))  # (B, T, E)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-5 * max(1.0, np.abs(r).max()))
    assert np.abs(got[1]).sum() > 0  # the table's gradient arrives


def input_spy(seen: list, *args, **kwargs) -> Recurrence:
    """Recurrence(*args, **kwargs) that appends the type of each layer's input to ``seen``."""

    class Spy(Recurrence):
        def run_layer(self, layer, x, layer_state, training=False):
            seen.append(type(x))
            return super().run_layer(layer, x, layer_state, training)

    return Spy(*args, **kwargs)


def test_the_model_runs_whatever_recurrence_it_is_given(model):
    """The seam: the model asks its recurrence (or the call's) what the first layer reads and to run
    each layer; only the fused one reads a fused.Lookup, the Keras layers the (B, T, E) rows."""
    ids, state = random_inputs(model)
    seen = []
    logits, final = model(ids, state, recurrence=input_spy(seen))
    ref, ref_final = model(ids, state)
    assert seen[0] is not fused.Lookup and len(seen) == model.config.num_layers
    np.testing.assert_allclose(logits.numpy(), ref.numpy(), atol=1e-6)
    np.testing.assert_allclose(final.numpy(), ref_final.numpy(), atol=1e-6)
    seen.clear()
    fused_logits, _ = model(ids, state, recurrence=input_spy(seen, "fused", row_groups=1))
    assert seen[0] is fused.Lookup and model.recurrence == Recurrence()  # the call's recurrence did not stick
    np.testing.assert_allclose(fused_logits.numpy(), ref.numpy(), atol=1e-5)


def test_the_fused_loops_read_the_rows_when_the_vocabulary_outnumbers_a_groups_characters(model):
    """The (V, G) table costs V rows of matmul a group and the rows B / groups x T: the model's
    23 characters against 2 x 5 per group read the rows, against 2 x 12 the table; both as the Keras layers."""
    seen = []
    for (batch, steps), reads in (((4, 5), tf.Tensor), ((4, 12), fused.Lookup)):
        ids, state = random_inputs(model, batch=batch, steps=steps, seed=batch * steps)
        seen.clear()
        logits, final = model(ids, state, recurrence=input_spy(seen, "fused", row_groups=2))
        assert issubclass(seen[0], reads) and not issubclass(seen[1], fused.Lookup)
        ref, ref_final = model(ids, state)
        np.testing.assert_allclose(logits.numpy(), ref.numpy(), atol=1e-5)
        np.testing.assert_allclose(final.numpy(), ref_final.numpy(), atol=1e-5)


def test_bfloat16_matmuls_stay_close_to_float32(model):
    """The opt-in mixed precision: same function up to bfloat16 rounding, and it really rounds."""
    ids, state = random_inputs(model, batch=4, steps=13, seed=2)
    targets = np.roll(ids, -1, axis=1)

    def loss_and_grads():
        with tf.GradientTape() as tape:
            logits, _ = model(ids, state, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
        return loss.numpy(), [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_variables)]

    model.recurrence = Recurrence.fused()
    ref = loss_and_grads()
    model.recurrence = Recurrence.fused(matmul_dtype="bfloat16")
    got = loss_and_grads()
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-2)
    for g, r in zip(got[1], ref[1]):
        np.testing.assert_allclose(g, r, atol=3e-2 * max(1e-3, np.abs(r).max()))
    assert any(not np.array_equal(g, r) for g, r in zip(got[1], ref[1]))


@pytest.mark.parametrize("kind", KINDS)
def test_weight_drop_masks_the_recurrent_kernel_alike_in_keras_and_fused(kind):
    """DropConnect: with the same seed the Keras layers and the fused kernels see the same mask
    (same loss and gradients); about `rate` of each recurrent kernel's entries get no gradient;
    evaluation (training=False) is the plain model."""
    import keras

    ids, _ = random_inputs(CharRNN(config_for(kind, hidden_size=12, num_layers=2, embedding_size=8)), batch=4, steps=11, seed=3)
    targets = np.roll(ids, -1, axis=1)
    results = []
    for use_fused in (False, True):
        keras.utils.set_random_seed(5)
        model = integration_varied(CharRNN(config_for(kind, hidden_size=12, num_layers=2, embedding_size=8, weight_drop=0.5)))
        if use_fused:
            model.recurrence = Recurrence.fused()

        @tf.function
        def loss_and_grads():
            with tf.GradientTape() as tape:
                logits, _ = model(ids, training=True)  # (B, T, V)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
            return loss, [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]

        loss, grads = loss_and_grads()
        names = [v.path for v in model.trainable_variables]
        plain = CharRNN(config_for(kind, hidden_size=12, num_layers=2, embedding_size=8))
        plain.set_weights(model.get_weights())
        np.testing.assert_allclose(model(ids)[0].numpy(), plain(ids)[0].numpy(), atol=1e-5)
        results.append((loss.numpy(), [g.numpy() for g in grads]))
    (ref_loss, ref_grads), (got_loss, got_grads) = results
    np.testing.assert_allclose(got_loss, ref_loss, rtol=1e-5)
    for name, g, r in zip(names, got_grads, ref_grads):
        np.testing.assert_allclose(g, r, atol=1e-5 * max(1.0, np.abs(r).max()), err_msg=name)
        if "recurrent_kernel" in name:
            assert 0.35 < np.mean(r == 0) < 0.65, (name, np.mean(r == 0))
        else:
            assert np.mean(r == 0) < 0.2 or "embedding" in name, name


def test_fused_recurrence_inside_tf_function(model):
    ids, state = random_inputs(model, steps=7)
    logits, final = tf.function(lambda i, s: model(i, s, training=True, recurrence=Recurrence.fused()))(ids, state)
    ref, ref_final = model(ids, state)
    np.testing.assert_allclose(logits.numpy(), ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(final.numpy(), ref_final.numpy(), atol=1e-5)


def test_layers_stay_cudnn_eligible():
    from keras.src.backend.tensorflow.rnn import _do_gru_arguments_support_cudnn, _do_lstm_arguments_support_cudnn

    for kind, check in (("lstm", _do_lstm_arguments_support_cudnn), ("gru", _do_gru_arguments_support_cudnn)):
        m = CharRNN(ModelConfig(vocab_size=5, model=kind, hidden_size=4, num_layers=2))
        for layer in m.rnn_layers:
            kwargs = dict(activation=layer.cell.activation, recurrent_activation=layer.cell.recurrent_activation, unroll=layer.unroll,
                          use_bias=layer.cell.use_bias)
            if kind == "gru":
                kwargs["reset_after"] = layer.cell.reset_after
            assert check(**kwargs)
            assert layer.cell.dropout == 0 and layer.cell.recurrent_dropout == 0


def test_config_round_trip_and_validation():
    from tfcharrnn.errors import UserError

    cfg = ModelConfig(vocab_size=65, model="gru", hidden_size=32, num_layers=3, dropout=0.2)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.num_states == 3 and ModelConfig(vocab_size=3).num_states == 4
    with pytest.raises(UserError):
        ModelConfig(vocab_size=65, model="transformer")
    with pytest.raises(UserError):
        ModelConfig(vocab_size=65, hidden_size=0)
    with pytest.raises(UserError, match="--weight_drop"):
        ModelConfig(vocab_size=65, weight_drop=1.0)
    with pytest.raises(UserError, match="--multiplicative_integration is an LSTM's, not --model gru's"):
        ModelConfig(vocab_size=65, model="gru", multiplicative_integration=True)
    before = {k: v for k, v in cfg.to_dict().items() if k != "multiplicative_integration"}  # a checkpoint from before the field
    assert not ModelConfig.from_dict({**before, "model": "lstm"}).multiplicative_integration  # is the plain LSTM it was
    old = {k: v for k, v in cfg.to_dict().items() if k != "weight_drop"}  # a checkpoint from before the field
    assert ModelConfig.from_dict(old) == cfg
    assert cfg.skip_connections  # new models: the output layer reads every layer
    older = {k: v for k, v in cfg.to_dict().items() if k != "skip_connections"}  # before it: the top layer only
    assert ModelConfig.from_dict(older) == dataclasses.replace(cfg, skip_connections=False)
