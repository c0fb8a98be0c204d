"""Checkpoints: a directory with the config, the vocabulary, the weights and the training state.

    from tfcharrnn.checkpoint import save_checkpoint, load_checkpoint, resolve_checkpoint
    path = save_checkpoint(run_dir, "lm_lstm_epoch0.95_2.0681", model, vocab, optimizer, train_state, run_arrays=arrays)
    ckpt = load_checkpoint("cv/")          # a run directory (its best, else latest) or one checkpoint
    ckpt.model, ckpt.vocab, ckpt.config, ckpt.train_state, ckpt.optimizer, ckpt.run_arrays

Layout of one checkpoint (torch-rnn's rule: everything needed to sample travels inside it):
    meta.json       format tag, ModelConfig, Vocabulary, training state, file checksums
    weights.npz     model variables by path (numpy, loaded with allow_pickle=False): the weights'
                    moving average, or the raw weights where train_state["weights"] says "raw"
    optimizer.npz   the optimizer's variables (Muon's and Adam's moments and step counter; the average's
                    slots hold whichever of the two weights.npz does not)
    run_state.npz   the run's other arrays: the recurrent state carried into the next batch and the
                    random streams of dropout and weight drop (tfcharrnn.training.state.RunArrays)
Format 1 (before run_state.npz) kept those arrays inside optimizer.npz; such checkpoints load.
A run directory also holds latest.json and best.json, each naming one checkpoint.

Every file is written under a temporary name and renamed into place, and a checkpoint
directory is renamed into place only when complete, so a crash at any moment leaves the
previous checkpoint and both pointers valid. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field

import numpy as np

from tfcharrnn.config import ModelConfig
from tfcharrnn.errors import UserError
from tfcharrnn.files import atomic_write_bytes, new_temp_dir, publish_dir, write_synced
from tfcharrnn.vocab import Vocabulary

FORMAT = "tfcharrnn-checkpoint"
FORMAT_VERSION = 2
META = "meta.json"
WEIGHTS = "weights.npz"
OPTIMIZER = "optimizer.npz"
RUN_STATE = "run_state.npz"
POINTERS = ("latest", "best")


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# save


def model_arrays(model) -> dict:
    return {v.path: np.asarray(v.numpy()) for v in model.weights}


def optimizer_arrays(optimizer) -> dict:
    if optimizer is None or not optimizer.built:
        return {}
    return {f"{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}


def save_checkpoint(run_dir, name, model, vocab, optimizer=None, train_state=None, pointers=("latest",), run_arrays=None) -> str:
    """Write checkpoint ``run_dir/name`` atomically and update the named pointers."""
    os.makedirs(run_dir, exist_ok=True)
    files = {WEIGHTS: _npz_bytes(model_arrays(model)), OPTIMIZER: _npz_bytes(optimizer_arrays(optimizer)),
             RUN_STATE: _npz_bytes(dict(run_arrays or {}))}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "vocab": vocab.to_dict(),
        "train_state": train_state or {},
        "files": {fname: _sha256(data) for fname, data in files.items()},
    }
    files[META] = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
    tmp = new_temp_dir(run_dir, f".tmp-{name}-")
    try:
        for fname, data in files.items():
            write_synced(os.path.join(tmp, fname), data)
        publish_dir(tmp, os.path.join(run_dir, name))  # the same name again (same epoch and loss) swaps
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for pointer in pointers:
        write_pointer(run_dir, pointer, name, train_state)
    return os.path.join(run_dir, name)


def write_pointer(run_dir, pointer, name, train_state=None) -> None:
    body = {"checkpoint": name}
    if train_state:
        for key in ("step", "epoch", "val_loss"):
            if key in train_state:
                body[key] = train_state[key]
    atomic_write_bytes(os.path.join(run_dir, pointer + ".json"), json.dumps(body).encode())


def read_pointer(run_dir, pointer):
    path = os.path.join(run_dir, pointer + ".json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            name = json.load(f)["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"pointer {path!r} is corrupted; point at a checkpoint directory inside {run_dir!r} instead") from None
    if not _inside(run_dir, name):
        raise UserError(f"pointer {path!r} names {name!r}, outside its run directory; the file was tampered with")
    return os.path.join(run_dir, name)


def _inside(run_dir, name) -> bool:
    """Whether ``name`` is one entry of ``run_dir`` that stays inside it once resolved: not "", ".", "..",
    an absolute path or a path with separators, and not a symlink leading out (real paths compared)."""
    if not isinstance(name, str) or name in ("", ".", "..") or os.path.basename(name) != name or os.path.isabs(name):
        return False
    real_dir = os.path.realpath(run_dir)
    target = os.path.realpath(os.path.join(run_dir, name))
    return target != real_dir and os.path.commonpath([real_dir, target]) == real_dir


def list_checkpoints(run_dir) -> list[tuple[str, dict]]:
    """(path, meta) of every complete checkpoint in a run directory."""
    out = []
    if not os.path.isdir(run_dir):
        return out
    for entry in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, entry)
        if entry.startswith(".") or not os.path.isfile(os.path.join(path, META)):
            continue
        try:
            out.append((path, _read_meta(path)))
        except UserError:
            continue
    return out


def prune(run_dir, keep_best: int) -> None:
    """Keep the ``keep_best`` checkpoints with the lowest validation loss, plus latest and best."""
    if keep_best <= 0:
        return
    protected = {os.path.abspath(p) for p in (read_pointer(run_dir, "latest"), read_pointer(run_dir, "best")) if p}
    ranked = sorted(list_checkpoints(run_dir), key=lambda pm: pm[1]["train_state"].get("val_loss", float("inf")))
    for path, _ in ranked[keep_best:]:
        if os.path.abspath(path) not in protected:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# load


@dataclass
class Checkpoint:
    path: str
    config: ModelConfig
    vocab: Vocabulary
    train_state: dict
    weights: dict
    optimizer: dict = field(repr=False)  # the optimizer's variables by index ("0000", ...)
    run_arrays: dict = field(default_factory=dict, repr=False)  # carry_state, rng_0000, ...
    _model: object = field(default=None, repr=False)

    @property
    def model(self):
        if self._model is None:
            self._model = build_model(self.config, self.weights, self.path)
        return self._model


def resolve_checkpoint(path: str) -> str:
    """A checkpoint directory, or a run directory (its best checkpoint, else its latest)."""
    if path is None or not os.path.exists(path):
        raise UserError(f"checkpoint {path!r} does not exist; pass a checkpoint directory or a run directory such as cv/")
    if os.path.isfile(path):
        if path.endswith(META):
            return os.path.dirname(path) or "."
        raise UserError(f"{path!r} is a file, not a tfcharrnn checkpoint; pass the checkpoint directory (it holds {META})")
    if os.path.isfile(os.path.join(path, META)):
        return path
    for pointer in ("best", "latest"):
        target = read_pointer(path, pointer)
        if target:
            if not os.path.isfile(os.path.join(target, META)):
                raise UserError(f"{pointer}.json in {path!r} names a missing checkpoint {os.path.basename(target)!r}; pass a checkpoint directory instead")
            return target
    found = list_checkpoints(path)
    if found:
        return found[-1][0]
    raise UserError(f"{path!r} holds no tfcharrnn checkpoint (no {META}, latest.json or best.json); train one with scripts/train.py")


def _read_meta(path) -> dict:
    meta_path = os.path.join(path, META)
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path!r} is not a tfcharrnn checkpoint (no {META})") from None
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{meta_path!r} is corrupted (not valid JSON); use another checkpoint") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path!r} is not a tfcharrnn checkpoint (its {META} has no '{FORMAT}' tag)")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise UserError(f"{path!r} was written by a newer tfcharrnn (format {meta['format_version']}); upgrade tfcharrnn")
    return meta


def _read_npz(path, fname, expected_sha) -> dict:
    full = os.path.join(path, fname)
    try:
        with open(full, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError(f"checkpoint {path!r} is incomplete: {fname} is missing; use another checkpoint") from None
    if expected_sha and _sha256(data) != expected_sha:
        raise UserError(f"checkpoint {path!r} is corrupted or truncated ({fname} fails its checksum); use another checkpoint")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise UserError(f"checkpoint {path!r} is corrupted ({fname} cannot be read); use another checkpoint") from None


def load_checkpoint(path: str, with_optimizer: bool = True) -> Checkpoint:
    path = resolve_checkpoint(path)
    meta = _read_meta(path)
    try:
        config = ModelConfig.from_dict(meta["config"])
        vocab = Vocabulary.from_dict(meta["vocab"])
    except (KeyError, TypeError):
        raise UserError(f"checkpoint {path!r} is corrupted ({META} lacks config or vocab); use another checkpoint") from None
    if config.vocab_size != vocab.size:
        raise UserError(f"checkpoint {path!r} is inconsistent: config says {config.vocab_size} characters, vocabulary has {vocab.size}")
    files = meta.get("files", {})
    weights = _read_npz(path, WEIGHTS, files.get(WEIGHTS))
    optimizer, run_arrays = {}, {}
    if with_optimizer:
        optimizer = _read_npz(path, OPTIMIZER, files.get(OPTIMIZER))
        if RUN_STATE in files:
            run_arrays = _read_npz(path, RUN_STATE, files[RUN_STATE])
        else:  # format 1: the run's arrays sat beside the optimizer's variables
            run_arrays = {k: optimizer.pop(k) for k in list(optimizer) if not k.isdigit()}
    return Checkpoint(path=path, config=config, vocab=vocab, train_state=meta.get("train_state", {}), weights=weights,
                      optimizer=optimizer, run_arrays=run_arrays)


def build_model(config: ModelConfig, weights: dict, source: str = "checkpoint"):
    from tfcharrnn.model import CharRNN

    model = CharRNN(config)
    assign_weights(model, weights, source)
    return model


def assign_weights(model, weights: dict, source: str = "checkpoint") -> None:
    variables = {v.path: v for v in model.weights}
    missing = sorted(set(variables) - set(weights))
    if missing:
        raise UserError(f"{source!r} does not match a {model.config.model} model: missing {missing[0]}; it comes from another model kind or version")
    for name, var in variables.items():
        value = weights[name]
        if tuple(value.shape) != tuple(var.shape):
            raise UserError(f"{source!r} does not match its config: {name} has shape {value.shape}, expected {tuple(var.shape)}")
        var.assign(value)


def restore_optimizer(optimizer, model, arrays: dict, source: str = "checkpoint") -> None:
    """Load saved optimizer variables (Adam moments, iteration counter) into ``optimizer``."""
    saved = {k: v for k, v in arrays.items() if k.isdigit()}
    if not saved:
        return
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = optimizer.variables
    if len(variables) != len(saved):
        raise UserError(f"optimizer state in {source!r} does not match this model/optimizer; start a new run without --init_from")
    for i, var in enumerate(variables):
        value = saved[f"{i:04d}"]
        if tuple(value.shape) != tuple(var.shape):
            raise UserError(f"optimizer state in {source!r} does not match this model; start a new run")
        var.assign(value)
