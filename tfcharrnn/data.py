"""Read, encode, cache and split a corpus; tf.data windows and batches for training.

    from tfcharrnn.data import load_corpus, window_dataset, stream_dataset
    corpus = load_corpus("input.txt", val_frac=0.1)   # also a directory or a glob of files
    corpus.vocab, corpus.train, corpus.val           # Vocabulary; compact uint8/uint16 id arrays
    ds = window_dataset(corpus.train, seq_length=100, batch_size=64, stride=50, seed=0, epoch=0)
    for x, y in ds: ...                              # (B, T) int32 each, y is x shifted by one

Two layouts of a training epoch:
- ``windows``: every ``stride`` characters a window of ``seq_length + 1`` starts (from a random
  offset each epoch); windows are shuffled and batched; the state starts at zero in each window.
- ``stream`` (char-rnn / torch-rnn): the epoch's text is cut into ``batch_size`` contiguous
  rows; batch j holds columns [j*T, (j+1)*T] of every row, so the recurrent state carried
  from batch j to j+1 continues the same text (truncated backpropagation through time).

Both are deterministic functions of (seed, epoch), which is what makes resume exact: a data
position is just (epoch, batch index).
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from tfcharrnn.errors import UserError
from tfcharrnn.files import atomic_write_bytes, read_text_file
from tfcharrnn.machine import cache_dir
from tfcharrnn.vocab import Vocabulary, describe_chars, id_dtype

TEXT_SUFFIXES = (".txt", ".text", ".md", ".rst", ".csv", ".tsv", ".json", ".py", ".c", ".h", ".js", ".html", ".xml", ".tex")
BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "tinyshakespeare.txt")
LAYOUTS = ("stream", "windows")


# ---------------------------------------------------------------------------------------------
# files -> text


def resolve_paths(spec: str) -> list[str]:
    """A file, a directory (its text files, recursively, sorted) or a glob -> list of files."""
    if spec is None or spec == "":
        return [BUNDLED]
    if os.path.isdir(spec):
        files = []
        for root, dirs, names in os.walk(spec):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(TEXT_SUFFIXES)]
        if not files:
            raise UserError(
                f"directory {spec!r} has no text files (looked for {', '.join(TEXT_SUFFIXES[:4])}, ...); "
                "point --train_data at a file or a directory of .txt files"
            )
        return files
    if any(ch in spec for ch in "*?["):
        files = sorted(f for f in globlib.glob(spec, recursive=True) if os.path.isfile(f))
        if not files:
            raise UserError(f"no files match {spec!r}; check the pattern")
        return files
    if not os.path.exists(spec):
        raise UserError(f"training data {spec!r} does not exist; check the path")
    if not os.path.isfile(spec):
        raise UserError(f"training data {spec!r} is not a regular file; pass a text file, a directory or a glob")
    return [spec]


def read_text(paths: list[str], encoding: str = "utf-8", byte_mode: bool = False) -> str:
    """Concatenated text of the files; in byte mode the latin-1 view of their bytes."""
    return "".join(read_text_file(path, encoding, byte_mode) for path in paths)


# ---------------------------------------------------------------------------------------------
# text -> ids


def encode_text(text: str, mode: str = "chars") -> tuple[Vocabulary, np.ndarray]:
    """Vocabulary of ``text`` and its ids, vectorised (a 100 MB corpus takes seconds)."""
    codepoints = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (N,)
    if codepoints.size == 0:
        raise UserError("the corpus is empty; give a text file with content")
    counts = np.bincount(codepoints)  # code points top out at 0x10FFFF, so this stays small
    present = np.flatnonzero(counts)
    vocab = Vocabulary(tuple(chr(c) for c in present), mode=mode)
    table = np.zeros(counts.size, dtype=id_dtype(vocab.size))
    table[present] = np.arange(present.size)
    return vocab, table[codepoints]


def _cache_key(paths, encoding, byte_mode) -> str:
    h = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"{encoding}|{byte_mode}|v1".encode())
    return h.hexdigest()[:24]


def encode_files(paths, encoding="utf-8", byte_mode=False, use_cache=True) -> tuple[Vocabulary, np.ndarray]:
    """Encode files, reusing a cache of ids keyed by the files' paths, sizes and mtimes. The cache
    holds the files' own sorted vocabulary beside their ids, and only that: ids in a model's
    vocabulary (a fine-tuned or resumed run) are made from them afterwards (``in_vocabulary``)."""
    key = _cache_key(paths, encoding, byte_mode)
    ids_path = os.path.join(cache_dir(), key + ".ids.npy")
    vocab_path = os.path.join(cache_dir(), key + ".vocab.json")
    if use_cache and os.path.exists(ids_path) and os.path.exists(vocab_path):
        try:
            with open(vocab_path, encoding="utf-8") as f:
                vocab = Vocabulary.from_json(f.read())
            ids = np.load(ids_path, mmap_mode="r", allow_pickle=False)
            if ids.dtype == vocab.dtype:
                return vocab, ids
        except (OSError, ValueError, UserError):
            pass  # a damaged cache is rebuilt below
    text = read_text(paths, encoding=encoding, byte_mode=byte_mode)
    vocab, ids = encode_text(text, mode="bytes" if byte_mode else "chars")
    del text
    if use_cache:
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            tmp = ids_path + f".tmp{os.getpid()}.npy"
            np.save(tmp, ids, allow_pickle=False)
            os.replace(tmp, ids_path)
            atomic_write_bytes(vocab_path, vocab.to_json().encode("utf-8"))
        except OSError:
            pass  # caching is an optimisation; a read-only home must not stop training
    return vocab, ids


# ---------------------------------------------------------------------------------------------
# splits


@dataclass
class Corpus:
    vocab: Vocabulary
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    paths: list

    @property
    def num_chars(self) -> int:
        return len(self.train) + len(self.val) + len(self.test)


def in_vocabulary(corpus: Corpus, vocab: Vocabulary, drop_unknown: bool = False) -> tuple[Corpus, int]:
    """(``corpus`` with its ids in ``vocab``, characters dropped): ids matched by character, never by
    id (two vocabularies of one size may order their characters differently). Characters ``vocab``
    lacks are dropped from each split with ``drop_unknown``; otherwise they are a UserError."""
    if corpus.vocab == vocab:
        return corpus, 0
    if corpus.vocab.mode != vocab.mode:
        raise UserError(f"the text is read as {corpus.vocab.mode} but the model's vocabulary holds {vocab.mode}; "
                        f"{'add' if vocab.mode == 'bytes' else 'drop'} --byte_mode")
    table, known = corpus.vocab.id_map(vocab)
    if not drop_unknown and not known.all():
        unknown = [c for c, k in zip(corpus.vocab.chars, known) if not k]
        raise UserError(f"the text has {len(unknown)} character(s) the model never saw: {describe_chars(unknown)}")
    splits = [table[ids] if known.all() else table[ids][known[ids]] for ids in (corpus.train, corpus.val, corpus.test)]  # (N,) each
    dropped = corpus.num_chars - sum(len(s) for s in splits)
    return Corpus(vocab, *splits, paths=corpus.paths), dropped


def split_ids(ids: np.ndarray, val_frac: float, test_frac: float):
    """First (1 - val - test) for training, then validation, then test (nanoGPT's order)."""
    for name, frac in (("--val_frac", val_frac), ("--test_frac", test_frac)):
        if not 0.0 <= frac < 1.0:
            raise UserError(f"{name} must be in [0, 1), got {frac}")
    if val_frac + test_frac >= 1.0:
        raise UserError(f"--val_frac + --test_frac must leave text for training, got {val_frac + test_frac:.3f}")
    n = len(ids)
    n_test = int(round(n * test_frac))
    n_val = int(round(n * val_frac))
    n_train = n - n_val - n_test
    return ids[:n_train], ids[n_train : n_train + n_val], ids[n_train + n_val :]


def load_corpus(spec=None, val_frac=0.1, test_frac=0.0, encoding="utf-8", byte_mode=False, use_cache=True) -> Corpus:
    from tfcharrnn import tfds_source  # imports tensorflow_datasets only for a tfds: spec

    if tfds_source.is_tfds_spec(spec):  # tfds:NAME[:CONFIG][/FEATURE][@SPLITS]; TFDS caches the prepared data
        text, _ = tfds_source.load_tfds_text(spec)  # data dir: $TFDS_DATA_DIR or ~/tensorflow_datasets
        if byte_mode:
            text = text.encode("utf-8").decode("latin-1")
        vocab, ids = encode_text(text, mode="bytes" if byte_mode else "chars")
        train, val, test = split_ids(ids, val_frac, test_frac)
        return Corpus(vocab=vocab, train=train, val=val, test=test, paths=[spec])
    paths = resolve_paths(spec)
    vocab, ids = encode_files(paths, encoding=encoding, byte_mode=byte_mode, use_cache=use_cache)
    train, val, test = split_ids(ids, val_frac, test_frac)
    return Corpus(vocab=vocab, train=train, val=val, test=test, paths=paths)


# ---------------------------------------------------------------------------------------------
# batches


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)])


def window_starts(n: int, seq_length: int, stride: int, seed: int, epoch: int) -> np.ndarray:
    """Shuffled start positions of this epoch's windows of seq_length + 1 ids."""
    rng = epoch_rng(seed, epoch)
    offset = int(rng.integers(0, stride)) if stride > 1 else 0
    last_start = n - (seq_length + 1)
    if last_start < offset:
        offset = 0
    starts = np.arange(offset, last_start + 1, stride, dtype=np.int64)
    rng.shuffle(starts)
    return starts


def num_window_batches(n, seq_length, stride, batch_size, seed, epoch) -> int:
    return len(window_starts(n, seq_length, stride, seed, epoch)) // batch_size


def stream_layout(n: int, seq_length: int, batch_size: int, seed: int, epoch: int):
    """(row starts (B,), number of batches) of this epoch's contiguous-row layout."""
    rng = epoch_rng(seed, epoch)
    offset = int(rng.integers(0, seq_length)) if n - 1 >= batch_size * seq_length * 2 else 0
    row_len = (n - offset - 1) // batch_size
    num_batches = row_len // seq_length
    row_starts = offset + np.arange(batch_size, dtype=np.int64) * row_len
    return row_starts, num_batches


def check_trainable(n_train: int, seq_length: int, batch_size: int, layout: str, stride: int) -> None:
    if n_train < seq_length + 1:
        raise UserError(
            f"the training split has {n_train} characters, shorter than one window of seq_length + 1 = "
            f"{seq_length + 1}; use a longer file or a smaller --seq_length"
        )
    if layout == "stream":
        need = batch_size * seq_length + 1
        if n_train < need:
            raise UserError(
                f"the training split has {n_train} characters, fewer than batch_size x seq_length + 1 = {need} "
                "needed for one batch; lower --batch_size or --seq_length, or use --layout windows"
            )
    else:
        if (n_train - seq_length - 1) // stride + 1 < batch_size:
            raise UserError(
                f"the training split yields fewer than --batch_size={batch_size} windows; "
                "lower --batch_size, --seq_length or --stride, or use a longer file"
            )


def _as_tensor(ids: np.ndarray):
    import tensorflow as tf

    return tf.constant(np.ascontiguousarray(ids))


def window_dataset(ids, seq_length, batch_size, stride=None, seed=0, epoch=0, start_batch=0, ids_tensor=None, batches_per_element=1):
    """This epoch's shuffled windows, from batch ``start_batch`` on: (x, y), each (B, T) int32;
    with ``batches_per_element`` K > 1, (K, B, T) pairs of K consecutive batches (fewer in the last one)."""
    import tensorflow as tf

    stride = stride or seq_length
    starts = window_starts(len(ids), seq_length, stride, seed, epoch)
    nb = len(starts) // batch_size
    starts = starts[: nb * batch_size].reshape(nb, batch_size)[start_batch:]
    data = ids_tensor if ids_tensor is not None else _as_tensor(ids)
    offsets = tf.range(seq_length + 1, dtype=tf.int64)

    def gather(batch_starts):  # (B,) or (K, B)
        window = tf.cast(tf.gather(data, batch_starts[..., None] + offsets), tf.int32)  # (..., B, T+1)
        return window[..., :-1], window[..., 1:]

    return _prefetched(_stacked(tf.data.Dataset.from_tensor_slices(starts), batches_per_element).map(gather))


def stream_dataset(ids, seq_length, batch_size, seed=0, epoch=0, start_batch=0, ids_tensor=None, batches_per_element=1):
    """This epoch's contiguous-row batches in order, from ``start_batch`` on: (x, y), each (B, T);
    with ``batches_per_element`` K > 1, (K, B, T) pairs of K consecutive batches (fewer in the last one)."""
    import tensorflow as tf

    row_starts, nb = stream_layout(len(ids), seq_length, batch_size, seed, epoch)
    data = ids_tensor if ids_tensor is not None else _as_tensor(ids)
    rows = tf.constant(row_starts)
    offsets = tf.range(seq_length + 1, dtype=tf.int64)

    def gather(j):  # batch index () or (K,)
        index = rows[:, None] + j[..., None, None] * seq_length + offsets  # (..., B, T+1)
        window = tf.cast(tf.gather(data, index), tf.int32)
        return window[..., :-1], window[..., 1:]

    return _prefetched(_stacked(tf.data.Dataset.range(start_batch, nb), batches_per_element).map(gather))


def _stacked(ds, batches_per_element):
    """ds's elements K at a time, so that one gather (and one iterator call) serves K batches: a
    pull from a tf.data iterator costs a small model's step more than slicing K batches already in
    memory, most of all while training keeps every core busy (docs/performance.md has the figures)."""
    return ds.batch(batches_per_element) if batches_per_element > 1 else ds


def _prefetched(ds):
    """ds with two elements (batches or stacks of them) prefetched and tf.data's autotuner off. An element
    is one small gather, so parallel calls buy nothing, and the autotuner, competing with training
    for the cores, stalled the first batch of new epochs (docs/performance.md)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def describe(corpus: Corpus) -> str:
    return json.dumps(
        {"files": len(corpus.paths), "chars": corpus.num_chars, "vocab": corpus.vocab.size, "train": len(corpus.train), "val": len(corpus.val),
         "test": len(corpus.test)}
    )
