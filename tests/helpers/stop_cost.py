"""What an early stop string saves a SavedModel request: `generate` stopping early against running to full length.

    python tests/helpers/stop_cost.py saved_models/NAME/1 [--max_new_chars 2000] [--stop_after 100] [--batch 1] [--repeats 5]

    from helpers.stop_cost import stop_cost
    result = stop_cost("saved_models/NAME/1", max_new_chars=2000, stop_after=100)

The SavedModel is loaded with tf.saved_model.load (as tfcharrnn's serving benchmark times
serving_default). Each row's stop string is taken from that row's own text (the same request with
no stop string, at --stop_after characters), so it fires there or earlier. Then, round-robin and
best of --repeats (the first round warms up), three requests of the same prompts, seeds and
settings are timed:

    full_s              `generate`, stop "" for every row: runs to max_new_chars
    stop_s              `generate`, each row's stop string: the loop ends when every row has stopped
    serving_default_s   the same request through serving_default (no stop input)

Prints one JSON line (stop_cost's result): the seconds, the characters generated per row by each,
and the ratio full_s / stop_s. A timing: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import time


def _request(tf, batch, max_new_chars, seed, prompt="ROMEO:", temperature=1.0):
    return dict(prompt=tf.constant([prompt] * batch), max_new_chars=tf.fill([batch], max_new_chars),
                temperature=tf.fill([batch], temperature), top_k=tf.zeros([batch], tf.int32), top_p=tf.ones([batch]),
                seed=tf.range(seed, seed + batch, dtype=tf.int64))


def stop_cost(path: str, max_new_chars: int = 2000, stop_after: int = 100, batch: int = 1, repeats: int = 5, seed: int = 0) -> dict:
    """The timings above for the SavedModel version directory ``path``; see the module docstring."""
    import tensorflow as tf

    sigs = tf.saved_model.load(path).signatures
    generate, default = sigs["generate"], sigs["serving_default"]
    request = _request(tf, batch, max_new_chars, seed)
    texts = [t.decode("utf-8") for t in default(**request)["text"].numpy()]
    stops = [t[stop_after:stop_after + 3] for t in texts]
    calls = {
        "full_s": lambda: generate(**request, stop=tf.constant([""] * batch)),
        "stop_s": lambda: generate(**request, stop=tf.constant(stops)),
        "serving_default_s": lambda: default(**request),
    }
    new_chars = {k: fn()["new_chars"].numpy().tolist() for k, fn in calls.items() if k != "serving_default_s"}  # and a warm-up
    calls["serving_default_s"]()
    times = {k: [] for k in calls}
    for _ in range(repeats):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            fn()["text"].numpy()
            times[key].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    return {"path": path, "max_new_chars": max_new_chars, "stop_after": stop_after, "batch": batch, "repeats": repeats,
            "stops": stops, "new_chars": new_chars, **best, "times": times, "full_over_stop": best["full_s"] / best["stop_s"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", help="a SavedModel version directory written by scripts/export.py (saved_models/NAME/VERSION)")
    p.add_argument("--max_new_chars", type=int, default=2000)
    p.add_argument("--stop_after", type=int, default=100, help="where each row's stop string is taken from its own text")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    print(json.dumps(stop_cost(args.path, args.max_new_chars, args.stop_after, args.batch, args.repeats)))


if __name__ == "__main__":
    main()
