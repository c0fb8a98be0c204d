"""What every sampler shares and checks the same way (checkpoint, SavedModel, .tflite); no TensorFlow.

    from tfcharrnn.sample_settings import check_sample_settings, encode_stops, Sample
    check_sample_settings(vocab.size, length=500, num_samples=2, temperature=0.8, top_k=10, top_p=0.95)
    stop_ids = encode_stops(vocab, ["\\n\\n", "THE END"])     # [ids of each stop string]; UserError if one is bad
    Sample("Once upon", "stop", 12)                           # text, finish_reason, new_chars

Temperature 0 means greedy (argmax) in every runtime; a negative or NaN temperature is an error.

Stop strings, the same rule in every runtime: generation ends at the first character that
completes one of the stop strings (the longest, if several end there); the text returned ends
just before it (the stop string is not returned); a stop string matches only inside the
generated text, never across the prompt; finish_reason is "stop", and new_chars counts every
character the model generated, the stop string's included. Otherwise generation runs to its
length: finish_reason "length", new_chars = the length. An empty stop string means no stop. A stop
string is at most MAX_STOP_CHARS characters (bytes, for a --byte_mode model) and only of
characters the model knows (any other could never be generated).

Each bad setting is a UserError; check_sample_settings names the flag of scripts/sample.py.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from tfcharrnn.errors import UserError
from tfcharrnn.vocab import describe_chars

MAX_STOP_CHARS = 64
FINISH_REASONS = ("stop", "length")


class Sample(NamedTuple):
    """One generated text and how it ended."""

    text: str  # the continuation (prompt not included), ending before the stop string
    finish_reason: str  # "stop": a stop string ended it; "length": it reached its length
    new_chars: int  # characters generated, the stop string's included


def check_temperature(temperature, flag: str = "temperature") -> None:
    """Every value finite and >= 0 (0 = greedy)."""
    values = np.asarray(temperature, dtype=np.float64).reshape(-1)
    bad = [float(t) for t in values if not (math.isfinite(t) and t >= 0)]
    if bad:
        raise UserError(f"{flag} must be a finite number >= 0 (0 = greedy), got {bad[0]:g}")


def check_sample_settings(vocab_size: int, *, length: int, num_samples: int = 1, temperature: float = 1.0,
                          greedy: bool = False, top_k: int = 0, top_p: float = 1.0) -> None:
    """length >= 0, num_samples >= 1, temperature >= 0 (0 or --greedy: argmax), 0 <= top_k <= vocab_size, 0 < top_p <= 1."""
    if length < 0:
        raise UserError(f"--length must be >= 0, got {length}")
    if num_samples <= 0:
        raise UserError(f"--num_samples must be >= 1, got {num_samples}")
    if not greedy:
        check_temperature(temperature, "--temperature")
    if top_k < 0 or top_k > vocab_size:
        raise UserError(f"--top_k must be between 0 (off) and the vocabulary size {vocab_size}, got {top_k}")
    if not 0 < top_p <= 1:
        raise UserError(f"--top_p must be in (0, 1], got {top_p}")


def encode_stops(vocab, stops) -> list[np.ndarray]:
    """The ids of each non-empty stop string (its UTF-8 bytes for a bytes-mode vocabulary), int32.

    UserError for a stop string longer than MAX_STOP_CHARS or with characters the vocabulary lacks.
    """
    if isinstance(stops, str):
        stops = [stops]
    out = []
    for stop in stops:
        if not stop:
            continue
        text = stop.encode("utf-8").decode("latin-1") if vocab.mode == "bytes" else stop
        unknown = vocab.unknown(text)
        if unknown:
            raise UserError(f"the stop string {stop!r} has {len(unknown)} character(s) the model never saw: {describe_chars(unknown)}; "
                            "the model could never generate it, so leave them out")
        if len(text) > MAX_STOP_CHARS:
            unit = "bytes" if vocab.mode == "bytes" else "characters"
            raise UserError(f"the stop string {stop[:20]!r}... is {len(text)} {unit} long; a stop string is at most {MAX_STOP_CHARS} {unit}")
        out.append(vocab.encode(text).astype(np.int32))
    return out


def stop_length(emitted, stop_ids) -> int:
    """Length of the longest stop string ``emitted`` (a list of ids) ends with; 0 if none."""
    return max((len(s) for s in stop_ids if len(s) <= len(emitted) and emitted[len(emitted) - len(s):] == list(s)), default=0)
