"""The LiteRT benchmark: what quantization costs in loss, and the reference sampler's speed.

    python scripts/bench.py --only generate           # the LiteRT row, per model size
    from benchmarks.litert import bench_tflite, quantization_report
    bench_tflite("out/shakespeare.tflite", num_chars=1000)          # {"tflite_chars_per_s", ...}
    bench_tflite(model, vocab, num_chars=1000)                       # also times the Keras Generator
    quantization_report(model, vocab, val_text)   # sizes and nats/char: Keras, float32, dynamic int8

The sampler timed is tfcharrnn.litert_sampler (the loop an app ports), one interpreter thread,
one Python call per character.
"""

from __future__ import annotations

import os
import time

import numpy as np

from tfcharrnn.litert_sampler import LiteRTModel, generate_ids
from tfcharrnn.scoring import score_layout
from tfcharrnn.tflite_export import normalise_quantize, check_tflite, convert


def bench_sampler(path_or_model, num_chars: int = 500, repeats: int = 3, prompt: str = "", seed: int = 0, temperature: float = 1.0,
                  num_threads: int | None = 1) -> dict:
    """Characters per second of the reference sampler at batch 1 (best of ``repeats``)."""
    model = path_or_model if isinstance(path_or_model, LiteRTModel) else LiteRTModel(path_or_model, num_threads=num_threads)
    ids = model.vocab.encode_prompt(prompt) if prompt else np.zeros(0, np.int32)
    generate_ids(model, ids, min(num_chars, 20), [seed], temperature)  # warm-up: allocation, delegate
    times = []
    for r in range(max(1, repeats)):
        t0 = time.perf_counter()
        generate_ids(model, ids, num_chars, [seed + r], temperature)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"chars_per_s": num_chars / best, "seconds": best, "num_chars": num_chars, "repeats": len(times), "times": times,
            "num_threads": num_threads}


def keras_mean_loss(model, ids, streams: int = 8) -> float:
    """Mean nats/char of ids through the Keras model, in LiteRTModel.mean_loss's layout (tfcharrnn.scoring)."""
    import tensorflow as tf

    x, y, w = score_layout(ids, streams)
    logits, _ = model(tf.constant(x), training=False)  # (R, L, V)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(y), logits=tf.cast(logits, tf.float32))
    return float(tf.reduce_sum(tf.cast(nll, tf.float64) * w) / w.sum())


def quantization_report(model, vocab, text, streams: int = 8, max_chars: int = 20000, modes=("none", "dynamic")) -> dict:
    """Sizes and mean nats/char on ``text`` (a validation text, or its ids) for Keras and each TFLite mode.

    Returns {"keras_loss": ..., "chars": N, "none": {"size_bytes", "loss", "loss_cost"}, "dynamic": {...}}
    where loss_cost is the TFLite loss minus the Keras loss (nats/char). Cost: one conversion per
    mode and N / streams interpreter calls per mode (16,000 chars, 16 streams: a few seconds).
    """
    ids = vocab.encode(text[:max_chars]) if isinstance(text, str) else np.asarray(text, np.int32).reshape(-1)[:max_chars]
    report = {"chars": int(len(ids)), "streams": streams, "keras_loss": keras_mean_loss(model, ids, streams)}
    for mode in modes:
        content = convert(model, vocab, mode)
        check_tflite(content, model, vocab, mode)
        loss = LiteRTModel(model_content=content).mean_loss(ids, streams)
        report[normalise_quantize(mode)] = {"size_bytes": len(content), "loss": loss, "loss_cost": loss - report["keras_loss"]}
    return report


def _keras_chars_per_s(model, vocab, num_chars, repeats, temperature):
    """The in-process TF sampler (tfcharrnn.sampling.Generator, the loop the SavedModel serves), best of ``repeats``."""
    from tfcharrnn.sampling import Generator

    gen = Generator(model, vocab)
    gen.sample_text("", min(num_chars, 20), seed=0, temperature=temperature)  # trace once
    times = []
    for r in range(max(1, repeats)):
        t0 = time.perf_counter()
        gen.sample_text("", num_chars, seed=r, temperature=temperature)
        times.append(time.perf_counter() - t0)
    return num_chars / min(times)


def bench_tflite(model_or_path, vocab=None, num_chars: int = 500, repeats: int = 3, quantize=None, temperature: float = 1.0,
                 num_threads: int = 1, compare_keras: bool = True) -> dict:
    """Characters per second of the reference sampler at batch 1.

    model_or_path: a .tflite path, or a Keras CharRNN (with ``vocab``) that is converted in
    memory first. With a Keras model and compare_keras, the in-process TF sampler
    (tfcharrnn.sampling.Generator, the loop the SavedModel serves) is timed back to back on
    the same text length: {"tflite_chars_per_s", "keras_chars_per_s", "ratio", "size_bytes", ...}.
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        result = bench_sampler(os.fspath(model_or_path), num_chars, repeats, temperature=temperature, num_threads=num_threads)
        return {"tflite_chars_per_s": result["chars_per_s"], "size_bytes": os.path.getsize(model_or_path), "tflite": result}
    if vocab is None:
        raise ValueError("bench_tflite(model, vocab): a Keras model needs its vocabulary")
    content = convert(model_or_path, vocab, quantize)
    lite = LiteRTModel(model_content=content, num_threads=num_threads)
    result = {"tflite_chars_per_s": bench_sampler(lite, num_chars, repeats, temperature=temperature)["chars_per_s"], "size_bytes": len(content),
              "quantize": normalise_quantize(quantize), "num_chars": num_chars, "num_threads": num_threads}
    if compare_keras:
        result["keras_chars_per_s"] = _keras_chars_per_s(model_or_path, vocab, num_chars, repeats, temperature)
        result["ratio"] = result["tflite_chars_per_s"] / result["keras_chars_per_s"]
    return result


# (label, quantize, interpreter threads, XNNPACK delegate): what an app can set
SETTINGS = (("float32, 1 thread", None, 1, True), ("float32, 2 threads", None, 2, True), ("float32, 1 thread, XNNPACK off", None, 1, False),
            ("float16 weights, 1 thread", "float16", 1, True), ("int8 weights (dynamic), 1 thread", "dynamic", 1, True))


def bench_settings(model, vocab, num_chars: int = 500, repeats: int = 3, settings=SETTINGS) -> dict:
    """The reference sampler's chars/s at batch 1 under each setting an app chooses (weights'
    quantization, interpreter threads, the XNNPACK delegate); rounds interleave the settings,
    each keeps its best. -> {label: {"chars_per_s", "size_bytes", "rounds"}}."""
    contents = {q: convert(model, vocab, q) for q in {s[1] for s in settings}}
    models = {label: LiteRTModel(model_content=contents[q], num_threads=t, xnnpack=x) for label, q, t, x in settings}
    rounds = {label: [] for label in models}
    for r in range(max(1, repeats)):
        for label, lite in models.items():
            rounds[label].append(bench_sampler(lite, num_chars, repeats=1, seed=r)["chars_per_s"])
    return {label: {"chars_per_s": max(rounds[label]), "size_bytes": len(contents[q]), "rounds": rounds[label]}
            for label, q, _, _ in settings}


def run_quantization(args, results, notes, log):
    """The quantization section of scripts/bench.py: for each trained checkpoint of --checkpoints,
    the .tflite sizes and the validation loss of float32, float16 and int8 weights against Keras,
    on the checkpoint's own validation split (its training flags name the corpus)."""
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.data import load_corpus

    if not args.checkpoints:
        raise ValueError("--only quantization needs --checkpoints (trained run directories or checkpoints, comma separated)")
    out = {}
    for path in [p for p in args.checkpoints.split(",") if p]:
        ckpt = load_checkpoint(path, with_optimizer=False)
        flags = ckpt.train_state.get("train_config", {})
        corpus = load_corpus(flags.get("train_data"), flags.get("val_frac", 0.1), flags.get("test_frac", 0.0),
                             flags.get("encoding", "utf-8"), flags.get("byte_mode", False))
        chars = 4_000 if args.quick else 20_000
        report = quantization_report(ckpt.model, ckpt.vocab, corpus.val[:chars], streams=16, max_chars=chars, modes=("none", "float16", "dynamic"))
        c = ckpt.config
        out[ckpt.path] = {"model": f"{c.num_layers}x{c.hidden_size} {c.model}", "params": ckpt.model.count_params(),
                          "vocab_size": c.vocab_size, "step": ckpt.train_state.get("step"), "val_loss": ckpt.train_state.get("val_loss"), **report}
        sizes = (f"{m} {report[m]['size_bytes']:,} B {report[m]['loss_cost']:+.5f}" for m in ("none", "float16", "dynamic"))
        log(f"quantization {ckpt.path}: " + ", ".join(sizes))
    results["quantization"] = out
