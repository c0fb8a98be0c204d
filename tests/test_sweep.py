"""scripts/sweep.py and tfcharrnn.sweep: KerasTuner-driven sweeps over tiny models, a few steps per trial."""

import json
import math
import os

import pytest

from conftest import tiny_config
from tfcharrnn import sweep
from tfcharrnn.cli import sweep as cli
from tfcharrnn.errors import UserError

TINY = dict(max_steps=3, hidden_size=16, num_layers=1, embedding_size=8, sample_length=0)


def test_space():
    space = sweep.SweepSpace(hidden_size=[16, 32, 16], num_layers=2, dropout=[0, 0.25], learning_rate=[1e-2])
    assert space.hidden_size == [16, 32] and space.num_layers == [2] and space.dropout == [0.0, 0.25]
    assert space.size == 4 and len(space.combinations()) == 4
    assert space.combinations()[1] == {"hidden_size": 16, "num_layers": 2, "dropout": 0.25, "learning_rate": 1e-2}
    with pytest.raises(UserError):
        sweep.SweepSpace(hidden_size=[])


def test_grid_sweep_ranks_and_continues(small_corpus, tmp_path):
    base = tiny_config(small_corpus, tmp_path / "unused", **TINY)
    space = sweep.SweepSpace(hidden_size=[16], num_layers=[1], dropout=[0.0], learning_rate=[1e-2, 3e-3])
    sweep_dir = str(tmp_path / "sweep")
    log = []
    first = sweep.run_sweep(base, space, sweep_dir, max_trials=1, log=log.append)
    assert [t["learning_rate"] for t in first["trials"]] == [1e-2]
    # Running again with more trials continues the same sweep: trial 0 is not retrained.
    log.clear()
    report = sweep.run_sweep(base, space, sweep_dir, log=log.append)
    assert any("1 already done" in line for line in log)
    assert sum(line.startswith("trial ") and "val_loss" in line for line in log) == 1
    trials = report["trials"]
    assert len(trials) == 2 and all(t["status"] == "completed" for t in trials)
    assert {t["learning_rate"] for t in trials} == {1e-2, 3e-3}
    assert trials[0]["val_loss"] <= trials[1]["val_loss"] and [t["rank"] for t in trials] == [1, 2]
    assert report["best"] == trials[0]
    for t in trials:  # each trial is an ordinary run directory
        assert os.path.isfile(os.path.join(t["checkpoint_dir"], "latest.json"))
        assert os.path.isdir(t["checkpoint"]) and t["checkpoint"].startswith(t["checkpoint_dir"])
        assert t["step"] == 3 and t["params"] > 0
    with open(os.path.join(sweep_dir, "sweep.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert [t["trial"] for t in saved["trials"]] == [t["trial"] for t in trials]
    table = sweep.format_table(trials)
    assert table.splitlines()[0].split()[:3] == ["rank", "trial", "hidden"] and "completed" in table
    # A finished sweep run again does nothing new; a changed one is refused.
    log.clear()
    again = sweep.run_sweep(base, space, sweep_dir, log=log.append)
    assert not any("val_loss" in line for line in log) and len(again["trials"]) == 2
    with pytest.raises(UserError, match="holds a different sweep.*--overwrite"):
        sweep.run_sweep(base, sweep.SweepSpace([16], [1], [0.5], [1e-2]), sweep_dir, log=None)
    # Settings written before a TrainConfig field existed: the field at its default is no change;
    # nor are the older fields that chose the training path (kernel, fused, jit) naming the same path.
    settings_path = os.path.join(sweep_dir, sweep.SETTINGS)
    with open(settings_path, encoding="utf-8") as f:
        settings = json.load(f)
    for field in ("patience", "adam_beta2"):  # fields newer than some sweeps, left at their defaults here
        del settings["train_config"][field]
    settings["train_config"].update(kernel=settings["train_config"].pop("train_path"), fused=True, jit=False)
    with open(settings_path, "w", encoding="utf-8") as f:
        json.dump(settings, f)
    assert len(sweep.run_sweep(base, space, sweep_dir, log=None)["trials"]) == 2
    with pytest.raises(UserError, match="changed: train_config"):
        sweep.run_sweep(tiny_config(small_corpus, tmp_path / "unused", weight_decay=0.1, **TINY), space, sweep_dir, log=None)


def test_cli_failed_trial_is_reported(small_corpus, tmp_path, capsys):
    """A diverging trial (NaN loss) is recorded as failed; the sweep goes on and ranks the rest."""
    sweep_dir = tmp_path / "cli_sweep"
    args = ["--train_data", small_corpus, "--hidden_size", "16", "--num_layers", "1", "--dropout", "0",
            "--learning_rate", "1e-2,1e38", "--max_steps", "3", "--time_budget", "0", "--batch_size", "8",
            "--seq_length", "32", "--embedding_size", "8", "--eval_val_every", "0", "--sweep_dir", str(sweep_dir), "--quiet"]
    assert cli.main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ok, bad = report["trials"]
    assert ok["status"] == "completed" and ok["learning_rate"] == 1e-2 and ok["rank"] == 1
    assert bad["status"] == "failed" and bad["rank"] is None and "loss became" in bad["error"]
    assert report["search"] == "grid" and report["train_config"]["max_steps"] == 3
    assert "checkpoint_dir" not in report["train_config"]
    assert cli.main(args) == 0  # nothing left to run: prints the table
    out = capsys.readouterr().out
    assert "failed: loss became" in out and "best: trial" in out and math.isfinite(ok["val_loss"])


@pytest.mark.parametrize("extra, message", [
    (["--search", "random"], "needs --max_trials"),
    (["--dropout", "0,1.5"], "--dropout must be in"),
    (["--hidden_size", "16,x"], "comma-separated list"),
    (["--val_frac", "0"], "--val_frac > 0"),
    (["--resume"], "do not apply to a sweep"),
    (["--batch_size", "100000"], "lower --batch_size"),
    (["--max_trials", "0"], "--max_trials must be a positive integer"),
])
def test_cli_bad_input(small_corpus, tmp_path, extra, message):
    with pytest.raises(UserError, match=message):
        cli.main(["--train_data", small_corpus, "--sweep_dir", str(tmp_path / "s"), "--hidden_size", "16", *extra])
    assert not os.path.exists(tmp_path / "s" / "trial_0")


def test_time_budget_per_trial(small_corpus, tmp_path):
    base = tiny_config(small_corpus, tmp_path / "unused", **dict(TINY, max_steps=0, time_budget=0.02))
    report = sweep.run_sweep(base, sweep.SweepSpace([16], [1], [0.0], [1e-2]), str(tmp_path / "s"), log=None)
    (trial,) = report["trials"]
    assert trial["status"] == "completed" and "time_budget" in trial["stop_reason"] and trial["train_s"] >= 1.2


def _space_values(space):
    return [tuple(c[name] for name in sweep.SWEPT) for c in space.combinations()]


def test_random_search_runs_distinct_trials_from_the_space_and_continues(small_corpus, tmp_path):
    base = tiny_config(small_corpus, tmp_path / "unused", **dict(TINY, max_steps=2))
    space = sweep.SweepSpace(hidden_size=[16, 24], num_layers=[1], dropout=[0.0], learning_rate=[1e-2, 3e-3])
    sweep_dir = str(tmp_path / "random")
    first = sweep.run_sweep(base, space, sweep_dir, search="random", max_trials=1, seed=5, log=None)
    assert first["search"] == "random" and len(first["trials"]) == 1 and first["trials"][0]["status"] == "completed"
    log = []
    again = sweep.run_sweep(base, space, sweep_dir, search="random", max_trials=2, seed=5, log=log.append)
    assert any("1 already done" in line for line in log)
    assert sum(line.startswith("trial ") and "val_loss" in line for line in log) == 1  # one new trial, the first kept
    picked = [tuple(t[name] for name in sweep.SWEPT) for t in again["trials"]]
    assert len(set(picked)) == 2 and set(picked) <= set(_space_values(space))  # two different points of the space
    assert all(t["status"] == "completed" and t["step"] == 2 for t in again["trials"])


def test_bayesian_search_through_the_command_line(small_corpus, tmp_path, capsys):
    args = ["--train_data", small_corpus, "--hidden_size", "16,24", "--num_layers", "1", "--dropout", "0", "--learning_rate", "1e-2,3e-3",
            "--max_steps", "2", "--time_budget", "0", "--batch_size", "8", "--seq_length", "32", "--embedding_size", "8",
            "--eval_val_every", "0", "--sample_length", "0", "--sweep_dir", str(tmp_path / "bayes"), "--quiet",
            "--search", "bayesian", "--max_trials", "2", "--json"]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["search"] == "bayesian" and [t["status"] for t in report["trials"]] == ["completed", "completed"]
    assert report["trials"][0]["val_loss"] <= report["trials"][1]["val_loss"]


def test_bayesian_search_fits_its_model_once_the_initial_points_are_done(tmp_path):
    """KerasTuner's BayesianOptimizationOracle proposes trials at random until it has 3 x (number of
    hyperparameters, Fixed ones included) results, then from its Gaussian process. A sweep of real
    trainings that long is minutes; here each trial's objective is a function of its values (no
    training), through the same tuner and oracle run_sweep builds."""
    space = sweep.SweepSpace(hidden_size=list(range(8, 8 + 16)), num_layers=[1], dropout=[0.0], learning_rate=[1e-2])
    initial = 3 * len(space.hyperparameters().space)  # 12
    seen = []

    def runner(trial):
        values = {name: trial.hyperparameters.get(name) for name in sweep.SWEPT}
        seen.append(values["hidden_size"])
        return {"val_loss": float((values["hidden_size"] - 19) ** 2)}  # best at 19

    tuner = sweep._make_tuner("bayesian", space, str(tmp_path), initial + 2, 3, runner, overwrite=True)
    fits = []
    real_fit = tuner.oracle.gpr.fit
    tuner.oracle.gpr.fit = lambda x, y: fits.append(len(y)) or real_fit(x, y)
    tuner.search(verbose=0)
    assert len(seen) == initial + 2 and set(seen) <= set(space.hidden_size)
    assert fits == [initial, initial + 1]  # the last two trials came from the fitted model
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == min((h - 19) ** 2 for h in seen)  # val_loss minimised


def test_bayesian_search_without_scipy_is_a_clear_error(small_corpus, tmp_path, monkeypatch):
    import keras_tuner as kt

    def missing(*args, **kwargs):
        raise ImportError("Please install scipy before using the `BayesianOptimization` with `pip install keras-tuner[bayesian]`.")

    monkeypatch.setattr(kt.oracles, "BayesianOptimizationOracle", missing)
    base = tiny_config(small_corpus, tmp_path / "unused", **TINY)
    with pytest.raises(UserError, match=r"--search bayesian needs scipy and scikit-learn: pip install 'keras-tuner\[bayesian\]'"):
        sweep.run_sweep(base, sweep.SweepSpace([16], [1], [0.0], [1e-2, 3e-3]), str(tmp_path / "s"), search="bayesian", max_trials=1, log=None)


def test_an_interrupted_trial_resumes_from_its_checkpoint(small_corpus, tmp_path):
    """Ctrl-C during a trial (a real SIGINT): the trial saves, the sweep stops; the same command again
    resumes that trial from its checkpoint instead of starting it over."""
    import signal

    base = tiny_config(small_corpus, tmp_path / "unused", **dict(TINY, max_steps=6, iters_to_report=2, quiet=False))
    space = sweep.SweepSpace([16], [1], [0.0], [1e-2])
    sweep_dir = str(tmp_path / "sweep")

    def interrupt_at_step_2(line):
        if line.lstrip().startswith("[trial 0]") and "     2 | epoch" in line:
            os.kill(os.getpid(), signal.SIGINT)  # the trainer's handler: stop and save at the step boundary

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(base, space, sweep_dir, log=interrupt_at_step_2)
    latest = json.loads((tmp_path / "sweep" / "trial_0" / "latest.json").read_text())
    assert latest["step"] == 2
    log = []
    report = sweep.run_sweep(base, space, sweep_dir, log=log.append)
    assert any(line == "trial 0: hidden_size 16, num_layers 1, dropout 0, learning_rate 0.01 (resuming)" for line in log)
    assert any("resumed from" in line and "at step 2" in line for line in log)
    (trial,) = report["trials"]
    assert trial["status"] == "completed" and trial["step"] == 6
