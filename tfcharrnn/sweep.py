"""Hyperparameter sweeps: char-rnn's "best models strategy", automated with KerasTuner.

    from tfcharrnn.sweep import SweepSpace, run_sweep
    from tfcharrnn.training import TrainConfig
    base = TrainConfig(train_data="input.txt", time_budget=10.0, max_epochs=0)   # per trial
    space = SweepSpace(hidden_size=[256, 512], num_layers=[2, 3], dropout=[0.0, 0.25, 0.5], learning_rate=[2e-3])
    report = run_sweep(base, space, "runs/sweep", search="grid")
    report["trials"][0]          # the best trial: hyperparameters, val_loss, checkpoint, ...

    python scripts/sweep.py --train_data input.txt --hidden_size 256,512 --num_layers 2,3 \\
        --dropout 0,0.25,0.5 --learning_rate 2e-3 --time_budget 10 --sweep_dir runs/sweep

char-rnn's advice: pick the biggest network the data and the time allow, then tune dropout by
the validation loss. A sweep trains every candidate with the same budget (``time_budget``
minutes, or ``max_steps`` / ``max_epochs``: all TrainConfig stop conditions apply per trial) and
ranks them by validation loss. Each trial is an ordinary training run in its own run directory
``SWEEP_DIR/trial_ID/`` (checkpoints, latest.json, best.json: sample or evaluate it as any other)
plus ``result.json``; the ranked results go to ``SWEEP_DIR/sweep.json`` and a printed table.

The search itself is KerasTuner's: a thin ``keras_tuner.Tuner`` subclass overrides
``run_trial`` to call tfcharrnn.training.train (our trainer is a custom loop, not
``model.fit``) and returns the validation loss as the objective ``val_loss`` (minimised); the
oracle proposing the trials is KerasTuner's ``RandomSearchOracle`` or
``BayesianOptimizationOracle``, or for a grid a small ``keras_tuner.Oracle`` subclass that walks
every combination in order (KerasTuner's own GridSearch cannot continue a reloaded search in
1.4.8: keras-team/keras-tuner#1055). KerasTuner keeps the search state in
``SWEEP_DIR/keras_tuner/``: running the same command again continues the sweep (finished trials
are not rerun; an interrupted trial resumes from its latest checkpoint); ``overwrite=True``
starts over. A trial that fails (a NaN loss, a model too big for the budget to reach a
validation pass) is recorded as failed with its error and the sweep goes on.

Time budgets on a shared machine are noisy (a trial slowed by a neighbour sees fewer steps):
for comparisons that must be reproducible, use ``max_steps`` instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import itertools
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field

from tfcharrnn.errors import UserError

SWEPT = ("hidden_size", "num_layers", "dropout", "learning_rate")
SEARCHES = ("grid", "random", "bayesian")
PROJECT = "keras_tuner"
RESULTS = "sweep.json"
SETTINGS = "sweep_settings.json"
TRIAL_DIR = re.compile(r"^trial_[0-9]+$")
# Fields that change how a trial is reported, not what it computes: a rerun may change them.
_NOT_COMPARED = {"quiet", "iters_to_report", "sample_every", "sample_length", "checkpoint_dir", "resume", "init_from", "keep_best", "tensorboard"}


@dataclass
class SweepSpace:
    """Candidate values of the swept hyperparameters (every combination, for a grid)."""

    hidden_size: list = field(default_factory=lambda: [128, 256, 512])
    num_layers: list = field(default_factory=lambda: [2, 3])
    dropout: list = field(default_factory=lambda: [0.0, 0.25, 0.5])
    learning_rate: list = field(default_factory=lambda: [2e-3])

    def __post_init__(self):
        casts = {"hidden_size": int, "num_layers": int, "dropout": float, "learning_rate": float}
        for name, cast in casts.items():
            values = getattr(self, name)
            if isinstance(values, (int, float)):
                values = [values]
            values = list(dict.fromkeys(cast(v) for v in values))  # distinct, in the given order
            if not values:
                raise UserError(f"--{name}: give at least one value")
            setattr(self, name, values)

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, n)) for n in SWEPT)

    def combinations(self):
        return [dict(zip(SWEPT, values)) for values in itertools.product(*(getattr(self, n) for n in SWEPT))]

    def to_dict(self) -> dict:
        return {n: list(getattr(self, n)) for n in SWEPT}

    def hyperparameters(self):
        import keras_tuner as kt

        hp = kt.HyperParameters()
        for name in SWEPT:
            values = getattr(self, name)
            if len(values) == 1:
                hp.Fixed(name, values[0])
            else:
                hp.Choice(name, values, ordered=True)
        return hp


# ---------------------------------------------------------------------------------------------


def _import_kt():
    try:
        import keras_tuner as kt
    except ImportError:
        raise UserError("sweeps need KerasTuner: pip install keras-tuner") from None
    return kt


def _check(base, space: SweepSpace) -> None:
    """Every candidate value and the data, before the first trial (a bad flag fails now, not 3 trials in)."""
    from tfcharrnn.data import check_trainable, load_corpus

    if not base.val_frac > 0:
        raise UserError("a sweep ranks trials by validation loss: set --val_frac > 0")
    if base.resume or base.init_from:
        raise UserError("--resume / --init_from do not apply to a sweep; rerun the same sweep command to continue it")
    for combo in space.combinations():
        dataclasses.replace(base, **combo).validate()
    corpus = load_corpus(base.train_data, base.val_frac, base.test_frac, base.encoding, base.byte_mode)
    check_trainable(len(corpus.train), base.seq_length, base.batch_size, base.layout, base.stride or base.seq_length)
    if len(corpus.val) < 2:
        raise UserError(f"the validation split has {len(corpus.val)} characters; raise --val_frac or use more text")


def _settings(base, space, search, max_trials, seed) -> dict:
    cfg = {k: v for k, v in base.to_dict().items() if k not in _NOT_COMPARED and k not in SWEPT}
    return {"search": search, "max_trials": max_trials, "seed": seed, "space": space.to_dict(), "train_config": cfg}


def _prepare_dir(sweep_dir: str, settings: dict, overwrite: bool) -> None:
    path = os.path.join(sweep_dir, SETTINGS)
    if overwrite and os.path.isdir(sweep_dir):
        for entry in os.listdir(sweep_dir):
            full = os.path.join(sweep_dir, entry)
            if TRIAL_DIR.match(entry) or entry == PROJECT:
                shutil.rmtree(full, ignore_errors=True)
            elif entry in (RESULTS, SETTINGS):
                os.unlink(full)
    elif os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        new = json.loads(json.dumps(settings))
        if isinstance(old, dict) and isinstance(old.get("train_config"), dict):
            # a TrainConfig field added since the sweep began, left at its default, is no change
            from tfcharrnn.training import TrainConfig

            defaults = TrainConfig().to_dict()
            old_config = TrainConfig.current_names(old["train_config"])
            old["train_config"] = {**{k: defaults[k] for k in new["train_config"] if k in defaults}, **old_config}
        changed = sorted(k for k in set(new) | set(old or {}) if k != "max_trials" and (old or {}).get(k) != new.get(k))
        if changed or not isinstance(old, dict):  # more (or fewer) trials of the same sweep is fine
            raise UserError(f"{sweep_dir!r} holds a different sweep (changed: {', '.join(changed) or 'unreadable settings'}); "
                            "pass --overwrite to start over there, or another --sweep_dir")
    os.makedirs(sweep_dir, exist_ok=True)
    from tfcharrnn.files import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(settings, indent=1).encode("utf-8"))


def _write_json(path: str, obj) -> None:
    from tfcharrnn.files import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(obj, indent=1, ensure_ascii=False).encode("utf-8"))


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class _TrialRunner:
    """What each KerasTuner trial does: train one TrainConfig, record it, return its val_loss."""

    def __init__(self, base, sweep_dir, log):
        self.base, self.sweep_dir, self.log = base, sweep_dir, log

    def __call__(self, trial) -> dict:
        import keras

        from tfcharrnn.training import train

        kt = _import_kt()
        values = {name: trial.hyperparameters.get(name) for name in SWEPT}
        run_dir = os.path.join(self.sweep_dir, f"trial_{trial.trial_id}")
        resume = os.path.exists(os.path.join(run_dir, "latest.json"))
        cfg = dataclasses.replace(self.base, checkpoint_dir=run_dir, resume=resume, init_from=None, **values)
        self.log(f"trial {trial.trial_id}: {describe_trial(values)}" + (" (resuming)" if resume else ""))
        record = {"trial": trial.trial_id, **values, "checkpoint_dir": run_dir}
        prefix = f"  [trial {trial.trial_id}] "
        t0 = time.time()
        try:
            result = train(cfg, log=lambda *a, **k: self.log(prefix + " ".join(str(x) for x in a)))
        except UserError as e:
            record.update(status="failed", error=str(e), wall_s=time.time() - t0)
            os.makedirs(run_dir, exist_ok=True)
            _write_json(os.path.join(run_dir, "result.json"), record)
            self.log(f"trial {trial.trial_id} failed: {e}")
            raise kt.errors.FailedTrialError(str(e)) from None
        finally:
            keras.backend.clear_session()  # drop the trial's graphs before the next one builds its own
            gc.collect()
        if result["stop_reason"].endswith("received"):  # Ctrl-C / SIGTERM: stop the sweep, keep this trial resumable
            self.log(f"sweep interrupted in trial {trial.trial_id}; run the same sweep command again to continue "
                     "(this trial resumes from its latest checkpoint)")
            raise KeyboardInterrupt
        record.update(status="completed", val_loss=result["val_loss"], params=result["params"], step=result["step"],
                      epoch=result["epoch"], train_s=result["elapsed_s"], wall_s=time.time() - t0,
                      stop_reason=result["stop_reason"], checkpoint=result["checkpoint"])
        if result.get("test_loss") is not None:
            record["test_loss"] = result["test_loss"]
        _write_json(os.path.join(run_dir, "result.json"), record)
        if result["val_loss"] is None or not math.isfinite(result["val_loss"]):
            raise kt.errors.FailedTrialError(f"no finite validation loss ({result['val_loss']})")
        self.log(f"trial {trial.trial_id}: val_loss {result['val_loss']:.4f} after {result['step']} steps "
                 f"({result['elapsed_s'] / 60:.1f} min)")
        return {"val_loss": float(result["val_loss"])}


def describe_trial(values: dict) -> str:
    return (f"hidden_size {values['hidden_size']}, num_layers {values['num_layers']}, dropout {values['dropout']:g}, "
            f"learning_rate {values['learning_rate']:g}")


def _grid_oracle_class(kt):
    class ResumableGridOracle(kt.Oracle):
        """Every combination of the space, in SweepSpace order: the first one no trial has taken yet.

        Derived from the trials KerasTuner persists, so a reloaded sweep continues where it stopped.
        (keras_tuner.GridSearch keeps its place in memory only and does not continue after a reload
        in KerasTuner 1.4.8: keras-team/keras-tuner#1055.)
        """

        def __init__(self, combinations, **kwargs):
            super().__init__(**kwargs)
            self.combinations = combinations

        def populate_space(self, trial_id):
            taken = [t.hyperparameters.values for t in self.trials.values()]
            for combo in self.combinations:
                if combo not in taken:
                    return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": dict(combo)}
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}

    return ResumableGridOracle


def _make_tuner(search, space, sweep_dir, max_trials, seed, runner, overwrite):
    kt = _import_kt()
    common = dict(objective=kt.Objective("val_loss", direction="min"), max_trials=max_trials, seed=seed,
                  hyperparameters=space.hyperparameters(), tune_new_entries=False, allow_new_entries=False,
                  max_consecutive_failed_trials=max_trials + 1)  # failures are reported in the table, not fatal
    if search == "grid":
        oracle = _grid_oracle_class(kt)(space.combinations(), **common)
    elif search == "random":
        oracle = kt.oracles.RandomSearchOracle(**common)
    else:
        try:
            oracle = kt.oracles.BayesianOptimizationOracle(**common)
        except ImportError:  # KerasTuner's Gaussian process needs its [bayesian] extra
            raise UserError("--search bayesian needs scipy and scikit-learn: pip install 'keras-tuner[bayesian]' "
                            "(or use --search random)") from None

    class TrainerTuner(kt.Tuner):
        """KerasTuner's search and bookkeeping; tfcharrnn's trainer runs each trial (no HyperModel)."""

        def run_trial(self, trial, *args, **kwargs):
            return runner(trial)

    return TrainerTuner(oracle=oracle, directory=sweep_dir, project_name=PROJECT, overwrite=overwrite)


def collect_results(tuner, sweep_dir) -> list[dict]:
    """One record per trial KerasTuner knows, best validation loss first, failed ones last."""
    records = []
    for trial_id, trial in tuner.oracle.trials.items():
        run_dir = os.path.join(sweep_dir, f"trial_{trial_id}")
        record = _read_json(os.path.join(run_dir, "result.json")) or {"trial": trial_id, "checkpoint_dir": run_dir}
        record.update({name: trial.hyperparameters.get(name) for name in SWEPT if name in trial.hyperparameters.values})
        status = str(getattr(trial.status, "value", trial.status)).lower()
        if status != "completed":
            record["status"] = "failed" if status in ("failed", "invalid") else status
            if trial.message and "error" not in record:
                record["error"] = trial.message.strip().splitlines()[-1]
        records.append(record)

    def key(r):
        loss = r.get("val_loss")
        ok = r.get("status") == "completed" and loss is not None and math.isfinite(loss)
        return (0 if ok else 1, loss if ok else 0.0, str(r["trial"]))

    records.sort(key=key)
    for rank, r in enumerate(records, 1):
        r["rank"] = rank if r.get("status") == "completed" else None
    return records


def run_sweep(base, space: SweepSpace, sweep_dir: str, *, search: str = "grid", max_trials: int | None = None,
              seed: int | None = None, overwrite: bool = False, log=print) -> dict:
    """Run (or continue) a sweep; returns {"trials": [...best first], "best", "results_path", ...}."""
    if search not in SEARCHES:
        raise UserError(f"--search {search!r} is not known; use one of {', '.join(SEARCHES)}")
    if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 1):
        raise UserError(f"--max_trials must be a positive integer, got {max_trials!r}")
    _import_kt()  # fail before any work when KerasTuner is missing
    if max_trials is None:
        if search != "grid":
            raise UserError(f"--search {search} needs --max_trials (the grid has {space.size} combinations)")
        max_trials = space.size
    max_trials = min(max_trials, space.size)
    seed = base.seed if seed is None else seed
    log = log or (lambda *a, **k: None)
    _check(base, space)
    _prepare_dir(sweep_dir, _settings(base, space, search, max_trials, seed), overwrite)
    runner = _TrialRunner(base, sweep_dir, log)
    t0 = time.time()
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):  # KerasTuner prints "Reloading Tuner from ...": keep stdout for our output
        tuner = _make_tuner(search, space, sweep_dir, max_trials, seed, runner, overwrite)
    for line in chatter.getvalue().splitlines():
        log(line)
    done = sum(1 for t in tuner.oracle.trials.values() if str(getattr(t.status, "value", t.status)).upper() in ("COMPLETED", "FAILED"))
    log(f"sweep: {search} search, {max_trials} of {space.size} combination(s)" + (f", {done} already done" if done else "")
        + f"; each trial: {_budget(base)}; results in {sweep_dir}")
    try:
        with _quiet_failures():
            tuner.search(verbose=0)
    except RuntimeError as e:  # KerasTuner gives up (e.g. too many failures)
        raise UserError(f"the sweep stopped: {str(e).strip().splitlines()[0]}") from None
    trials = collect_results(tuner, sweep_dir)
    completed = [r for r in trials if r.get("status") == "completed"]
    report = {"search": search, "space": space.to_dict(), "max_trials": max_trials, "seed": seed,
              "train_config": {k: v for k, v in base.to_dict().items() if k not in SWEPT and k != "checkpoint_dir"},
              "sweep_dir": sweep_dir, "search_s": time.time() - t0, "trials": trials,
              "best": completed[0] if completed else None, "results_path": os.path.join(sweep_dir, RESULTS)}
    _write_json(report["results_path"], report)
    if not completed:
        errors = [r.get("error", "unknown error") for r in trials]
        raise UserError(f"every trial failed (first: {errors[0] if errors else 'no trial ran'}); see {report['results_path']}")
    return report


@contextlib.contextmanager
def _quiet_failures():
    """KerasTuner prints each failed trial's traceback (its config.DEBUG is on by default); the
    trial's one-line error is already logged and kept in sweep.json. TFCHARRNN_DEBUG=1 keeps them."""
    try:
        from keras_tuner.src import config as kt_config
    except ImportError:  # a KerasTuner without that module: nothing to quieten
        yield
        return
    saved = kt_config.DEBUG
    kt_config.DEBUG = bool(os.environ.get("TFCHARRNN_DEBUG"))
    try:
        yield
    finally:
        kt_config.DEBUG = saved


def _budget(cfg) -> str:
    parts = []
    if cfg.time_budget:
        parts.append(f"{cfg.time_budget:g} min")
    if cfg.max_steps:
        parts.append(f"{cfg.max_steps} steps")
    if cfg.epoch_limit:
        parts.append(f"{cfg.epoch_limit:g} epochs")
    return " or ".join(parts) + ", whichever comes first" if len(parts) > 1 else parts[0]


def format_table(trials: list[dict]) -> str:
    header = ("rank", "trial", "hidden", "layers", "dropout", "lr", "params", "steps", "epoch", "min", "val loss", "bits/char", "status")
    rows = []
    for r in trials:
        loss = r.get("val_loss")
        ok = r.get("status") == "completed" and loss is not None
        rows.append((
            str(r.get("rank") or "-"), str(r["trial"]), str(r.get("hidden_size", "?")), str(r.get("num_layers", "?")),
            f"{r['dropout']:g}" if "dropout" in r else "?", f"{r['learning_rate']:.2g}" if "learning_rate" in r else "?",
            f"{r['params']:,}" if r.get("params") else "-", str(r.get("step", "-")),
            f"{r['epoch']:.2f}" if r.get("epoch") is not None else "-",
            f"{r['train_s'] / 60:.1f}" if r.get("train_s") is not None else "-",
            f"{loss:.4f}" if ok else "-", f"{loss / math.log(2):.4f}" if ok else "-",
            r.get("status", "?") if ok or not r.get("error") else f"{r.get('status')}: {r['error'][:60]}",
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    right = {0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
    fmt = lambda row: "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()  # noqa: E731
    lines = [fmt(header), fmt(tuple("-" * w for w in widths))] + [fmt(row) for row in rows]
    return "\n".join(lines)

