"""Data pipeline: windows, strides and target shift against a naive reference; stream layout; splits; bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfcharrnn import data
from tfcharrnn.scoring import score_layout
from tfcharrnn.errors import UserError


def naive_windows(ids, starts, seq_length):
    xs = [ids[s : s + seq_length] for s in starts]
    ys = [ids[s + 1 : s + seq_length + 1] for s in starts]
    return np.array(xs), np.array(ys)


@pytest.mark.parametrize("stride", [1, 7, 16, 25])
def test_windows_match_naive_reference(stride):
    ids = np.arange(1000, dtype=np.uint16) % 251
    T, B = 16, 4
    starts = data.window_starts(len(ids), T, stride, seed=3, epoch=2)
    assert len(set(np.diff(np.sort(starts)))) <= 1 and (len(starts) < 2 or np.diff(np.sort(starts))[0] == stride)
    assert starts.max() + T + 1 <= len(ids)
    ds = data.window_dataset(ids, T, B, stride=stride, seed=3, epoch=2)
    got = [(x.numpy(), y.numpy()) for x, y in ds]
    assert len(got) == len(starts) // B
    for j, (x, y) in enumerate(got):
        ex, ey = naive_windows(ids.astype(np.int32), starts[j * B : (j + 1) * B], T)
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one


def test_windows_random_offset_and_order_change_per_epoch_but_not_per_seed():
    a = data.window_starts(10_000, 50, 50, seed=1, epoch=0)
    b = data.window_starts(10_000, 50, 50, seed=1, epoch=1)
    c = data.window_starts(10_000, 50, 50, seed=1, epoch=0)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_stream_rows_are_contiguous_across_batches():
    ids = np.arange(5000, dtype=np.int64)
    T, B = 10, 4
    row_starts, nb = data.stream_layout(len(ids), T, B, seed=0, epoch=1)
    batches = [(x.numpy(), y.numpy()) for x, y in data.stream_dataset(ids, T, B, seed=0, epoch=1)]
    assert len(batches) == nb
    for j in range(1, nb):  # row b of batch j continues row b of batch j - 1
        np.testing.assert_array_equal(batches[j][0][:, 0], batches[j - 1][0][:, -1] + 1)
    np.testing.assert_array_equal(batches[0][0][:, 0], row_starts)
    np.testing.assert_array_equal(batches[0][1], batches[0][0] + 1)


def test_resume_position_skips_batches():
    ids = np.arange(5000, dtype=np.int64) % 97
    full = [x.numpy() for x, _ in data.stream_dataset(ids, 10, 4, seed=5, epoch=0)]
    tail = [x.numpy() for x, _ in data.stream_dataset(ids, 10, 4, seed=5, epoch=0, start_batch=3)]
    np.testing.assert_array_equal(np.array(full[3:]), np.array(tail))
    wfull = [x.numpy() for x, _ in data.window_dataset(ids, 10, 4, 5, seed=5, epoch=0)]
    wtail = [x.numpy() for x, _ in data.window_dataset(ids, 10, 4, 5, seed=5, epoch=0, start_batch=2)]
    np.testing.assert_array_equal(np.array(wfull[2:]), np.array(wtail))


@pytest.mark.parametrize("layout", ["stream", "windows"])
@pytest.mark.parametrize("start_batch", [0, 3])
def test_elements_of_several_batches_hold_the_same_batches_in_order(layout, start_batch):
    """batches_per_element=K: (K, B, T) elements, the last one short, that are the per-batch elements stacked."""
    ids = np.arange(5000, dtype=np.uint16) % 97
    make = (lambda **kw: data.stream_dataset(ids, 10, 4, seed=5, epoch=1, start_batch=start_batch, **kw)) if layout == "stream" \
        else (lambda **kw: data.window_dataset(ids, 10, 4, 7, seed=5, epoch=1, start_batch=start_batch, **kw))
    single = [(x.numpy(), y.numpy()) for x, y in make()]
    chunks = [(x.numpy(), y.numpy()) for x, y in make(batches_per_element=5)]
    n = len(single)
    assert n > 5 and [len(x) for x, _ in chunks] == [5] * (n // 5) + ([n % 5] if n % 5 else [])
    assert chunks[0][0].shape[1:] == (4, 10) and chunks[0][0].dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([x for x, _ in chunks]), np.array([x for x, _ in single]))
    np.testing.assert_array_equal(np.concatenate([y for _, y in chunks]), np.array([y for _, y in single]))


def test_split_last_ten_percent_is_validation():
    ids = np.arange(1000)
    train, val, test = data.split_ids(ids, 0.1, 0.0)
    assert len(train) == 900 and val[0] == 900 and len(test) == 0
    train, val, test = data.split_ids(ids, 0.1, 0.05)
    assert (len(train), len(val), len(test)) == (850, 100, 50)
    for bad in [(-0.1, 0), (1.0, 0), (0.5, 0.5), (0.1, 1.2)]:
        with pytest.raises(UserError):
            data.split_ids(ids, *bad)


def test_score_layout_covers_every_prediction_once():
    """Rows are contiguous segments; together they predict every character after the first, once."""
    ids = np.arange(2001)
    x, y, w = score_layout(ids, rows=4)
    assert x.shape == (4, 500) and w.all()
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.sort(y.reshape(-1)), np.arange(1, 2001))
    x, y, w = score_layout(np.arange(11), rows=4)  # 10 predictions in rows of 3: the last row padded
    assert x.shape == (4, 3) and w.sum() == 10 and w[-1].tolist() == [1, 0, 0]
    np.testing.assert_array_equal(np.sort(y[w > 0]), np.arange(1, 11))
    assert score_layout(np.arange(3), rows=64)[0].shape == (2, 1)  # never more rows than predictions


def test_load_corpus_directory_and_glob(tmp_path):
    (tmp_path / "a.txt").write_text("hello ")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("world")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    c = data.load_corpus(str(tmp_path), val_frac=0.0, use_cache=False)
    assert c.vocab.decode(c.train) == "hello world"
    c = data.load_corpus(str(tmp_path / "*.txt"), val_frac=0.0, use_cache=False)
    assert c.vocab.decode(c.train) == "hello "


def test_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    """The second run reads the cached ids, not the text: spied, the source file is read once; a
    changed file is read again."""
    monkeypatch.setenv("TFCHARRNN_CACHE", str(tmp_path / "cache"))
    reads = []
    real_read_text = data.read_text
    monkeypatch.setattr(data, "read_text", lambda paths, *a, **k: reads.append(list(paths)) or real_read_text(paths, *a, **k))
    f = tmp_path / "t.txt"
    f.write_text("abcabc")
    v1, ids1 = data.encode_files([str(f)])
    assert reads == [[str(f)]]
    v2, ids2 = data.encode_files([str(f)])
    assert reads == [[str(f)]]  # not read again: the ids came from the cache
    assert isinstance(ids2, np.memmap)  # memory-mapped from the cached .npy
    assert v1 == v2 and np.array_equal(ids1, ids2)
    assert len(list((tmp_path / "cache").glob("*.ids.npy"))) == 1
    f.write_text("xyzxyzq")
    v3, _ = data.encode_files([str(f)])
    assert len(reads) == 2  # size and modification time changed: read again
    assert v3.chars == ("q", "x", "y", "z")


def test_a_pickled_cache_file_is_never_unpickled(tmp_path, monkeypatch):
    """The cached ids replaced by a pickled object whose loading creates a marker file: the next load
    runs nothing, ignores the file as damaged and rebuilds the ids from the text (a cache is an
    optimisation, so a bad one costs a re-read, not the run)."""
    from helpers.pickles import hostile_array

    monkeypatch.setenv("TFCHARRNN_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "executed"
    f = tmp_path / "text.txt"
    f.write_text("to be or not to be, that is the question\n" * 40)
    first = data.load_corpus(str(f), val_frac=0.0)
    [ids_path] = (tmp_path / "cache").glob("*.ids.npy")
    np.save(ids_path, hostile_array(marker), allow_pickle=True)
    again = data.load_corpus(str(f), val_frac=0.0)
    assert not marker.exists()
    np.testing.assert_array_equal(again.train, first.train)
    assert np.load(ids_path, allow_pickle=False).dtype == first.train.dtype  # rewritten with plain ids
    np.save(ids_path, hostile_array(marker), allow_pickle=True)
    np.load(ids_path, allow_pickle=True)  # the payload is live: a loader that unpickles runs it
    assert marker.exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: str(p / "missing.txt"), "does not exist"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no text files"),
        (lambda p: (p / "e.txt").write_text("") or str(p / "e.txt"), "empty"),
        (lambda p: (p / "b.txt").write_bytes(b"ok\xff\xfe\x00bad") and str(p / "b.txt"), "--byte_mode"),
        (lambda p: str(p / "*.nomatch"), "no files match"),
    ],
)
def test_bad_paths_are_clear_errors(tmp_path, setup, message):
    with pytest.raises(UserError, match=message):
        data.load_corpus(setup(tmp_path), use_cache=False)


def test_byte_mode_reads_any_file(tmp_path):
    f = tmp_path / "b.bin"
    f.write_bytes(bytes(range(256)) * 3)
    c = data.load_corpus(str(f), val_frac=0.0, byte_mode=True, use_cache=False)
    assert c.vocab.size == 256 and c.vocab.mode == "bytes"


def test_too_short_corpus_is_a_clear_error():
    with pytest.raises(UserError, match="shorter than one window"):
        data.check_trainable(50, 100, 4, "windows", 100)
    with pytest.raises(UserError, match="--batch_size"):
        data.check_trainable(500, 100, 64, "stream", 100)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 400), seq=st.integers(1, 40), stride=st.integers(1, 50), seed=st.integers(0, 2**31), epoch=st.integers(0, 5))
def test_window_starts_properties(n, seq, stride, seed, epoch):
    starts = data.window_starts(n, seq, stride, seed, epoch)
    assert np.all(starts >= 0) and np.all(starts + seq + 1 <= n)
    assert len(np.unique(starts)) == len(starts)
    if len(starts) > 1:
        assert set(np.diff(np.sort(starts))) == {stride}
