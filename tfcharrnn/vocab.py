"""Characters <-> integer ids.

    from tfcharrnn.vocab import Vocabulary
    vocab = Vocabulary.from_text("hello world")
    ids = vocab.encode("hello")          # numpy uint8 array
    assert vocab.decode(ids) == "hello"
    Vocabulary.from_json(vocab.to_json()) == vocab
    wider = vocab.extended("é")                  # vocab's ids kept, "é" appended
    table, known = vocab.id_map(wider)           # vocab's id -> wider's id of the same character

A corpus's vocabulary is the sorted set of its distinct characters, so it is deterministic for a
given text. A fine-tuned model's is its checkpoint's with the new text's new characters appended
(tfcharrnn.training.finetune), so no code may assume sorted order: ids are matched between
vocabularies by character (``id_map``), never by position. In ``bytes`` mode (torch-rnn's choice for files
that are not valid text) every token is one byte; internally a byte ``b`` is the
character ``chr(b)`` (a latin-1 view), so the same machinery serves both modes and
decoding turns the bytes back into UTF-8 text at the edge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from tfcharrnn.errors import UserError

MODES = ("chars", "bytes")


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id of a vocabulary."""
    if vocab_size <= 256:
        return np.dtype(np.uint8)
    if vocab_size <= 65536:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


@dataclass(frozen=True)
class Vocabulary:
    chars: tuple[str, ...]
    mode: str = "chars"
    _index: dict = field(default=None, repr=False, compare=False, hash=False)

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"unknown vocabulary mode {self.mode!r}; use one of {', '.join(MODES)}")
        if len(set(self.chars)) != len(self.chars):
            raise UserError("vocabulary has repeated characters; the checkpoint's vocabulary is corrupted")
        if any(len(c) != 1 for c in self.chars):
            raise UserError("vocabulary entries must be single characters; the checkpoint's vocabulary is corrupted")
        object.__setattr__(self, "chars", tuple(self.chars))
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    # construction -----------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, mode: str = "chars") -> "Vocabulary":
        return cls(tuple(sorted(set(text))), mode=mode)

    @classmethod
    def from_chars(cls, chars: Iterable[str], mode: str = "chars") -> "Vocabulary":
        return cls(tuple(sorted(set(chars))), mode=mode)

    def extended(self, chars: Iterable[str]) -> "Vocabulary":
        """This vocabulary with ``chars`` it lacks appended, in their order: every id it had is kept."""
        new = [c for c in dict.fromkeys(chars) if c not in self._index]
        return Vocabulary(self.chars + tuple(new), mode=self.mode)

    def id_map(self, target: "Vocabulary") -> tuple[np.ndarray, np.ndarray]:
        """(table, known), each (V,): for every id of this vocabulary, the id of the same character
        in ``target`` (0 where it lacks it) and whether it has it. ``table[ids]`` re-encodes ids."""
        known = np.array([c in target._index for c in self.chars], dtype=bool)
        table = np.array([target._index.get(c, 0) for c in self.chars], dtype=target.dtype)
        return table, known

    # properties ---------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        return id_dtype(self.size)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    # encode / decode -----------------------------------------------------------------
    def unknown(self, text: str) -> list[str]:
        """Distinct characters of ``text`` the vocabulary lacks, in order of first appearance."""
        seen = {}
        for c in text:
            if c not in self._index and c not in seen:
                seen[c] = None
        return list(seen)

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text`` (a str; in bytes mode, the latin-1 view of the bytes)."""
        unknown = self.unknown(text)
        if unknown:
            raise UserError(
                f"text has {len(unknown)} character(s) the model never saw: "
                f"{describe_chars(unknown)}; remove them or train on text that contains them"
            )
        if self.mode == "chars" and self.size <= 256 and all(ord(c) < 256 for c in self.chars):
            # Fast path for the common case: translate through a byte table.
            table = np.zeros(256, dtype=np.uint8)
            for i, c in enumerate(self.chars):
                table[ord(c)] = i
            raw = np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
            return table[raw]
        return np.fromiter((self._index[c] for c in text), dtype=self.dtype, count=len(text))

    def encode_prompt(self, prompt: str) -> np.ndarray:
        """Like encode, but the prompt is user text: in bytes mode it is UTF-8 encoded first."""
        if self.mode == "bytes":
            prompt = prompt.encode("utf-8").decode("latin-1")
        return self.encode(prompt)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        chars = "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))
        if self.mode == "bytes":
            return chars.encode("latin-1").decode("utf-8", errors="replace")
        return chars

    # serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"mode": self.mode, "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        try:
            return cls(tuple(d["chars"]), mode=d.get("mode", "chars"))
        except (KeyError, TypeError) as e:
            raise UserError(f"vocabulary JSON is malformed ({e}); the file is not a tfcharrnn vocabulary") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, s: str) -> "Vocabulary":
        try:
            return cls.from_dict(json.loads(s))
        except json.JSONDecodeError as e:
            raise UserError(f"vocabulary JSON cannot be parsed ({e}); the file is corrupted") from None


def describe_chars(chars: Iterable[str], limit: int = 10) -> str:
    chars = list(chars)
    shown = ", ".join(repr(c) for c in chars[:limit])
    return shown + (f" and {len(chars) - limit} more" if len(chars) > limit else "")
