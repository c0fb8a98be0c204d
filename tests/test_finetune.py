"""Fine-tuning (--finetune_from): a trained model's weights, shape and vocabulary as the start of a new run.

    python -m pytest -q tests/test_finetune.py

The base model is a 2x32 LSTM trained for 150 steps on the first 60,000 characters of Tiny
Shakespeare; the new text is another part of it spelt with thorns ("th" -> "þ", "Th" -> "Þ"):
real text with frequent characters the model never saw (and "Q" and "Z", which the first 60,000
characters happen to lack).
"""

import json
import os
import re

import numpy as np
import pytest
from conftest import tiny_config

from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn import data
from tfcharrnn.errors import UserError
from tfcharrnn.recurrence import Recurrence
from tfcharrnn.training import Trainer, train
from tfcharrnn.vocab import Vocabulary

NEW = ("Q", "Z", "Þ", "þ")  # what the thorn text holds that the base model's text lacks, in code point order
SHAPE = dict(batch_size=16, seq_length=64, sample_length=0)  # the base model's data shape, also every fine-tuning run's


@pytest.fixture(scope="module")
def base(tmp_path_factory, small_corpus):
    run = tmp_path_factory.mktemp("base")
    train(tiny_config(small_corpus, run, max_steps=150, learning_rate=2e-2, **SHAPE))
    return str(run)


@pytest.fixture(scope="module")
def thorn_text(shakespeare_text):
    return shakespeare_text[200_000:240_000].replace("th", "þ").replace("Th", "Þ")


@pytest.fixture(scope="module")
def thorn_corpus(tmp_path_factory, thorn_text):
    path = tmp_path_factory.mktemp("thorn") / "thorn.txt"
    path.write_text(thorn_text, encoding="utf-8")
    return str(path)


def finetune_config(base, corpus, run, **overrides):
    return tiny_config(corpus, run, **{**SHAPE, "finetune_from": base, "max_steps": 60, **overrides})


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, base, thorn_corpus):
    """60 steps fine-tuned from the base onto the thorn text: (trainer, result, its log lines)."""
    lines = []
    trainer = Trainer(finetune_config(base, thorn_corpus, tmp_path_factory.mktemp("ft"), quiet=False, tensorboard=True), log=lines.append)
    return trainer, trainer.run(), lines


def test_ids_are_matched_by_character_never_by_position(thorn_text):
    vocab, ids = data.encode_text(thorn_text)  # the text's own, sorted vocabulary
    corpus = data.Corpus(vocab, *data.split_ids(ids, 0.1, 0.0), paths=[])
    reversed_vocab = Vocabulary(vocab.chars[::-1])  # a model's: the same characters, another order
    moved, dropped = data.in_vocabulary(corpus, reversed_vocab)
    assert dropped == 0 and not np.array_equal(moved.train, corpus.train)
    assert reversed_vocab.decode(moved.train) + reversed_vocab.decode(moved.val) == thorn_text


def test_at_step_0_the_extended_model_predicts_the_old_characters_as_before(base, thorn_corpus, thorn_text, small_corpus, tmp_path):
    trainer = Trainer(finetune_config(base, thorn_corpus, tmp_path))
    old = ckpt_lib.load_checkpoint(base)
    assert trainer.vocab.chars == old.vocab.chars + NEW  # every old id kept, the new characters appended
    assert trainer.vocab.decode(trainer.corpus.train[:5000]) == thorn_text[:5000]  # the new text in the extended ids

    with open(small_corpus, encoding="utf-8") as f:
        old_text = f.read()[-600:]
    ids = old.vocab.encode(old_text)[None]  # (1, T)
    np.testing.assert_array_equal(trainer.vocab.encode(old_text)[None], ids)
    for name, weight in old.weights.items():  # the old rows and columns copied bit for bit
        extended = {v.path: v.numpy() for v in trainer.model.weights}[name]
        np.testing.assert_array_equal(extended[tuple(slice(0, n) for n in weight.shape)], weight, err_msg=name)
    old_logits, old_state = old.model(ids)  # (1, T, V0)
    new_logits, new_state = trainer.model(ids, recurrence=Recurrence())  # (1, T, V0 + 4)
    # equal up to the order of float additions in a wider matmul (values ~3, float32 steps ~2e-7)
    np.testing.assert_allclose(new_logits.numpy()[..., : old.vocab.size], old_logits.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(new_state.numpy(), old_state.numpy(), rtol=1e-6, atol=1e-6)

    # each new character starts rare, at about a tenth of a uniform share (NEW_CHAR_SHARE), on the new text
    thorn_ids = np.asarray(trainer.corpus.train[:4096], np.int32).reshape(16, 256)
    logits, _ = trainer.model(thorn_ids)
    log_p = logits.numpy() - np.logaddexp.reduce(logits.numpy(), axis=-1, keepdims=True)  # (16, 256, V)
    mean_log_p = log_p[..., old.vocab.size :].mean(axis=(0, 1))  # (4,)
    np.testing.assert_allclose(mean_log_p, -np.log(10 * trainer.vocab.size), atol=0.5)
    assert data.load_corpus(thorn_corpus).vocab.chars == tuple(sorted(set(thorn_text)))  # the ids cache keeps the text's own


def test_finetuning_beats_training_from_scratch_and_logs_where_it_started(finetuned, thorn_corpus, tmp_path):
    trainer, result, lines = finetuned
    scratch = train(tiny_config(thorn_corpus, tmp_path, max_steps=60, **SHAPE))  # the same model, steps and text
    assert result["val_loss"] < scratch["val_loss"] - 0.2, (result["val_loss"], scratch["val_loss"])

    # before the first step: the loaded model's validation on the new text, printed and logged as step 0
    start = [m for m in map(re.compile(r"fine-tuning from .+: validation of the loaded model on the new text ([\d.]+) nats/char").match, lines) if m]
    assert len(start) == 1 and float(start[0].group(1)) == pytest.approx(trainer.start_val_loss, abs=1e-4)
    with open(os.path.join(trainer.cfg.checkpoint_dir, "metrics.jsonl"), encoding="utf-8") as f:
        vals = [r for r in map(json.loads, f) if r["kind"] == "val"]
    assert vals[0]["step"] == 0 and vals[0]["val_loss"] == pytest.approx(trainer.start_val_loss)
    assert vals[-1]["step"] == 60 and vals[-1]["val_loss"] < vals[0]["val_loss"]
    assert any("4 new character(s)" in line and "'Þ', 'þ'" in line for line in lines)


def test_a_new_character_appears_in_samples_and_in_the_exported_tflite(finetuned, thorn_text, tmp_path):
    from tfcharrnn.evaluate import evaluate_text
    from tfcharrnn.litert_sampler import LiteRTModel, sample_text
    from tfcharrnn.tflite_export import export_tflite

    trainer, result, _ = finetuned
    assert "þ" in trainer.sample(400, temperature=0.8)
    ckpt = ckpt_lib.load_checkpoint(result["checkpoint"], with_optimizer=False)
    assert ckpt.vocab == trainer.vocab  # the extended vocabulary travels in the checkpoint
    scored = evaluate_text(result["checkpoint"], thorn_text[-3000:], rows=4)  # scripts/evaluate.py's work
    assert scored["unknown_count"] == 0 and scored["nats_per_char"] < trainer.start_val_loss
    info = export_tflite(ckpt.model, ckpt.vocab, str(tmp_path / "ft.tflite"))
    lite = LiteRTModel(info["path"])  # its vocabulary read back from the .tflite's own signature
    assert lite.vocab.chars == ckpt.vocab.chars
    texts = sample_text(lite, "and ", 300, seed=3, temperature=0.8)
    assert "þ" in texts[0], texts[0]


def test_resuming_a_finetuning_run_is_exact(base, thorn_corpus, tmp_path):
    common = dict(deterministic=True, lr_schedule="constant", dropout=0.1)  # dropout: the random streams resume too
    straight = Trainer(finetune_config(base, thorn_corpus, tmp_path / "straight", max_steps=8, **common))
    straight.run()
    Trainer(finetune_config(base, thorn_corpus, tmp_path / "halves", max_steps=4, **common)).run()
    resumed = Trainer(tiny_config(thorn_corpus, tmp_path / "halves", max_steps=8, resume=True, **SHAPE, **common))
    assert resumed.state.step == 4 and resumed.vocab == straight.vocab
    resumed.run()
    assert resumed.state.step == 8 and resumed.cfg.finetune_from == base  # what the run came from stays in its config
    for a, b in zip(straight.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(straight.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_new_chars_error_lists_them(base, thorn_corpus, tmp_path):
    with pytest.raises(UserError, match=r"4 character\(s\) the model never saw: 'Q', 'Z', 'Þ', 'þ'; --new_chars extend adds them"):
        Trainer(finetune_config(base, thorn_corpus, tmp_path, new_chars="error"))


def test_new_chars_skip_drops_them_and_says_how_many(base, thorn_corpus, thorn_text, tmp_path):
    trainer = Trainer(finetune_config(base, thorn_corpus, tmp_path, new_chars="skip"))
    dropped = sum(thorn_text.count(c) for c in NEW)
    assert trainer.vocab == ckpt_lib.load_checkpoint(base).vocab and dropped > 500
    corpus = trainer.corpus
    text = "".join(trainer.vocab.decode(ids) for ids in (corpus.train, corpus.val, corpus.test))
    assert text == "".join(c for c in thorn_text if c not in NEW)
    assert trainer.vocab_note.startswith(f"skipped {dropped:,} character(s) the model never saw (4 distinct"), trainer.vocab_note


def test_shape_flags_that_contradict_the_checkpoint_are_one_line_errors(base, thorn_corpus, tmp_path):
    from tfcharrnn.cli.train import main

    common = ["--finetune_from", base, "--train_data", thorn_corpus, "--max_steps", "1", "--checkpoint_dir", str(tmp_path)]
    for flags, message in ((["--hidden_size", "64"], "--hidden_size 64 conflicts with the model to fine-tune (hidden_size 32 in "),
                           (["--model", "gru"], "--model gru conflicts with the model to fine-tune (model lstm in "),
                           (["--embedding_size", "64"], "--embedding_size 64 conflicts"),
                           (["--skip_connections", "false"], "--skip_connections False conflicts"),
                           (["--byte_mode"], "the model to fine-tune reads chars"),
                           (["--resume"], "--finetune_from starts a new run from a model's weights, --resume continues a run")):
        with pytest.raises(UserError) as e:
            main(common + flags)
        assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)
    assert not os.listdir(tmp_path)  # refused before anything was written
    Trainer(finetune_config(base, thorn_corpus, tmp_path / "same", hidden_size=32, model="lstm", max_steps=1))  # agreeing flags are fine


def test_a_byte_model_is_fine_tuned_on_bytes(small_corpus, thorn_corpus, tmp_path):
    from tfcharrnn.config import ModelConfig
    from tfcharrnn.model import CharRNN

    old = data.load_corpus(small_corpus, byte_mode=True).vocab  # the bytes of an ASCII text
    model = CharRNN(ModelConfig(vocab_size=old.size, hidden_size=32, num_layers=2, embedding_size=16))
    ckpt_lib.save_checkpoint(str(tmp_path / "bytes"), "untrained", model, old)
    trainer = Trainer(finetune_config(str(tmp_path / "bytes"), thorn_corpus, tmp_path / "ft", byte_mode=True, max_steps=1))
    assert trainer.vocab.mode == "bytes" and trainer.vocab.chars[: old.size] == old.chars
    assert set(trainer.vocab.chars[old.size :]) == set("QZ") | {chr(b) for b in "Þþ".encode("utf-8")}  # the bytes it never saw
