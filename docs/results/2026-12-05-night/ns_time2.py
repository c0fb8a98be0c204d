import time, numpy as np, tensorflow as tf
A, B, C = 3.4445, -4.7750, 2.0315
mats = [tf.constant(np.random.default_rng(i).standard_normal((384, 1536)).astype("float32")) for i in range(3)]
def ns(x, dtype, steps=5):
    x = tf.cast(x, dtype); x = x / (tf.norm(x) + 1e-7)
    for _ in range(steps):
        a = tf.matmul(x, x, transpose_b=True); x = A * x + tf.matmul(B * a + C * tf.matmul(a, a), x)
    return tf.cast(x, tf.float32)
def timeit(f, reps=30):
    f(); t = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return np.median(t) * 1e3
for dt in (tf.float32, tf.bfloat16):
    print(dt.name, "graph, 3 separate:", round(timeit(tf.function(lambda: [ns(m, dt) for m in mats])), 1), "ms", flush=True)
    stacked = tf.stack(mats)
    print(dt.name, "graph, batched (3,384,1536):", round(timeit(tf.function(lambda: ns(stacked, dt))), 1), "ms", flush=True)
    print(dt.name, "xla, 3 separate:", round(timeit(tf.function(lambda: [ns(m, dt) for m in mats], jit_compile=True)), 1), "ms", flush=True)
    x = tf.cast(mats[0], dt); a = tf.cast(tf.matmul(mats[0], mats[0], transpose_b=True), dt)
    print(dt.name, "one (384,384)x(384,1536) matmul:", round(timeit(tf.function(lambda: tf.matmul(a, x)), 100), 2), "ms", flush=True)
