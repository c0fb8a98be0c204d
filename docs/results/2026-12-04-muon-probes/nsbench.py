import time, numpy as np, tensorflow as tf, keras
shapes=[(64,1024),(256,1024),(256,1024),(256,1024)]
def ns(x, steps, dtype):
    a,b,c=3.4445,-4.775,2.0315
    x=tf.cast(x,dtype)
    x=tf.transpose(x)  # (1024, n) -> want (n,1024): shape[-2]>shape[-1] transposes
    x=tf.transpose(x)
    x = x/(tf.norm(x)+1e-7)
    for _ in range(steps):
        A = x@tf.transpose(x); B=b*A+c*A@A; x=a*x+B@x
    return tf.cast(x,tf.float32)
gs=[tf.random.normal(s) for s in shapes]
for steps in (5,3):
  for dtype in (tf.float32, tf.bfloat16):
    for jit in (False, True):
        f=tf.function(lambda: [ns(g,steps,dtype) for g in gs], jit_compile=jit)
        f(); t=time.perf_counter(); 
        for _ in range(20): f()
        print(steps, dtype.name, "xla" if jit else "graph", f"{(time.perf_counter()-t)/20*1000:.1f} ms")
