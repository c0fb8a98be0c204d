"""The one way to score a text: its layout and the chunk loop, shared by every runtime.

    from tfcharrnn.scoring import score_ids
    score = score_ids(score_chunk, initial_state, ids, rows=64, chunk=2048)
    score.mean                                    # nats per character

    # score_chunk(x, y, w, state) -> (sum of w x -ln p(y), new state): the runtime's part
    #   a Keras CharRNN: tfcharrnn.evaluate.chunk_loss inside a tf.function (evaluate, the trainer)
    #   a SavedModel: its `step` signature in a tf.while_loop (tfcharrnn.evaluate)
    #   a .tflite: its `step` signature, one column at a time (tfcharrnn.litert_sampler)

TF-free (numpy only), so the LiteRT runtime uses it too. The runtimes cannot share the chunk
itself: a Keras model reads a whole chunk in one call (its recurrent layers, or the fused
kernels), while a SavedModel or a .tflite only has a one-character `step`, driven by a graph
loop in TensorFlow and by a Python loop in LiteRT (which has no loop to hand it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfcharrnn.errors import UserError


def score_layout(ids, rows: int = 1):
    """A text laid out to be scored: (x, y, w), each (R, L). The n - 1 predictions of ids (every
    character after the first) are cut into ``rows`` contiguous segments read side by side, so a
    model carrying its state along a row predicts each character from all of its segment before
    it; w is 1 on a real prediction and 0 on the padding that fills the last row.

    With rows = 1 the loss is exact; each extra row starts from the zero state (a little less
    context for its first characters).
    """
    ids = np.asarray(ids).reshape(-1)
    m = len(ids) - 1  # prediction positions
    if m < 1:
        raise UserError("the text is too short to score; pass at least two characters")
    rows = max(1, min(int(rows), m))
    length = -(-m // rows)
    pos = np.arange(rows)[:, None] * length + np.arange(length)[None, :]  # (R, L) input positions
    valid = pos < m
    safe = np.where(valid, pos, 0)
    return ids[safe].astype(np.int32), ids[safe + 1].astype(np.int32), valid.astype(np.float32)


class Score(NamedTuple):
    nats: float  # sum of -ln p over the scored predictions
    scored: int  # predictions scored (len(ids) - 1)
    rows: int  # rows read side by side

    @property
    def mean(self) -> float:
        """Nats per character."""
        return self.nats / self.scored


def score_ids(score_chunk, initial_state, ids, rows: int = 1, chunk: int = 2048, progress=None) -> Score:
    """Score ``ids`` laid out by score_layout(ids, rows): chunks of ``chunk`` columns go through
    ``score_chunk(x, y, w, state) -> (loss sum, state)`` in order, the state carried from one to
    the next, starting from initial_state(R). progress(columns done, columns), if given, after each chunk."""
    x, y, w = score_layout(ids, rows)
    state = initial_state(x.shape[0])
    total = 0.0
    length = x.shape[1]
    for j in range(0, length, chunk):
        k = min(length, j + chunk)
        loss_sum, state = score_chunk(x[:, j:k], y[:, j:k], w[:, j:k], state)
        total += float(loss_sum)
        if progress:
            progress(k, length)
    return Score(total, int(w.sum()), int(x.shape[0]))
