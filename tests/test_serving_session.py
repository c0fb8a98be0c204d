"""serving_default through TF Serving's own loader path: the TF1 session loader.

TF Serving loads a SavedModel with the C++ SavedModelBundle loader: a session over the serve meta
graph, the restore op run, then each request fed to the signature's input tensors by name and its
output tensors fetched (no tf.function, no eager). `tf.compat.v1.saved_model.loader.load` is that
path in Python. Every request here (sampled, greedy, top-k, top-p, empty prompt, a mixed batch,
zero-length rows, and every kind of refused value) runs through the session and through
`tf.saved_model.load` (the TF2 loader the other export tests use), and both must give the same
texts and ids (and the in-package sampler's texts), or the same refusal.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

DTYPES = {"prompt": tf.string, "max_new_chars": tf.int32, "temperature": tf.float32, "top_k": tf.int32, "top_p": tf.float32, "seed": tf.int64}


def request(prompts, n=20, temperature=1.0, top_k=0, top_p=1.0, seeds=None):
    """One serving_default request: every setting a value for all rows or a list (one per row)."""
    b = len(prompts)

    def rows(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * b

    return dict(prompt=list(prompts), max_new_chars=rows(n), temperature=rows(temperature), top_k=rows(top_k), top_p=rows(top_p),
                seed=list(seeds) if seeds is not None else list(range(b)))


GOOD = {  # name: request
    "sampled": request(["ROMEO:", "ROMEO:"], 30, 1.0, seeds=[4, 5]),
    "temperature 0.7": request(["First Citizen"], 30, 0.7, seeds=[11]),
    "greedy": request(["ROMEO:", "the "], 30, 0.0, seeds=[1, 999]),
    "top-k": request(["K", "K"], 25, 0.9, top_k=5, seeds=[42, 43]),
    "top-p": request(["the ", "the "], 25, 1.2, top_p=0.8, seeds=[3, 4]),
    "empty prompt": request(["", ""], 20, 1.0, seeds=[7, 8]),
    "mixed batch": request(["ROMEO:", "", "A", "First Citizen:\nBefore we proceed", "ROMEO:"], [30, 12, 0, 25, 30],
                           [1.0, 0.8, 1.0, 0.0, 1.2], [0, 3, 0, 0, 5], [1.0, 0.9, 1.0, 1.0, 0.7], seeds=[1, 2, 3, 4, 5]),
    "zero length": request(["ROMEO:", ""], 0, seeds=[1, 2]),
}

BAD = {  # name: (request, what the refusal says)
    "unknown characters": (request(["ROMEO\u2603\u4e2d"]), "characters the model never saw:] [\u2603 \u4e2d]"),
    "invalid UTF-8": (dict(request(["x"]), prompt=[b"\xffROMEO"]), "not valid UTF-8"),
    "temperature -0.5": (request(["ROMEO:"], temperature=-0.5), "temperature must be a finite number >= 0"),
    "temperature nan": (request(["ROMEO:"], temperature=float("nan")), "temperature must be a finite number >= 0"),
    "max_new_chars over the cap": (request(["ROMEO:"], n=10_001), "max_new_chars must be between 0 and 10000"),
    "max_new_chars -1": (request(["ROMEO:"], n=-1), "max_new_chars must be between 0 and 10000"),
    "top_k -2": (request(["ROMEO:"], top_k=-2), "top_k must be >= 0"),
    "top_p 0": (request(["ROMEO:"], top_p=0.0), "top_p must be in (0, 1]"),
    "top_p 1.5": (request(["ROMEO:"], top_p=1.5), "top_p must be in (0, 1]"),
    "one row refused in a batch": (request(["ROMEO:", "ROMEO:"], temperature=[1.0, -1.0]), "temperature must be a finite number >= 0"),
}


class SessionLoader:
    """TF Serving's way: tf.compat.v1 session, loader.load (restore op), signature tensors by name."""

    def __init__(self, path):
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.session = v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta = v1.saved_model.loader.load(self.session, [tf.saved_model.SERVING], path)
        self.signature = self.meta.signature_def["serving_default"]

    def __call__(self, values):
        g = self.signature
        feeds = {g.inputs[k].name: np.asarray([p.encode("utf-8") if isinstance(p, str) else p for p in v], dtype=object)
                 if k == "prompt" else np.asarray(v, DTYPES[k].as_numpy_dtype) for k, v in values.items()}
        out = self.session.run({k: g.outputs[k].name for k in ("text", "ids")}, feed_dict=feeds)
        return [t.decode("utf-8") for t in out["text"]], out["ids"]


class FunctionLoader:
    """The TF2 loader: tf.saved_model.load and the signature as a concrete function."""

    def __init__(self, path):
        self.signature = tf.saved_model.load(path).signatures["serving_default"]

    def __call__(self, values):
        out = self.signature(**{k: tf.constant(v, DTYPES[k]) for k, v in values.items()})
        return [t.decode("utf-8") for t in out["text"].numpy()], out["ids"].numpy()


@pytest.fixture(scope="module")
def loaders(tiny_saved_model):
    return {"session (TF Serving's loader)": SessionLoader(tiny_saved_model["path"]), "tf.saved_model.load": FunctionLoader(tiny_saved_model["path"])}


@pytest.fixture(scope="module")
def generator(tiny_checkpoint):
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.sampling import Generator

    ckpt = load_checkpoint(tiny_checkpoint, with_optimizer=False)
    return Generator(ckpt.model, ckpt.vocab)


def refusal(loader, values) -> str:
    """The message of the INVALID_ARGUMENT a refused request raises (fails the test if it is not refused)."""
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        loader(values)
    return e.value.message


@pytest.mark.parametrize("name", list(GOOD))
def test_same_text_through_the_session_as_through_tf2_and_the_sampler(loaders, generator, name):
    values = GOOD[name]
    (session_texts, session_ids), (function_texts, function_ids) = (load(values) for load in loaders.values())
    assert session_texts == function_texts
    np.testing.assert_array_equal(session_ids, function_ids)
    want = [generator.sample_text(p, n, seed=s, temperature=t, top_k=k, top_p=q)[0]
            for p, n, t, k, q, s in zip(*(values[key] for key in ("prompt", "max_new_chars", "temperature", "top_k", "top_p", "seed")))]
    assert session_texts == want
    assert [len(t) for t in session_texts] == values["max_new_chars"]
    assert session_ids.shape == (len(values["prompt"]), max(values["max_new_chars"]))


@pytest.mark.parametrize("name", list(BAD))
def test_same_refusal_through_the_session_as_through_tf2(loaders, name):
    values, message = BAD[name]
    messages = {loader_name: refusal(load, values) for loader_name, load in loaders.items()}
    for loader_name, got in messages.items():
        assert message in got, (loader_name, got)
    session = loaders["session (TF Serving's loader)"]
    assert len(session(request(["ROMEO:"], 5))[0][0]) == 5  # and the session keeps serving


def test_generate_with_stop_strings_through_the_session(loaders, generator):
    """The `generate` signature (serving_default + a stop string per row) through the session: the same texts, ends and
    counts as the sampler; a bad stop string is refused with the same message as through TF2."""
    from helpers.stops import apply_stops

    values = request(["ROMEO:", "", "the "], 40, [1.0, 0.9, 0.0], seeds=[4, 5, 6])
    full = loaders["session (TF Serving's loader)"](values)[0]
    stops = [full[0][15:17], full[1][5:8], ""]
    session = loaders["session (TF Serving's loader)"]
    sig = session.meta.signature_def["generate"]
    feeds = {sig.inputs[k].name: np.asarray([p.encode("utf-8") for p in v], dtype=object) if k in ("prompt", "stop")
             else np.asarray(v, DTYPES[k].as_numpy_dtype) for k, v in {**values, "stop": stops}.items()}
    out = session.session.run({k: sig.outputs[k].name for k in ("text", "finish_reason", "new_chars")}, feed_dict=feeds)
    got = [(t.decode("utf-8"), r.decode(), int(n)) for t, r, n in zip(out["text"], out["finish_reason"], out["new_chars"])]
    assert got == [apply_stops(t, [s]) for t, s in zip(full, stops)] and [r for _, r, _ in got] == ["stop", "stop", "length"]
    assert got == [tuple(generator.sample(p, 40, seed=s, temperature=t, stop=[stop])[0])
                   for p, t, s, stop in zip(values["prompt"], values["temperature"], values["seed"], stops)]
    feeds[sig.inputs["stop"].name] = np.asarray([b"e" * 65, b"", b""], dtype=object)
    with pytest.raises(tf.errors.InvalidArgumentError, match="stop must be at most 64 characters"):
        session.session.run(sig.outputs["text"].name, feed_dict=feeds)
