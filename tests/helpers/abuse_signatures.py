"""Abuse an exported serving_default and generate, called directly, in a fresh process that never imports tfcharrnn.

    python abuse_signatures.py SAVED_MODEL_VERSION_DIR SECONDS
Prints one JSON line: every case's outcome, the concurrent phase's counts, and resident memory.

This is not a server and not TF Serving: the SavedModel is loaded with tf.saved_model.load and its
serving_default and generate signatures are called as functions, from 8 Python threads of this one process. No
HTTP or gRPC, no request parsing, queueing, batching or REST deadline is involved; what it shows
is that the graph itself refuses bad values with INVALID_ARGUMENT, keeps answering good ones while
others fail around it, and does not grow in memory per call.
"""

import json
import sys
import threading
import time

import tensorflow as tf

assert "tfcharrnn" not in sys.modules
path, seconds = sys.argv[1], float(sys.argv[2])
signatures = tf.saved_model.load(path).signatures
serving_default, generate = signatures["serving_default"], signatures["generate"]


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def call(prompts, n=20, temperature=1.0, top_k=0, top_p=1.0, seed=0, stop=None):
    """serving_default, or generate when stop (one string for every row) is given."""
    b = len(prompts)
    request = dict(prompt=tf.constant(prompts), max_new_chars=tf.fill([b], n), temperature=tf.fill([b], float(temperature)),
                   top_k=tf.fill([b], top_k), top_p=tf.fill([b], float(top_p)), seed=tf.fill([b], tf.constant(seed, tf.int64)))
    if stop is None:
        return serving_default(**request)
    return generate(**request, stop=tf.constant([stop] * b))


def outcome(*args, **kwargs):
    try:
        out = call(*args, **kwargs)
        texts = [t.decode("utf-8") for t in out["text"].numpy()]
        return {"ok": True, "rows": len(texts), "chars": [len(t) for t in texts][:3],
                "finish_reason": [r.decode() for r in out["finish_reason"].numpy()][:3] if "finish_reason" in out else None}
    except tf.errors.InvalidArgumentError as e:
        # TF prefixes "Graph execution error:" and node context; keep the lines that say what was wrong
        lines = [line.strip() for line in e.message.splitlines() if line.strip()]
        telling = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node", "[[", "File ", "Stack trace"))]
        return {"ok": False, "error": "InvalidArgument", "message": " | ".join(telling)[:600]}


cases = {
    "empty prompt": ([""],),
    "10,000-character prompt": (["ROMEO: " * 1428 + "ROMEO:"],),
    "unknown characters": (["Zebra \u6708\U0001F600"],),
    "temperature 1e-6": (["the "], 20, 1e-6),
    "temperature 1e6": (["the "], 20, 1e6),
    "temperature 0 (greedy)": (["the "], 20, 0.0),
    "temperature -1": (["the "], 20, -1.0),
    "temperature nan": (["the "], 20, float("nan")),
    "max_new_chars -5": (["the "], -5),
    "max_new_chars 10,000 (the cap)": (["the "], 10_000),
    "max_new_chars 1e9 (over the cap)": (["the "], 1_000_000_000),
    "top_k -3": (["the "], 20, 1.0, -3),
    "top_k 1e6": (["the "], 20, 1.0, 1_000_000),
    "top_p 0": (["the "], 20, 1.0, 0, 0.0),
    "top_p 7": (["the "], 20, 1.0, 0, 7.0),
    "batch of 256": (["KING " * (i % 7) for i in range(256)], 50),
    "stop: empty (none)": (["the "], 20, 1.0, 0, 1.0, 0, ""),
    "stop: 64 characters (the cap)": (["the "], 20, 1.0, 0, 1.0, 0, "e" * 64),
    "stop: batch of 256": (["KING " * (i % 7) for i in range(256)], 300, 1.0, 0, 1.0, 0, "\n"),
    "stop: 65 characters": (["the "], 20, 1.0, 0, 1.0, 0, "e" * 65),
    "stop: unknown characters": (["the "], 20, 1.0, 0, 1.0, 0, "\u6708"),
    "stop: 10,000 characters": (["the "], 20, 1.0, 0, 1.0, 0, "e" * 10_000),
}
results = {name: outcome(*args) for name, args in cases.items()}
before = rss_mb()

counts = {"ok": 0, "invalid": 0, "other": 0}
errors = []
lock = threading.Lock()
stop_at = time.time() + seconds


def worker(k):
    i = 0
    while time.time() < stop_at:
        i += 1
        bad = i % 3 == 0
        try:
            call(["ROMEO:" if not bad else "\u6708", "the"], 30, 0.8, 5, 0.9, seed=k * 1000 + i, stop="\n" if i % 2 else None)
            kind = "ok"
        except tf.errors.InvalidArgumentError:
            kind = "invalid"
        except Exception as e:  # anything else is a failure of the test
            kind = "other"
            with lock:
                errors.append(repr(e)[:300])
        with lock:
            counts[kind] += 1


threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
after = rss_mb()
results["still serving"] = outcome(["ROMEO:"], 10)
print("RESULT " + json.dumps({"cases": results, "concurrent": counts, "errors": errors, "rss_before_mb": before, "rss_after_mb": after}))
