"""A digest of a model's weights, for tests that compare models across processes."""

import hashlib

import numpy as np


def weights_digest(model) -> str:
    """sha256 of the trainable weights (by path, then bytes): equal digests, bit-identical weights."""
    h = hashlib.sha256()
    for w in sorted(model.trainable_weights, key=lambda w: w.path):
        h.update(w.path.encode())
        h.update(np.ascontiguousarray(w.numpy(), dtype=np.float32).tobytes())
    return h.hexdigest()
