import numpy as np, tensorflow as tf
from tfcharrnn import fused
T,B,H=7,3,5
rng=np.random.default_rng(0)
xw=tf.constant(rng.normal(size=(T,B,4*H)),tf.float32); R=tf.constant(rng.normal(size=(H,4*H))*0.3,tf.float32)
h0=tf.constant(rng.normal(size=(B,H)),tf.float32); c0=tf.constant(rng.normal(size=(B,H)),tf.float32)
keep=tf.constant((rng.uniform(size=(T,B,H))>0.4).astype(np.float32)*0.7+0.1)
gain=tf.constant(rng.normal(size=(T,B,4*H)),tf.float32)
w_out=tf.constant(rng.normal(size=(B,T,H)),tf.float32); w_h=tf.constant(rng.normal(size=(B,H)),tf.float32); w_c=tf.constant(rng.normal(size=(B,H)),tf.float32)
def ref(xw,R,h0,c0,gain=None):
    h,c=h0,c0; outs=[]
    for t in range(T):
        hr=h@R
        s=tf.sigmoid(xw[t]+(hr if gain is None else gain[t]*hr)); i,f,g2,o=tf.split(s,4,1)
        cn=f*c+i*(2*g2-1); h=o*tf.tanh(cn); c=c+keep[t]*(cn-c); outs.append(h)
    return tf.stack(outs,1),h,c
def loss(out,h,c): return tf.reduce_sum(out*w_out)+tf.reduce_sum(h*w_h)+tf.reduce_sum(c*w_c)
for compile_loops in (False,True):
    opts=fused.Options(compile_loops=compile_loops)
    for mi in (False,True):
        args=[xw,R,h0,c0]+([gain] if mi else [])
        with tf.GradientTape() as tp:
            tp.watch(args); l1=loss(*ref(*args[:4], gain if mi else None))
        g1=tp.gradient(l1,args)
        with tf.GradientTape() as tp:
            tp.watch(args)
            if mi: o=fused._mi_lstm_recurrence(opts)(xw,gain,R,h0,c0,keep)
            else: o=fused._lstm_recurrence(opts)(xw,R,h0,c0,keep)
            l2=loss(*o)
        g2=tp.gradient(l2,[xw,gain,R,h0,c0] if mi else args)
        if mi: g2=[g2[0],g2[2],g2[3],g2[4],g2[1]]
        print(compile_loops, mi, float(abs(l1-l2)), max(float(tf.reduce_max(tf.abs(a-b))) for a,b in zip(g1,g2)))
