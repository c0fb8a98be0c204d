"""Time Newton-Schulz orthogonalisation of a 2x384 LSTM's Muon matrices (3 of 384x1536, 1 of 64x1536)."""
import time, sys
import numpy as np
import tensorflow as tf

A, B, C = 3.4445, -4.7750, 2.0315
shapes = [(384, 1536)] * 3 + [(64, 1536)]
mats = [tf.constant(np.random.default_rng(i).standard_normal(s).astype("float32")) for i, s in enumerate(shapes)]

def ns(x, steps, dtype):
    x = tf.cast(x, dtype)
    x = x / (tf.norm(x) + 1e-7)
    for _ in range(steps):
        a = tf.matmul(x, x, transpose_b=True)
        b = B * a + C * tf.matmul(a, a)
        x = A * x + tf.matmul(b, x)
    return tf.cast(x, tf.float32)

def gram(x, steps, dtype):
    x = tf.cast(x, dtype)
    x = x / (tf.norm(x) + 1e-7)
    a0 = tf.matmul(x, x, transpose_b=True)
    q = tf.eye(tf.shape(a0)[0], dtype=dtype)
    for _ in range(steps):
        a = q @ a0 @ q
        q = (A * tf.eye(tf.shape(a0)[0], dtype=dtype) + B * a + C * a @ a) @ q
    return tf.cast(q @ x, tf.float32)

def run(fn, steps, dtype, reps=30):
    f = tf.function(lambda: [fn(m, steps, dtype) for m in mats])
    out = f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return np.median(t) * 1e3, out

ref = run(ns, 5, tf.float32, 3)[1]
for name, fn in (("ns", ns), ("gram", gram)):
    for dtype in (tf.float32, tf.bfloat16):
        for steps in (5, 4, 3):
            ms, out = run(fn, steps, dtype)
            s = np.linalg.svd(out[0].numpy(), compute_uv=False)
            print(f"{name:5s} {dtype.name:8s} steps {steps}: {ms:6.1f} ms   singular values of the first: {s.min():.3f}..{s.max():.3f}", flush=True)
