import numpy as np, tensorflow as tf
A, B, C = 3.4445, -4.7750, 2.0315
d = np.load("/tmp/exp/c1-15/lm_lstm_epoch12.39_1.3579/optimizer.npz")
def ns(x, dtype, steps=5):
    x = tf.cast(x, dtype); x = x / (tf.norm(x) + 1e-7)
    for _ in range(steps):
        a = tf.matmul(x, x, transpose_b=True); x = A * x + tf.matmul(B * a + C * tf.matmul(a, a), x)
    return tf.cast(x, tf.float32).numpy()
def gram(x, dtype, steps=5):
    x = tf.cast(x, dtype); x = x / (tf.norm(x) + 1e-7)
    a0 = tf.matmul(x, x, transpose_b=True); eye = tf.eye(a0.shape[0], dtype=dtype); q = eye
    for _ in range(steps):
        a = q @ a0 @ q
        q = (A * eye + B * a + C * a @ a) @ q
    return tf.cast(q @ x, tf.float32).numpy()
for k in ("0013", "0014", "0017", "0018"):
    g = d[k].T if d[k].shape[0] > d[k].shape[1] else d[k]
    ref = ns(g, tf.float64)
    sv = np.linalg.svd(g, compute_uv=False); print(k, g.shape, "cond", sv.max() / sv.min())
    for name, fn in (("ns", ns), ("gram", gram)):
        for dt in (tf.float32, tf.bfloat16):
            o = fn(g, dt); s = np.linalg.svd(o, compute_uv=False)
            print(f"  {name:4s} {dt.name:8s} rel err {np.linalg.norm(o - ref) / np.linalg.norm(ref):.4f}  sv {s.min():.3f}..{s.max():.3f}")
