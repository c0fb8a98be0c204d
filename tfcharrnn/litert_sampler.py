"""The reference sampler: drives a tfcharrnn .tflite through LiteRT, with no TensorFlow import.

    from tfcharrnn.litert_sampler import LiteRTModel, sample, sample_text
    model = LiteRTModel("shakespeare.tflite")         # signatures: step, sample, vocabulary
    texts = sample_text(model, "ROMEO:", 200, seed=7, temperature=0.8)   # == Generator.sample_text
    sample(model, "ROMEO:", 200, seed=7, stop=["\\n\\n"])    # [Sample(text, finish_reason, new_chars)] == Generator.sample

    python scripts/sample.py shakespeare.tflite --prime "ROMEO:" --length 200 --seed 7 --stop "\\n\\n"

This file is what an app developer ports to Kotlin or Swift; it imports numpy,
ai_edge_litert and tfcharrnn.rng / .errors / .vocab / .scoring / .sample_settings only: no
TensorFlow and nothing of the command line (tfcharrnn.cli.sample drives it for a .tflite path;
tests/test_layout.py keeps it so). The loop is the one of tfcharrnn.sampling.generate_ids, call
for call:

    state = zeros (B, S, H)
    for c in prompt[:-1]: _, state = step(c, state)          # read the prompt once
    current = prompt[-1]                                     # (empty prompt: see below)
    for i in range(n):
        if every row is done: stop                           # rows that stopped cost nothing more
        current, state = sample(current, state, temperature, u=rng.uniform(seed, i), top_k, top_p)
        emit current to each row not done; a row is done when its text ends with a stop string
        or has n characters

`sample` computes the logits and picks inside the model (softmax -> cumulative sum -> first
index above u x total; temperature 0 is argmax, top_k 0 and top_p 1 switch the cuts off), so
the app only supplies the uniform numbers; a negative or NaN temperature is refused before. An
empty prompt starts from the character min(int(float32(u) * float32(V)), V - 1) with
u = rng.uniform(seed, rng.START_STEP); that character is emitted first, so the loop runs n - 1
times. Row b of a batch uses seed + b. Stop strings (tfcharrnn.sample_settings has the rule):
the text returned ends before the stop string, new_chars counts it.

The vocabulary comes from the model's `vocabulary` signature (ids 0..V-1 in, V = the width of
step's logits) as int32 Unicode code points (the stock runtime has no string ops) plus
`byte_mode` ([1]): 1 means each code point is one byte of UTF-8 text (tfcharrnn's --byte_mode).
NAME.vocab.json beside the model holds the same list; when it is there it is checked against
the model. What a .tflite holds (its ops, the runtime it needs) is read on the exporter's side,
tfcharrnn.tflite_export.
"""

from __future__ import annotations

import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from tfcharrnn import rng
from tfcharrnn.errors import UserError
from tfcharrnn.sample_settings import FINISH_REASONS, Sample, check_temperature, encode_stops, stop_length
from tfcharrnn.scoring import score_ids
from tfcharrnn.vocab import Vocabulary

SIGNATURES = ("step", "sample", "vocabulary")
VOCAB_SUFFIX = ".vocab.json"


def vocab_json_path(tflite_path: str) -> str:
    """NAME.tflite -> NAME.vocab.json (same directory, same stem)."""
    stem = tflite_path[: -len(".tflite")] if tflite_path.endswith(".tflite") else tflite_path
    return stem + VOCAB_SUFFIX


def vocab_from_code_points(code_points, byte_mode) -> Vocabulary:
    """The vocabulary signature's outputs -> a Vocabulary (ids are positions in the list)."""
    cps = np.asarray(code_points).reshape(-1)
    return Vocabulary(tuple(chr(int(c)) for c in cps), mode="bytes" if int(np.asarray(byte_mode).reshape(-1)[0]) else "chars")


def vocab_to_code_points(vocab: Vocabulary) -> tuple[np.ndarray, int]:
    return np.array([ord(c) for c in vocab.chars], dtype=np.int32), int(vocab.mode == "bytes")


# ---------------------------------------------------------------------------------------------
# the model


class LiteRTModel:
    """A tfcharrnn .tflite behind three signature runners: step, sample, vocabulary."""

    def __init__(self, path: str | None = None, *, model_content: bytes | None = None, num_threads: int | None = None, check_vocab_json: bool = True,
                 xnnpack: bool = True):
        """num_threads: the interpreter's threads (None: LiteRT's default); xnnpack False runs the
        builtin kernels without the XNNPACK delegate LiteRT applies by default."""
        if (path is None) == (model_content is None):
            raise ValueError("pass exactly one of path and model_content")
        self.path = path
        if path is not None:
            if not os.path.isfile(path):
                raise UserError(f"model {path!r} does not exist; pass a .tflite written by scripts/export.py")
            with open(path, "rb") as f:
                model_content = f.read()
        where = repr(path) if path else "the model"
        try:
            resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            self.interpreter = Interpreter(model_content=model_content, num_threads=num_threads, experimental_op_resolver_type=resolver)
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"{where} cannot be loaded by LiteRT ({first}); re-export it with scripts/export.py") from None
        found = self.interpreter.get_signature_list()
        missing = [s for s in SIGNATURES if s not in found]
        if missing:
            raise UserError(f"{where} lacks the signature(s) {', '.join(missing)}; it is not a tfcharrnn export, re-export it with scripts/export.py")
        self._step = self.interpreter.get_signature_runner("step")
        self._sample = self.interpreter.get_signature_runner("sample")
        shape = self._step.get_input_details()["state"]["shape_signature"]
        self.num_states, self.hidden_size = int(shape[1]), int(shape[2])
        width = int(self._step.get_output_details()["logits"]["shape_signature"][-1])
        out = self.interpreter.get_signature_runner("vocabulary")(ids=np.arange(width, dtype=np.int32))
        self.vocab = vocab_from_code_points(out["code_points"], out["byte_mode"])
        self.vocab_size = self.vocab.size
        if check_vocab_json and path is not None:
            side = vocab_json_path(path)
            if os.path.isfile(side):
                with open(side, encoding="utf-8") as f:
                    beside = Vocabulary.from_json(f.read())
                if beside != self.vocab:
                    raise UserError(f"{side!r} does not match the vocabulary inside {path!r}; delete it or re-export both together")

    def initial_state(self, batch_size: int) -> np.ndarray:
        return np.zeros((batch_size, self.num_states, self.hidden_size), np.float32)

    def step(self, token_id, state):
        """token_id (B,) int, state (B, S, H) -> logits (B, V), state (B, S, H)."""
        out = self._step(token_id=np.asarray(token_id, np.int32).reshape(-1), state=np.asarray(state, np.float32))
        return out["logits"], out["state"]

    def sample(self, token_id, state, temperature, u, top_k=0, top_p=1.0):
        """One step and one pick inside the model: -> next_id (B,) int32, state (B, S, H)."""
        ids = np.asarray(token_id, np.int32).reshape(-1)
        b = ids.shape[0]

        def rows(value, dtype):
            return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype), (b,)))

        out = self._sample(token_id=ids, state=np.asarray(state, np.float32), temperature=rows(temperature, np.float32),
                           u=rows(u, np.float32), top_k=rows(top_k, np.int32), top_p=rows(top_p, np.float32))
        return out["next_id"], out["state"]

    def mean_loss(self, ids, streams: int = 8) -> float:
        """Mean negative log-likelihood (nats/char) of ``ids`` through `step`: the predictions cut
        into ``streams`` rows read side by side, the state carried along each (tfcharrnn.scoring,
        as the trainer's validation and scripts/evaluate.py score)."""
        return score_ids(self.chunk_loss, self.initial_state, ids, rows=streams).mean

    def chunk_loss(self, x, y, w, state):
        """x, y (R, T) int, w (R, T) -> (sum of w x -ln p(y), state), one `step` per column."""
        total = 0.0
        for t in range(x.shape[1]):
            logits, state = self.step(x[:, t], state)
            z = logits.astype(np.float64)  # (R, V)
            m = z.max(axis=1)
            lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
            total += float(((lse - z[np.arange(z.shape[0]), y[:, t]]) * w[:, t]).sum())
        return total, state


# ---------------------------------------------------------------------------------------------
# the loop (tfcharrnn.sampling.generate_ids, call for call)


def start_id(seed: int, vocab_size: int) -> int:
    """The first character of a row with an empty prompt (float32 arithmetic, as in the graph)."""
    u = np.float32(rng.uniform(seed, rng.START_STEP))
    return min(int(u * np.float32(vocab_size)), vocab_size - 1)


def _run(model: LiteRTModel, prompt_ids, num_chars: int, seeds, temperature=1.0, top_k=0, top_p=1.0, stop_ids=()):
    """The loop: one row per seed, all with the same prompt and stop strings (id sequences).
    -> (each row's text as a list of ids, new_chars per row, stopped per row)."""
    check_temperature(temperature)
    seeds = [int(s) for s in np.asarray(seeds).reshape(-1)]
    batch = len(seeds)
    stops = [[int(c) for c in s] for s in stop_ids if len(s)]
    emitted, stop_len, done = [[] for _ in seeds], [0] * batch, [num_chars <= 0] * batch

    def emit(b, c):
        emitted[b].append(int(c))
        stop_len[b] = stop_length(emitted[b], stops)
        done[b] = stop_len[b] > 0 or len(emitted[b]) >= num_chars

    prompt_ids = np.asarray(prompt_ids, np.int32).reshape(-1)
    state = model.initial_state(batch)
    if len(prompt_ids):
        for c in prompt_ids[:-1]:
            _, state = model.step(np.full(batch, c, np.int32), state)
        current = np.full(batch, prompt_ids[-1], np.int32)
        steps = num_chars
    else:
        current = np.array([start_id(s, model.vocab_size) for s in seeds], np.int32)
        for b in range(batch):
            if not done[b]:
                emit(b, current[b])
        steps = num_chars - 1
    temperature = np.full(batch, temperature, np.float32)
    top_k = np.full(batch, top_k, np.int32)
    top_p = np.full(batch, top_p, np.float32)
    for i in range(steps):
        if all(done):  # rows that have stopped cost nothing more
            break
        u = np.array([rng.uniform(s, i) for s in seeds], np.float32)
        current, state = model.sample(current, state, temperature, u, top_k, top_p)
        for b in range(batch):
            if not done[b]:
                emit(b, current[b])
    return [e[: len(e) - n] for e, n in zip(emitted, stop_len)], [len(e) for e in emitted], [n > 0 for n in stop_len]


def generate_ids(model: LiteRTModel, prompt_ids, num_chars: int, seeds, temperature=1.0, top_k=0, top_p=1.0, stop_ids=()) -> np.ndarray:
    """One row per seed, all with the same prompt: -> (len(seeds), N) int32, each row's text, -1
    padded (N: the longest text; num_chars without stop strings)."""
    texts = _run(model, prompt_ids, num_chars, seeds, temperature, top_k, top_p, stop_ids)[0]
    out = -np.ones((len(texts), max([len(t) for t in texts], default=0)), np.int32)
    for row, text in zip(out, texts):
        row[: len(text)] = text
    return out


def sample(model: LiteRTModel, prompt: str, num_chars: int, seed: int = 0, num_samples: int = 1, temperature=1.0, top_k=0, top_p=1.0,
           stop=()) -> list[Sample]:
    """Like tfcharrnn.sampling.Generator.sample: sample i uses seed + i; the prompt is not included."""
    stop_ids = encode_stops(model.vocab, stop)
    ids = model.vocab.encode_prompt(prompt) if prompt else np.zeros(0, np.int32)
    seeds = np.arange(num_samples, dtype=np.int64) + seed
    texts, new_chars, stopped = _run(model, ids, num_chars, seeds, temperature, top_k, top_p, stop_ids)
    return [Sample(model.vocab.decode(t), FINISH_REASONS[0] if s else FINISH_REASONS[1], n) for t, n, s in zip(texts, new_chars, stopped)]


def sample_text(model: LiteRTModel, prompt: str, num_chars: int, seed: int = 0, num_samples: int = 1, temperature=1.0, top_k=0, top_p=1.0,
                stop=()) -> list[str]:
    """The texts of sample(...)."""
    return [s.text for s in sample(model, prompt, num_chars, seed, num_samples, temperature, top_k, top_p, stop)]
