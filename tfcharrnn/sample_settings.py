"""The checks of sampling settings, shared by every sampler (checkpoint or .tflite); no TensorFlow.

    from tfcharrnn.sample_settings import check_sample_settings
    check_sample_settings(vocab.size, length=500, num_samples=2, temperature=0.8, top_k=10, top_p=0.95)

Each bad setting is a UserError naming the flag of scripts/sample.py and the values it takes.
"""

from __future__ import annotations

from tfcharrnn.errors import UserError


def check_sample_settings(vocab_size: int, *, length: int, num_samples: int = 1, temperature: float = 1.0,
                          greedy: bool = False, top_k: int = 0, top_p: float = 1.0) -> None:
    """length >= 0, num_samples >= 1, temperature > 0 (unless greedy), 0 <= top_k <= vocab_size, 0 < top_p <= 1."""
    if length < 0:
        raise UserError(f"--length must be >= 0, got {length}")
    if num_samples <= 0:
        raise UserError(f"--num_samples must be >= 1, got {num_samples}")
    if not greedy and not temperature > 0:
        raise UserError(f"--temperature must be > 0, got {temperature}; use --greedy for argmax decoding")
    if top_k < 0 or top_k > vocab_size:
        raise UserError(f"--top_k must be between 0 (off) and the vocabulary size {vocab_size}, got {top_k}")
    if not 0 < top_p <= 1:
        raise UserError(f"--top_p must be in (0, 1], got {top_p}")
