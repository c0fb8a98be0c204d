"""The compiled steps: loss, gradients, clipping and the optimizer, as tf.functions for one path.

    steps = Steps(model, optimizer, dist, path, cfg, unseen=(ids, share), compile_update=True)   # unseen: tfcharrnn.model.unseen_chars
    loss, state = steps.train(x, y, state, lr)       # x, y (B, T) int32; state (B, S, H); loss: the cross-entropy
    loss_sum, state = steps.evaluate(x, y, w, state) # sum of w x nats over these columns, state carried

How a step runs is the training path's (tfcharrnn.training.train_path): the model's recurrence, and for
`step-groups` the batch split into row groups by the trainer, each group's whole step (embedding,
every layer, loss, backward pass) one XLA computation, the groups side by side on the cores.
Dropout and weight-drop masks are drawn once for the whole batch, outside XLA (the very draws the
one-group step makes), and split by rows, so the grouped step is the batch step.
Gradients are clipped by hand after the cross-replica sum, so one replica and N replicas clip the
same global gradient. With ``compile_update`` the clipping and the optimizer's update (and its
moving average) are one XLA computation of their own, which fuses the many elementwise passes over
each weight into one (training.optimizer.compiles_well says for which optimizer that pays).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class Steps:
    def __init__(self, model, optimizer, dist, path, cfg, unseen=None, compile_update=False):
        """``unseen``: (ids, share) from tfcharrnn.model.unseen_chars; None or a zero share: plain cross-entropy.
        ``compile_update``: the update as its own XLA computation (one replica only)."""
        self.model, self.optimizer, self.dist, self.path = model, optimizer, dist, path
        self.unseen = None  # (the even spread over the characters training never shows (V,), its share)
        if unseen is not None and unseen[1] > 0:
            spread = np.zeros(model.config.vocab_size, np.float32)
            spread[unseen[0]] = 1 / len(unseen[0])
            self.unseen = (tf.constant(spread), float(unseen[1]))
        self.variables = model.trainable_variables
        self.global_chars = float(cfg.batch_size * cfg.seq_length)
        self.clip = cfg.grad_clip
        # its tracing count tells tests whether the grouped path ran
        self.group_grads = tf.function(self._group_grads, jit_compile=True, reduce_retracing=True)
        self.train = tf.function(self._train, jit_compile=path.jit or None, reduce_retracing=True)
        self.evaluate = tf.function(self._evaluate, reduce_retracing=True)
        self.update = tf.function(self._apply, jit_compile=True, reduce_retracing=True) if compile_update and dist.single_replica else self._apply

    def _loss_and_grads(self, x, y, state, masks=None, recurrence=None):
        with tf.GradientTape() as tape:
            logits, new_state = self.model(x, state, training=True, masks=masks, recurrence=recurrence)  # (b, T, V), (b, S, H)
            per_char = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)  # (b, T)
            loss = tf.reduce_sum(per_char) / self.global_chars  # these rows' share of the global mean
            objective = loss
            if self.unseen is not None:  # the target moves `share` of itself, evenly, onto the characters training never shows:
                # (1 - s) CE + s mean(-log p(unseen)) = CE + s (logit(y) - mean logit(unseen)), as -log p(c) = logsumexp - logit(c):
                # no second softmax; one elementwise product, which XLA fuses (gathers along V do not fuse)
                spread, share = self.unseen
                shift = tf.reduce_sum(logits * (tf.one_hot(y, tf.shape(logits)[-1]) - spread), -1)  # (b, T)
                objective = loss + share * tf.reduce_sum(shift) / self.global_chars
        return loss, [tf.convert_to_tensor(g) for g in tape.gradient(objective, self.variables)], new_state

    def _apply(self, grads):
        grads, _ = tf.clip_by_global_norm(grads, self.clip)
        if self.dist.replicas > 1:  # Keras' optimizer sums the replicas' (now identical) gradients once more
            grads = [g / self.dist.replicas for g in grads]
        self.optimizer.apply_gradients(zip(grads, self.variables))

    def _replica_step(self, x, y, state):
        loss, grads, new_state = self._loss_and_grads(x, y, state)
        self.update(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads))
        return loss, new_state

    def _group_grads(self, x, y, state, masks):
        return self._loss_and_grads(x, y, state, masks, recurrence=self.path.group_recurrence)

    def _grouped_step(self, x, y, state, groups):
        masks = self.model.draw_masks(x.shape[0], tf.shape(x)[1])
        dropout = [tf.split(m, groups) for m in masks["dropout"]]  # per layer, per group (B/g, T, H)
        outs = [
            self.group_grads(xs, ys, ss, {"weight_drop": masks["weight_drop"], "dropout": [m[g] for m in dropout]})
            for g, (xs, ys, ss) in enumerate(zip(tf.split(x, groups), tf.split(y, groups), tf.split(state, groups)))
        ]
        self.update([tf.add_n([o[1][i] for o in outs]) for i in range(len(self.variables))])
        return tf.add_n([o[0] for o in outs]), tf.concat([o[2] for o in outs], axis=0)

    def _train(self, x, y, state, lr):
        self.optimizer.learning_rate = lr  # inside the step: an eager assign between steps costs time every step
        if self.dist.single_replica:
            groups = self.path.groups_for(x.shape[0]) if self.dist.name == "default" else 1
            if groups > 1:
                return self._grouped_step(x, y, state, groups)
            return self._replica_step(x, y, state)
        loss, new_state = self.dist.strategy.run(self._replica_step, args=(x, y, state))
        return self.dist.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None), new_state

    def _evaluate(self, x, y, w, state):
        from tfcharrnn.evaluate import chunk_loss

        return chunk_loss(self.model, x, y, w, state)  # the one TensorFlow score of a chunk (evaluate.py)
