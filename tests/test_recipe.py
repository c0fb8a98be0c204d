"""The recipe (model width and regularisers from the budget and the corpus) and early stopping.

A tiny model on 6,000 characters of real text with a constant, high learning rate overfits within
a few hundred steps, so its validation turns and early stopping has something to stop.
"""

import json
import os

import numpy as np
import pytest

from conftest import SHAKESPEARE


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory):
    with open(SHAKESPEARE, encoding="utf-8") as f:
        text = f.read(6000)
    path = tmp_path_factory.mktemp("tiny") / "tiny.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def overfitting_config(corpus, run_dir, **overrides):
    from tfcharrnn.training import TrainConfig

    kwargs = dict(train_data=corpus, hidden_size=64, num_layers=1, embedding_size=16, batch_size=4, seq_length=32, val_frac=0.2,
                  max_steps=600, eval_val_every=20, patience=3, sample_every=0, sample_length=0, checkpoint_dir=str(run_dir),
                  quiet=True, learning_rate=0.02, lr_schedule="constant", train_path="step-groups", seed=7, deterministic=True,
                  dropout=0.0, weight_drop=0.0, weight_decay=0.0, optimizer="adam")
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


def validations(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return [r for r in records if r["kind"] == "val"], [r for r in records if r["kind"] == "end"]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, tiny_text):
    from tfcharrnn.training import train

    run = tmp_path_factory.mktemp("early")
    return str(run), train(overfitting_config(tiny_text, run))


def test_early_stopping_stops_a_run_whose_validation_rises(stopped_run):
    from tfcharrnn import checkpoint as ckpt_lib

    run, result = stopped_run
    vals, ends = validations(run)
    losses = [v["val_loss"] for v in vals]
    best = min(losses)
    assert result["step"] < 600, "the run went on to --max_steps"
    assert "stopped early" in result["stop_reason"] and "stopped early" in ends[-1]["stop_reason"]
    # it stopped exactly when 3 validations in a row had not beaten the best
    first_best = losses.index(best)
    assert all(v > best for v in losses[first_best + 1:])
    assert len(losses[first_best + 1:]) >= 3
    assert result["best_val_loss"] == pytest.approx(best, abs=1e-9)
    # best.json names the best checkpoint: what sample / export / evaluate pick from the run directory
    best_path = ckpt_lib.read_pointer(run, "best")
    assert best_path == result["best_checkpoint"]
    assert ckpt_lib.load_checkpoint(best_path).train_state["val_loss"] == pytest.approx(best, abs=1e-9)
    assert ckpt_lib.resolve_checkpoint(run) == best_path


def test_early_stopping_waits_while_wsd_holds_the_peak_rate(tmp_path, tiny_text, stopped_run):
    """The same overfitting run with wsd holding the rate for its first 70% (420 steps): the
    validations that miss the best while the rate is at its peak are not counted, so it runs past
    the step where the constant-rate run stopped, and stops only after three in a row of the fall."""
    from tfcharrnn.training import train

    _, constant = stopped_run
    result = train(overfitting_config(tiny_text, tmp_path, lr_schedule="wsd", lr_decay_frac=0.3))
    vals, _ = validations(tmp_path)
    assert constant["step"] < 420 < result["step"]
    counted = [v["val_loss"] for v in vals if v["step"] >= 420]  # from 70% of the run on, the rate falls
    best_at_peak = min(v["val_loss"] for v in vals if v["step"] < 420)
    if "stopped early" in result["stop_reason"]:
        assert len(counted) >= 3 and all(loss > result["best_val_loss"] for loss in counted[-3:])
    assert sum(v["val_loss"] > best_at_peak for v in vals if v["step"] < 420) >= 3  # misses enough to have stopped it, ignored


def test_patience_0_trains_on(tmp_path, tiny_text):
    from tfcharrnn.training import train

    result = train(overfitting_config(tiny_text, tmp_path, patience=0, max_steps=380))
    assert result["step"] == 380 and result["stop_reason"] == "reached --max_steps 380"


def test_an_interrupted_run_resumes_to_the_same_early_stop(tmp_path, tiny_text, stopped_run):
    from tfcharrnn.training import train

    _, straight = stopped_run
    stop_at = straight["best_step"] + 20  # one validation after the best: the count of bad validations has begun
    first = train(overfitting_config(tiny_text, tmp_path, max_steps=stop_at))
    assert first["step"] == stop_at
    resumed = train(overfitting_config(tiny_text, tmp_path, resume=True))
    assert resumed["step"] == straight["step"] and resumed["stop_reason"] == straight["stop_reason"]
    assert resumed["best_val_loss"] == straight["best_val_loss"] and resumed["best_step"] == straight["best_step"]


# --- the recipe ------------------------------------------------------------------------------------


def resolve(gpu=False, **flags):
    from tfcharrnn.training import TrainConfig
    from tfcharrnn.training.recipe import resolve as recipe_resolve

    return recipe_resolve(TrainConfig(**flags), train_chars=1_003_855, vocab_size=65, gpu=gpu)


def test_the_recipe_line_names_what_it_chose_and_why():
    cfg, why = resolve(time_budget=15)
    assert why.startswith("recipe:") and "15 min" in why and "epochs" in why and f"hidden_size {cfg.hidden_size}" in why
    cfg, why = resolve(time_budget=15, hidden_size=300, num_layers=2, embedding_size=64, dropout=0.1, weight_drop=0.0, weight_decay=0.0,
                       optimizer="adam")
    assert why == "" and (cfg.hidden_size, cfg.dropout) == (300, 0.1)


def test_an_explicit_flag_wins_over_the_recipe():
    recipe_cfg, _ = resolve(time_budget=15)
    assert recipe_cfg.dropout > 0  # the 15-minute recipe regularises: the flags below must override it
    cfg, why = resolve(time_budget=15, dropout=0.0, hidden_size=128)
    assert (cfg.dropout, cfg.hidden_size) == (0.0, 128)
    assert "dropout" not in why and "hidden_size" not in why and "weight_drop" in why
    assert recipe_cfg.skip_connections and not resolve(time_budget=15, skip_connections=False)[0].skip_connections


def test_an_lstm_gets_multiplicative_integration_from_384_wide_where_the_fused_loops_run_it_and_the_flag_wins():
    assert resolve(time_budget=15)[0].multiplicative_integration and resolve(time_budget=3, hidden_size=384)[0].multiplicative_integration
    assert not resolve(time_budget=3)[0].multiplicative_integration  # 256 wide: its cost outweighs it
    assert not resolve(time_budget=15, gpu=True)[0].multiplicative_integration  # a GPU: cuDNN's plain LSTM
    assert not resolve(time_budget=15, model="gru")[0].multiplicative_integration
    assert not resolve(time_budget=15, multiplicative_integration=False)[0].multiplicative_integration
    assert resolve(time_budget=15, gpu=True, multiplicative_integration=True)[0].multiplicative_integration


def test_the_embedding_is_256_wide_for_every_vocabulary_its_vectors_as_long_as_at_64_and_the_flag_wins():
    from tfcharrnn.config import ModelConfig
    from tfcharrnn.model import CharRNN
    from tfcharrnn.training import TrainConfig
    from tfcharrnn.training.recipe import resolve as recipe_resolve

    alphabet, why = resolve(time_budget=3)  # 65 characters
    assert alphabet.embedding_size == 256 and "embedding_size 256" in why
    assert recipe_resolve(TrainConfig(time_budget=15), train_chars=1_000_000, vocab_size=5964)[0].embedding_size == 256
    given, why = recipe_resolve(TrainConfig(time_budget=3, embedding_size=32), train_chars=1_000_000, vocab_size=5964)
    assert given.embedding_size == 32 and "embedding_size" not in why
    for width, length in ((16, 4.0), (64, 8.0), (256, 8.0), (1024, 8.0)):  # N(0, 1) up to 64 wide, then vectors of length 8
        model = CharRNN(ModelConfig(vocab_size=400, hidden_size=8, num_layers=1, embedding_size=width))
        model(np.zeros((1, 1), np.int32))
        lengths = np.linalg.norm(model.embedding.embeddings.numpy(), axis=1)  # (V,)
        assert abs(np.mean(lengths) - length) < 0.05 * length, (width, np.mean(lengths))


def test_more_passes_over_the_text_get_more_regularisation():
    short, _ = resolve(time_budget=3)
    assert (short.dropout, short.weight_drop, short.weight_decay) == (0.0, 0.0, 0.1)  # decay alone helps even a short run
    from tfcharrnn.training import TrainConfig
    from tfcharrnn.training.recipe import resolve as recipe_resolve

    big_corpus, _ = recipe_resolve(TrainConfig(time_budget=15), train_chars=100_000_000, vocab_size=65)
    small_corpus, why = recipe_resolve(TrainConfig(time_budget=15), train_chars=1_000_000, vocab_size=65)
    assert big_corpus.hidden_size == small_corpus.hidden_size  # the width follows the budget
    assert big_corpus.dropout == 0.0 < small_corpus.dropout  # a few passes over a big corpus cannot overfit
    # 10 to 30 passes: Muon, with light dropout, no weight drop and weight decay 0.3; fewer or more: Adam
    assert (small_corpus.optimizer, small_corpus.dropout, small_corpus.weight_drop, small_corpus.weight_decay) == ("muon", 0.1, 0.0, 0.3)
    assert "optimizer muon" in why
    assert short.optimizer == big_corpus.optimizer == "adam"
    code_sized, _ = recipe_resolve(TrainConfig(time_budget=15), train_chars=1_800_000, vocab_size=65)  # ~7.5 passes
    assert (code_sized.optimizer, code_sized.dropout, code_sized.weight_drop) == ("adam", 0.25, 0.1)
    many_passes, _ = recipe_resolve(TrainConfig(max_epochs=50), train_chars=1_000_000, vocab_size=65)
    assert (many_passes.optimizer, many_passes.dropout, many_passes.weight_drop) == ("adam", 0.3, 0.15)
    assert resolve(time_budget=15, optimizer="adam")[0].optimizer == "adam"  # the flag wins


def test_the_peak_learning_rate_and_the_average_follow_the_optimizer_and_the_flag_wins():
    from tfcharrnn.training.recipe import AVERAGE_MOMENTA, LEARNING_RATES

    assert LEARNING_RATES["muon"] > LEARNING_RATES["adam"] == 0.005
    assert AVERAGE_MOMENTA["muon"] < AVERAGE_MOMENTA["adam"] == 0.998  # Muon's higher rate: a shorter average
    fifteen, _ = resolve(time_budget=15)  # Tiny Shakespeare's ~13 passes: the Muon class
    assert (fifteen.optimizer, fifteen.learning_rate, fifteen.ema_momentum) == ("muon", LEARNING_RATES["muon"], AVERAGE_MOMENTA["muon"])
    three, _ = resolve(time_budget=3)
    assert (three.learning_rate, three.ema_momentum) == (LEARNING_RATES["adam"], AVERAGE_MOMENTA["adam"])
    assert resolve(time_budget=15, ema_momentum=0.0)[0].ema_momentum == 0.0  # the flag wins, 0 (no average) too
    assert resolve(time_budget=15, optimizer="adam")[0].learning_rate == LEARNING_RATES["adam"]  # the optimizer's, whoever chose it
    assert resolve(time_budget=3, optimizer="muon")[0].learning_rate == LEARNING_RATES["muon"]
    assert resolve(time_budget=15, learning_rate=0.002)[0].learning_rate == 0.002  # the flag wins
    given = dict(hidden_size=64, num_layers=1, embedding_size=16, dropout=0.0, weight_drop=0.0, weight_decay=0.0)
    assert resolve(time_budget=15, optimizer="muon", **given)[0].learning_rate == LEARNING_RATES["muon"]  # nothing left to choose but it


def test_a_resumed_run_keeps_its_optimizer_and_model_whatever_the_recipe_would_choose_now(tmp_path, tiny_text):
    """12 passes: the recipe picks Muon and dropout 0.1; resumed for 40 passes (where it would pick Adam and
    dropout 0.3) the run keeps Muon and its model's dropout, says so in its config, and refuses a flag that
    contradicts its model; the weight decay the optimizer applies follows the new budget."""
    from tfcharrnn import checkpoint as ckpt_lib
    from tfcharrnn.errors import UserError
    from tfcharrnn.training import TrainConfig, Trainer, train
    from tfcharrnn.training.recipe import AVERAGE_MOMENTA, LEARNING_RATES

    flags = dict(train_data=tiny_text, embedding_size=8, hidden_size=16, num_layers=1, batch_size=16, seq_length=32,
                 checkpoint_dir=str(tmp_path / "run"), eval_val_every=0, sample_every=0, sample_length=0, train_path="step-groups", quiet=True)
    first = train(TrainConfig(max_epochs=12, **flags))
    assert ckpt_lib.load_checkpoint(first["checkpoint"]).train_state["train_config"]["optimizer"] == "muon"
    assert Trainer(TrainConfig(max_epochs=40, **dict(flags, checkpoint_dir=str(tmp_path / "new")))).cfg.optimizer == "adam"
    resumed = Trainer(TrainConfig(max_epochs=40, resume=True, **flags))
    assert resumed.cfg.optimizer == "muon" and resumed.cfg.dropout == resumed.model.config.dropout == 0.1
    assert resumed.cfg.weight_decay == 0.1  # the 40-pass class's; the 12-pass run's was 0.3
    assert resumed.cfg.learning_rate == LEARNING_RATES["muon"] != LEARNING_RATES["adam"]  # its checkpoint's, not the new class's
    assert resumed.cfg.ema_momentum == AVERAGE_MOMENTA["muon"] != AVERAGE_MOMENTA["adam"]
    for flag in ({"dropout": 0.3}, {"hidden_size": 32}):
        with pytest.raises(UserError, match=f"--{next(iter(flag))} .* conflicts with the checkpoint to resume"):
            Trainer(TrainConfig(max_epochs=40, resume=True, **{**flags, **flag}))


def test_the_start_up_lines_print_the_recipe(tmp_path, tiny_text):
    from tfcharrnn.training import TrainConfig, Trainer

    lines = []
    cfg = TrainConfig(train_data=tiny_text, max_steps=2, embedding_size=8, batch_size=4, seq_length=16, checkpoint_dir=str(tmp_path),
                      eval_val_every=0, sample_every=0, sample_length=0, train_path="step-groups", hidden_size=16,
                      multiplicative_integration=True)
    Trainer(cfg, log=lambda *a, **k: lines.append(" ".join(map(str, a)))).run()
    recipe_lines = [line for line in lines if line.startswith("recipe:")]
    assert len(recipe_lines) == 1 and "num_layers 2" in recipe_lines[0] and "hidden_size" not in recipe_lines[0]
    assert any(line.startswith("model: 2x16 lstm with multiplicative integration,") for line in lines)


def test_adam_beta2_and_the_schedule_new_runs_resumed_runs_and_the_flag():
    from types import SimpleNamespace

    from tfcharrnn.training import TrainConfig
    from tfcharrnn.training.config import DEFAULT_ADAM_BETA2, DEFAULT_LR_SCHEDULE
    from tfcharrnn.training.state import optimiser_defaults

    def restored(train_config):
        return SimpleNamespace(train_state={"train_config": train_config})

    assert optimiser_defaults(TrainConfig(), None).adam_beta2 == DEFAULT_ADAM_BETA2 == 0.99
    assert optimiser_defaults(TrainConfig(), restored({"adam_beta2": 0.95})).adam_beta2 == 0.95  # a resumed run keeps its own
    assert optimiser_defaults(TrainConfig(), restored({"learning_rate": 0.01})).adam_beta2 == 0.999  # older than the setting: Keras'
    assert optimiser_defaults(TrainConfig(adam_beta2=0.9), restored({"adam_beta2": 0.95})).adam_beta2 == 0.9  # the flag wins
    assert optimiser_defaults(TrainConfig(), None).lr_schedule == DEFAULT_LR_SCHEDULE == "wsd"
    assert optimiser_defaults(TrainConfig(), restored({"lr_schedule": "exp"})).lr_schedule == "exp"
    assert optimiser_defaults(TrainConfig(), restored({"learning_rate": 0.01})).lr_schedule == "cosine"  # the schedule before wsd
    assert optimiser_defaults(TrainConfig(lr_schedule="constant"), restored({"lr_schedule": "exp"})).lr_schedule == "constant"
    assert optimiser_defaults(TrainConfig(), None).learning_rate is None  # a new run's: the recipe's, by its optimizer
    assert optimiser_defaults(TrainConfig(), None).ema_momentum is None  # the same
    assert optimiser_defaults(TrainConfig(), restored({"ema_momentum": 0.995})).ema_momentum == 0.995
    assert optimiser_defaults(TrainConfig(), restored({"learning_rate": 0.01})).learning_rate == 0.01  # a resumed run keeps its own
    assert optimiser_defaults(TrainConfig(learning_rate=0.002), restored({"learning_rate": 0.01})).learning_rate == 0.002
