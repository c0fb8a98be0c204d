"""Checkpoints: a directory with the config, the vocabulary, the weights and the training state.

    from tfcharrnn.checkpoint import save_checkpoint, load_checkpoint, resolve_checkpoint
    path = save_checkpoint(run_dir, "lm_lstm_epoch0.95_2.0681", model, vocab, optimizer, train_state)
    ckpt = load_checkpoint("cv/")          # a run directory (its best, else latest) or one checkpoint
    ckpt.model, ckpt.vocab, ckpt.config, ckpt.train_state

Layout of one checkpoint (torch-rnn's rule: everything needed to sample travels inside it):
    meta.json       format tag, ModelConfig, Vocabulary, training state, file checksums
    weights.npz     model variables by path (numpy, loaded with allow_pickle=False)
    optimizer.npz   optimizer variables and the carried recurrent state (for exact resume)
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
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

from tfcharrnn.config import ModelConfig
from tfcharrnn.errors import UserError
from tfcharrnn.vocab import Vocabulary

FORMAT = "tfcharrnn-checkpoint"
FORMAT_VERSION = 1
META = "meta.json"
WEIGHTS = "weights.npz"
OPTIMIZER = "optimizer.npz"
POINTERS = ("latest", "best")


# ---------------------------------------------------------------------------------------------
# atomic files


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a server running as another user must read it
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


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


def save_checkpoint(run_dir, name, model, vocab, optimizer=None, train_state=None, carry_state=None, pointers=("latest",),
                    rng_states=None) -> str:
    """Write checkpoint ``run_dir/name`` atomically and update the named pointers."""
    os.makedirs(run_dir, exist_ok=True)
    weights = _npz_bytes(model_arrays(model))
    opt = optimizer_arrays(optimizer)
    if carry_state is not None:
        opt["carry_state"] = np.asarray(carry_state)
    for i, state in enumerate(rng_states or ()):
        opt[f"rng_{i:04d}"] = np.asarray(state)
    opt_bytes = _npz_bytes(opt)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "vocab": vocab.to_dict(),
        "train_state": train_state or {},
        "files": {WEIGHTS: _sha256(weights), OPTIMIZER: _sha256(opt_bytes)},
    }
    final = os.path.join(run_dir, name)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=run_dir)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        for fname, data in ((WEIGHTS, weights), (OPTIMIZER, opt_bytes), (META, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))):
            with open(os.path.join(tmp, fname), "wb") as f:  # plain open: default permissions
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        if os.path.exists(final):
            # Same name again (same epoch and loss): swap, then drop the old one.
            old = tempfile.mkdtemp(prefix=f".old-{name}-", dir=run_dir)
            os.rmdir(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for pointer in pointers:
        write_pointer(run_dir, pointer, name, train_state)
    return final


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
    if os.path.basename(name) != name:
        raise UserError(f"pointer {path!r} names {name!r}, outside its run directory; the file was tampered with")
    return os.path.join(run_dir, name)


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
    optimizer: dict = field(repr=False)
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
    optimizer = _read_npz(path, OPTIMIZER, files.get(OPTIMIZER)) if with_optimizer else {}
    return Checkpoint(path=path, config=config, vocab=vocab, train_state=meta.get("train_state", {}), weights=weights, optimizer=optimizer)


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
    saved = {k: v for k, v in arrays.items() if k.isdigit()}  # not carry_state, rng_*
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
