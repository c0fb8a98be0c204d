"""Fine-tuning: a new run that starts from a trained model's weights, on other text.

    import tfcharrnn.training.finetune as finetune
    source = finetune.Source.load("runs/shakespeare")     # --finetune_from: a checkpoint or a run directory
    cfg = source.configure(cfg)                           # the model's shape from the checkpoint
    corpus, note = source.adapt(corpus, cfg)              # the new text in the model's vocabulary, extended
    cfg, _ = recipe.resolve(cfg, len(corpus.train), corpus.vocab.size)  # the regularisers for the new text
    model = CharRNN(cfg.model_config(corpus.vocab.size))
    source.load_into(model, corpus.train, seed=cfg.seed)  # the checkpoint's weights, rows for new characters

    python scripts/train.py --finetune_from runs/shakespeare --train_data my.txt --max_steps 300

What carries over: the weights, the model's kind and shape (model, hidden_size, num_layers,
embedding_size: a flag that contradicts the checkpoint is refused) and its vocabulary. What starts
afresh, as in a new run: the optimizer's state, the step, the schedule, the data position and the random
streams; dropout, weight drop, weight decay and the optimizer (not shape) come from their flags, else
from the recipe for the new text and budget. The Trainer measures the loaded model on the new text's validation split
before the first step (logged as the validation at step 0), so the run shows what it bought.

Characters of the new text the model never saw (--new_chars):
- extend (the default): appended to the vocabulary, every old character keeping its id (characters
  are matched by character, never by id: a text with the same number of characters in another
  order must not be read with the model's ids). The embedding gets a row per new character,
  drawn from the old rows' per-dimension mean and spread (it looks like a character to the
  layers above); the softmax a zero kernel column and one shared bias, NEW_CHAR_SHARE below. The
  old rows and columns are copied, so at step 0 the logits over the old characters are exactly
  the checkpoint's.
- error: the run stops and lists them.
- skip: they are dropped from the text (each split), and the count is reported.
A byte-mode model (--byte_mode) is handled the same way: its vocabulary holds the bytes its text
had (256 at most), and bytes its new text brings are appended like characters.

A resumed fine-tuning run (--resume in its own --checkpoint_dir) continues like any run: its
checkpoints hold the extended vocabulary, and the text is read in it (``resumed``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn import data
from tfcharrnn.errors import UserError
from tfcharrnn.vocab import describe_chars

# The model fields a fine-tuned model keeps from its checkpoint.
SHAPE = ("model", "hidden_size", "num_layers", "embedding_size", "skip_connections", "multiplicative_integration")
# The model fields a resumed run keeps from its checkpoint: the shape, and the regularisers its model trains with.
KEPT_ON_RESUME = (*SHAPE, "dropout", "weight_drop")
# A new character starts at 1 / (NEW_CHAR_SHARE x V) of the probability (V: the extended vocabulary;
# its log-probability averaged over the new text's contexts): a tenth of a uniform share. Rare,
# since the model has no evidence for it yet, so the old characters lose a negligible k / (10 V) of
# their mass; and learnable, since where it does occur its loss, log(10 V) ~ 6-7 nats, has a
# gradient of nearly 1 on its bias and column (a bias near minus infinity would have none).
NEW_CHAR_SHARE = 10
# Characters of the new text read to measure the old characters' log-partition (the bias above).
BIAS_SAMPLE_ROWS, BIAS_SAMPLE_LENGTH = 16, 256


@dataclasses.dataclass
class Source:
    """The model a fine-tuning run starts from (weights and vocabulary; no optimizer state)."""

    checkpoint: ckpt_lib.Checkpoint

    @classmethod
    def load(cls, path: str) -> "Source":
        return cls(ckpt_lib.load_checkpoint(path, with_optimizer=False))

    @property
    def vocab(self):
        return self.checkpoint.vocab

    def describe(self) -> str:
        c, step = self.checkpoint.config, self.checkpoint.train_state.get("step")
        return f"{self.checkpoint.path} ({c.num_layers}x{c.hidden_size} {c.model}, vocab {c.vocab_size}" + (f", step {step})" if step else ")")

    def configure(self, cfg):
        """``cfg`` with the checkpoint's shape; a flag that says otherwise is a UserError."""
        cfg = kept(cfg, self.checkpoint, SHAPE, "the model to fine-tune", "a fine-tuned model keeps its checkpoint's shape")
        byte_model = self.vocab.mode == "bytes"
        if cfg.byte_mode != byte_model:
            raise UserError(f"the model to fine-tune reads {self.vocab.mode} ({self.checkpoint.path}); "
                            f"{'add' if byte_model else 'drop'} --byte_mode to read the new text as it does")
        return cfg

    def adapt(self, corpus, cfg) -> tuple:
        """(the corpus in the model's vocabulary, a line saying what happened to new characters):
        extended, refused or skipped as ``cfg.new_chars`` says."""
        new = [ch for ch in corpus.vocab.chars if ch not in self.vocab]
        if not new:
            return data.in_vocabulary(corpus, self.vocab)[0], ""
        if cfg.new_chars == "error":
            raise UserError(f"the new text has {len(new)} character(s) the model never saw: {describe_chars(new)}; "
                            "--new_chars extend adds them to the model, --new_chars skip drops them from the text")
        if cfg.new_chars == "extend":
            vocab = self.vocab.extended(new)
            corpus, _ = data.in_vocabulary(corpus, vocab)
            return corpus, f"vocabulary {self.vocab.size} + {len(new)} new character(s) = {vocab.size}: {describe_chars(new)}"
        corpus, dropped = data.in_vocabulary(corpus, self.vocab, drop_unknown=True)
        data.check_trainable(len(corpus.train), cfg.seq_length, cfg.batch_size, cfg.layout, cfg.stride or cfg.seq_length)
        return corpus, (f"skipped {dropped:,} character(s) the model never saw ({len(new)} distinct: {describe_chars(new)}; "
                        "--new_chars extend would add them)")

    def load_into(self, model, train_ids, seed: int) -> None:
        """The checkpoint's weights into ``model`` (built for the corpus's vocabulary, the checkpoint's
        extended or not): its rows and columns copied, new characters' initialised as the module says."""
        weights = dict(self.checkpoint.weights)
        old, new = self.vocab.size, model.config.vocab_size - self.vocab.size
        grown = (model.embedding.embeddings.path, model.head.kernel.path, model.head.bias.path)
        if new and all(path in weights for path in grown):  # else assign_weights names what is missing
            table = weights[model.embedding.embeddings.path]  # (V0, E)
            rows = np.random.default_rng(seed).normal(table.mean(0), table.std(0), size=(new, table.shape[1]))  # (k, E)
            kernel = weights[model.head.kernel.path]  # (H, V0)
            weights[model.embedding.embeddings.path] = np.concatenate([table, rows.astype(table.dtype)])
            weights[model.head.kernel.path] = np.concatenate([kernel, np.zeros((kernel.shape[0], new), kernel.dtype)], axis=1)
            weights[model.head.bias.path] = np.concatenate([weights[model.head.bias.path], np.zeros(new, kernel.dtype)])
        ckpt_lib.assign_weights(model, weights, self.checkpoint.path)
        if new:
            bias = model.head.bias.numpy()
            bias[old:] = new_char_bias(model, train_ids, old)
            model.head.bias.assign(bias)


def new_char_bias(model, train_ids, old: int) -> float:
    """The bias that starts each new character at about 1 / (NEW_CHAR_SHARE x V) of the probability:
    with a zero kernel column its logit is the bias b, so p = e^b / (Z + k e^b), Z the old
    characters' partition; solved for p = q with log Z averaged over a sample of the new text."""
    import tensorflow as tf

    vocab_size = model.config.vocab_size
    new = vocab_size - old
    n = min(len(train_ids), BIAS_SAMPLE_ROWS * BIAS_SAMPLE_LENGTH)
    rows = max(1, n // BIAS_SAMPLE_LENGTH)
    ids = np.asarray(train_ids[: rows * (n // rows)], np.int32).reshape(rows, -1)  # (R, L)
    logits, _ = model(ids)  # (R, L, V)
    log_z = float(tf.reduce_mean(tf.reduce_logsumexp(logits[..., :old], axis=-1)))
    q = 1.0 / (NEW_CHAR_SHARE * vocab_size)
    return log_z + math.log(q / (1.0 - new * q))


def resumed(cfg, restored):
    """A resumed run's config: its checkpoint's model (shape, dropout and weight drop: the model it
    goes on training; a flag that says otherwise is refused) and what it was fine-tuned from (its
    text is read accordingly). What the optimizer applies (weight decay) stays the flags' and the
    recipe's, for the budget the run is resumed with."""
    cfg = kept(cfg, restored, KEPT_ON_RESUME, "the checkpoint to resume",
               "a resumed run goes on training its model (--finetune_from starts a new one from it)")
    saved = restored.train_state.get("train_config", {})
    if saved.get("finetune_from") and not cfg.finetune_from:
        return dataclasses.replace(cfg, finetune_from=saved["finetune_from"])
    return cfg


def kept(cfg, checkpoint, names, whose: str, why: str):
    """``cfg`` with the fields ``names`` of the checkpoint's model; a flag that says otherwise is a UserError."""
    for name in names:
        given, own = getattr(cfg, name), getattr(checkpoint.config, name)
        if given is not None and given != own:
            raise UserError(f"--{name} {given} conflicts with {whose} ({name} {own} in {checkpoint.path}); drop --{name}: {why}")
    return dataclasses.replace(cfg, **{name: getattr(checkpoint.config, name) for name in names})


def text_for_resume(restored, corpus, cfg):
    """The corpus in the resumed checkpoint's vocabulary. A fine-tuning run's vocabulary may hold
    characters its text lacks (its model's); characters it lacks are refused, or dropped with
    --new_chars skip (as the run did if it skipped them)."""
    unknown = [ch for ch in corpus.vocab.chars if ch not in restored.vocab]
    missing = [ch for ch in restored.vocab.chars if ch not in corpus.vocab]
    skip = cfg.finetune_from and cfg.new_chars == "skip"
    if (unknown and not skip) or (missing and not cfg.finetune_from):
        hint = ("; the run skipped them: add --new_chars skip" if unknown and restored.train_state.get("train_config", {}).get("new_chars") == "skip"
                else "; resume on the same corpus, or fine-tune from the checkpoint on other text (--finetune_from)")
        raise UserError(f"the corpus vocabulary ({corpus.vocab.size} chars) differs from the checkpoint's ({restored.vocab.size}): "
                        f"{len(unknown)} new, {len(missing)} missing characters{hint}")
    return data.in_vocabulary(corpus, restored.vocab, drop_unknown=bool(skip))[0]
