"""The one layout for scoring a text: the trainer's validation, scripts/evaluate.py and the LiteRT loss.

    from tfcharrnn.scoring import score_layout
    x, y, w = score_layout(ids, rows=64)     # (R, L) inputs, targets, weights (0 on padding)
    loss = sum(w * nll(model(x), y)) / sum(w)  # the state carried along each row

TF-free (numpy only), so the LiteRT runtime can use it.
"""

from __future__ import annotations

import numpy as np

from tfcharrnn.errors import UserError


def score_layout(ids, rows: int = 1):
    """A text laid out to be scored: (x, y, w), each (R, L). The n - 1 predictions of ids (every
    character after the first) are cut into ``rows`` contiguous segments read side by side, so a
    model carrying its state along a row predicts each character from all of its segment before
    it; w is 1 on a real prediction and 0 on the padding that fills the last row.

    Used by the trainer's validation, scripts/evaluate.py and the LiteRT model's loss alike. With
    rows = 1 the loss is exact; each extra row starts from the zero state (a little less context
    for its first characters).
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
