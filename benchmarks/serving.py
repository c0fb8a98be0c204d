"""The serving benchmark: the SavedModel's serving_default against per-character Python loops.

    python scripts/bench.py --only generate           # runs it per model size, in a worker
    from benchmarks.serving import bench_serving
    bench_serving(2, 128)      # prints one line and returns the figures as a dict

A random-weight model is exported with tfcharrnn.export.export_saved_model into a temporary
directory and loaded back from disk, as a server loads it. The per-character baseline is the
TensorFlow text-generation tutorial's OneStep (benchmarks.generate_peers.tutorial_one_step,
the same loop the generate section times).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np

from benchmarks.generate_peers import one_step_loop, tutorial_one_step


def step_loop_baseline(model):
    """A leaner per-character loop: ids in and out, tf.function(model.next + sampling.pick) per character."""
    import tensorflow as tf

    from tfcharrnn import sampling

    cfg = model.config

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, cfg.num_states, cfg.hidden_size], tf.float32),
                                  tf.TensorSpec([], tf.int32)])
    def step(ids, state, i):
        logits, state = model.next(ids, state)
        b = tf.shape(ids)[0]
        nxt = sampling.pick(logits, sampling.uniform(tf.zeros([b], tf.int64), i), tf.ones([b]), tf.zeros([b], tf.int32), tf.ones([b]))
        return nxt, state, i + 1

    def run(first_id: int, num_chars: int) -> np.ndarray:
        ids, state, i, out = tf.constant([first_id], tf.int32), model.initial_state(1), tf.constant(0), []
        for _ in range(num_chars):
            ids, state, i = step(ids, state, i)
            out.append(ids)
        return tf.concat(out, 0).numpy()

    return run


def session_runner(path: str, batch: int, num_chars: int):
    """serving_default through the TF1 session loader, the way TF Serving runs a SavedModel."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    sess = v1.Session(graph=graph)
    with graph.as_default():
        sig = v1.saved_model.loader.load(sess, ["serve"], path).signature_def["serving_default"]
    feeds = {sig.inputs["prompt"].name: [b"T"] * batch, sig.inputs["max_new_chars"].name: [num_chars] * batch,
             sig.inputs["temperature"].name: [1.0] * batch, sig.inputs["top_k"].name: [0] * batch,
             sig.inputs["top_p"].name: [1.0] * batch, sig.inputs["seed"].name: list(range(batch))}
    fetch = sig.outputs["text"].name
    return (lambda: sess.run(fetch, feeds)), sess


def _default_vocab():
    """Tiny Shakespeare's 65 characters (printable ASCII when the bundled text is absent)."""
    from tfcharrnn.data import BUNDLED
    from tfcharrnn.vocab import Vocabulary

    if os.path.exists(BUNDLED):
        with open(BUNDLED, encoding="utf-8") as f:
            return Vocabulary.from_text(f.read())
    return Vocabulary.from_text("".join(chr(c) for c in range(32, 97)))


def _candidates(model, vocab, path, num_chars, batch):
    """The timed callables by result key, and the TF1 session to close afterwards."""
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]

    def request(b, n):
        return dict(prompt=tf.constant(["T"] * b), max_new_chars=tf.fill([b], n), temperature=tf.fill([b], 1.0),
                    top_k=tf.zeros([b], tf.int32), top_p=tf.ones([b]), seed=tf.range(b, dtype=tf.int64))

    one_req, batch_req = request(1, num_chars), request(batch, num_chars)
    onestep = tutorial_one_step(model, vocab)
    steploop = step_loop_baseline(model)
    first = vocab.chars.index("T")
    session_run, sess = session_runner(path, 1, num_chars)  # last: the caller closes it only once it has it
    return {
        "serving_s": lambda: serve(**one_req)["text"].numpy(),
        "session_s": session_run,
        "onestep_s": lambda: one_step_loop(onestep, ["T"], num_chars),
        "step_loop_s": lambda: steploop(first, num_chars),
        "serving_batch_s": lambda: serve(**batch_req)["text"].numpy(),
    }, sess


def _round_robin(candidates, repeats):
    """Every candidate once to warm up (the first call instantiates and optimises each graph), then ``repeats`` rounds."""
    for fn in candidates.values():
        fn()
    times = {k: [] for k in candidates}
    for _ in range(repeats):
        for key, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return times


def _summary(times, description, vocab_size, num_chars, batch, repeats):
    t = {k: min(v) for k, v in times.items()}

    def paired(num, den):  # the ratio within each round (back-to-back runs share the machine's load)
        ratios = sorted(a / b for a, b in zip(times[num], times[den]))
        return {"median": ratios[len(ratios) // 2], "min": ratios[0], "max": ratios[-1]}

    return {
        "model": description, "vocab_size": vocab_size, "num_chars": num_chars, "batch": batch,
        "repeats": repeats, **t, "times": times,
        "speedup_vs_onestep": t["onestep_s"] / t["serving_s"],
        "speedup_vs_onestep_session": t["onestep_s"] / t["session_s"],
        "speedup_vs_step_loop": t["step_loop_s"] / t["serving_s"],
        "batch_cost": t["serving_batch_s"] / t["serving_s"],
        "paired_speedup_vs_onestep": paired("onestep_s", "serving_s"),
        "paired_speedup_vs_onestep_session": paired("onestep_s", "session_s"),
        "paired_batch_cost": paired("serving_batch_s", "serving_s"),
        "serving_us_per_char": 1e6 * t["serving_s"] / num_chars,
        "session_us_per_char": 1e6 * t["session_s"] / num_chars,
        "onestep_us_per_char": 1e6 * t["onestep_s"] / num_chars,
    }


def bench_serving(num_layers: int = 2, hidden_size: int = 128, num_chars: int = 2000, batch: int = 32,
                  repeats: int = 3, model_kind: str = "lstm", vocab=None, workdir: str | None = None, log=print) -> dict:
    """Time serving_default (loaded from disk, as a server does) against per-character Python loops.

    Random weights (speed does not depend on training); batch 1, ``num_chars`` characters, one
    prompt character, temperature 1. Candidates run round-robin, ``repeats`` times each after a
    warm-up, and each keeps its best time (the machines are shared and noisy):

      serving_s          serving_default via tf.saved_model.load (the TF2 function runtime)
      session_s          serving_default via the TF1 session loader (TF Serving's path)
      onestep_s          the TF text-generation tutorial's OneStep: one tf.function call per
                         character, strings in and out, the model called on a length-1 sequence
      step_loop_s        a leaner Python loop: tf.function(model.next + sampling.pick), ids only
      serving_batch_s    serving_default for ``batch`` prompts at once

    Ratios: speedup_vs_onestep = onestep_s / serving_s (and _session from session_s),
    speedup_vs_step_loop = step_loop_s / serving_s, batch_cost = serving_batch_s / serving_s
    (well under ``batch`` means batching pays).
    """
    import keras

    from tfcharrnn.config import ModelConfig
    from tfcharrnn.export import export_saved_model
    from tfcharrnn.model import CharRNN

    vocab = vocab if vocab is not None else _default_vocab()
    keras.utils.set_random_seed(0)
    model = CharRNN(ModelConfig(vocab_size=vocab.size, model=model_kind, hidden_size=hidden_size, num_layers=num_layers))
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="tfcharrnn-bench-")
    sess = None
    try:
        info = export_saved_model(model, vocab, "bench", base_dir=workdir, tflite=False, warmup=False)
        candidates, sess = _candidates(model, vocab, info["path"], num_chars, batch)
        times = _round_robin(candidates, repeats)
    finally:
        if sess is not None:
            sess.close()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    result = _summary(times, f"{num_layers}x{hidden_size} {model_kind}", vocab.size, num_chars, batch, repeats)
    t, ps = result, result["paired_speedup_vs_onestep"]
    log(f"{result['model']} (V={vocab.size}, {num_chars} chars, best of {repeats}): serving_default {t['serving_s']:.3f}s "
        f"({result['serving_us_per_char']:.0f} us/char), TF1 session {t['session_s']:.3f}s; OneStep loop {t['onestep_s']:.3f}s "
        f"-> {result['speedup_vs_onestep']:.1f}x (per round {ps['min']:.1f}-{ps['max']:.1f}x; "
        f"{result['speedup_vs_onestep_session']:.1f}x via session); step loop {t['step_loop_s']:.3f}s -> "
        f"{result['speedup_vs_step_loop']:.1f}x; batch {batch}: {t['serving_batch_s']:.3f}s = {result['batch_cost']:.1f}x one prompt")
    return result
