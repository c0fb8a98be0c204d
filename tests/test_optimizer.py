"""--optimizer: Muon on the recurrent layers' weight matrices, Adam on the rest (tfcharrnn.training.optimizer)."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from tfcharrnn.errors import UserError
from tfcharrnn.training import Trainer, train
from tfcharrnn.training.config import MUON_UPDATE_RMS
from tfcharrnn.training.optimizer import orthogonalised

LR = 0.01


def first_step(trainer, gradients):
    """Each variable's change after one optimizer step from fresh state on ``gradients`` (no weight decay)."""
    trainer.optimizer.learning_rate = LR
    variables = trainer.model.trainable_variables
    before = [v.numpy() for v in variables]
    trainer.optimizer.apply_gradients(zip(gradients, variables))
    return {v.path: v.numpy() - b for v, b in zip(variables, before)}


def away_from_zero(shape, seed):
    """A gradient of magnitudes 0.5 to 1.5 and random signs: Adam's first step is lr x its sign, to float precision."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)


def ill_conditioned(shape, seed):
    """A gradient whose singular values fall evenly in log from 1 to 0.1 (condition number 10)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    v, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    k = min(shape)
    return (u[:, :k] * np.geomspace(1.0, 0.1, k)) @ v[:, :k].T


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_muon_moves_the_recurrent_matrices_along_every_direction_and_adam_moves_the_rest(small_corpus, tmp_path, kind):
    """One step on a gradient of condition number 10: each recurrent-layer matrix moves by a matrix
    whose singular values are all about lr x MUON_UPDATE_RMS x sqrt(its longer side) (the momentum made
    orthogonal, sized like Adam's update); the embedding, the output layer and the biases move as
    Adam's first step does, lr x sign(gradient)."""
    trainer = Trainer(tiny_config(small_corpus, tmp_path, model=kind, optimizer="muon", ema_momentum=0, max_steps=1))
    variables = trainer.model.trainable_variables
    muon_paths = {v.path for v in orthogonalised(trainer.optimizer, variables)}
    assert muon_paths == {v.path for v in variables if v.path.split("/")[1].startswith(f"{kind}_") and "kernel" in v.path}
    assert len(muon_paths) == 4  # two layers' input and recurrent kernels
    gradients = [tf.constant(ill_conditioned(v.shape, i) if v.path in muon_paths else away_from_zero(v.shape, i), tf.float32)
                 for i, v in enumerate(variables)]
    moved = first_step(trainer, gradients)
    for v, g in zip(variables, gradients):
        delta = moved[v.path]
        if v.path in muon_paths:
            singular = np.linalg.svd(delta, compute_uv=False) / (LR * MUON_UPDATE_RMS * np.sqrt(max(v.shape)))
            assert 0.6 < singular.min() and singular.max() < 1.3, (v.path, singular.min(), singular.max())
        else:
            np.testing.assert_allclose(delta, -LR * np.sign(g.numpy()), rtol=1e-4, atol=0, err_msg=v.path)


def test_adam_moves_every_weight_by_its_first_step(small_corpus, tmp_path):
    """--optimizer adam: no matrix is orthogonalised; a recurrent kernel moves by lr x sign(gradient) too."""
    trainer = Trainer(tiny_config(small_corpus, tmp_path, optimizer="adam", ema_momentum=0, max_steps=1))
    variables = trainer.model.trainable_variables
    assert orthogonalised(trainer.optimizer, variables) == []
    gradients = [tf.constant(away_from_zero(v.shape, i), tf.float32) for i, v in enumerate(variables)]
    moved = first_step(trainer, gradients)
    for v, g in zip(variables, gradients):
        np.testing.assert_allclose(moved[v.path], -LR * np.sign(g.numpy()), rtol=1e-4, atol=0, err_msg=v.path)


def test_bfloat16_orthogonalisation_is_float32_s_to_a_few_percent(small_corpus, tmp_path):
    """The Newton-Schulz iterations in bfloat16 (where the CPU multiplies it natively) step where float32's do, to ~5%."""
    from tfcharrnn.training.optimizer import AveragingMuon

    deltas = []
    for dtype in ("float32", "bfloat16"):
        trainer = Trainer(tiny_config(small_corpus, tmp_path / dtype, optimizer="muon", ema_momentum=0, max_steps=1))
        trainer.optimizer = AveragingMuon(learning_rate=LR, exclude_layers=["logits"], rms_rate=MUON_UPDATE_RMS, weight_decay=None,
                                          adam_weight_decay=None, orthogonalise_dtype=dtype)
        trainer.optimizer.build(trainer.model.trainable_variables)
        gradients = [tf.constant(ill_conditioned(v.shape, i) if len(v.shape) == 2 else np.zeros(v.shape), tf.float32)
                     for i, v in enumerate(trainer.model.trainable_variables)]
        deltas.append(first_step(trainer, gradients))
    f32, bf16 = deltas
    for path in f32:
        if "recurrent_kernel" in path:
            assert np.linalg.norm(bf16[path] - f32[path]) < 0.08 * np.linalg.norm(f32[path]), path
            assert not np.array_equal(bf16[path], f32[path])  # the bfloat16 iterations did run


def test_resuming_with_another_optimizer_is_a_clear_error(small_corpus, tmp_path):
    train(tiny_config(small_corpus, tmp_path, optimizer="muon", max_steps=2))
    with pytest.raises(UserError, match="--optimizer adam: the checkpoint trained with muon"):
        train(tiny_config(small_corpus, tmp_path, optimizer="adam", resume=True, max_steps=4))
    resumed = train(tiny_config(small_corpus, tmp_path, resume=True, max_steps=4, optimizer=None))  # no flag: the checkpoint's own
    assert resumed["step"] == 4
