"""The installed tools' flags (train, sample, evaluate, export, sweep), declared once: names, aliases,
groups, help, choices and defaults.

    from tfcharrnn.cli.flags import train_parser
    args = train_parser().parse_args(["--hidden_size", "512"])   # a bad flag: UserError, one line

    python scripts/flags_doc.py > docs/flags.md                   # the flags reference, from these parsers
                                                                  # (and the benchmark's and serving client's)

Defaults live where the work is: train flags take theirs from TrainConfig() itself, the sweep's
from SweepSpace(), export's cap from tfcharrnn.export, evaluate's chunk from tfcharrnn.evaluate;
the rest are declared here. Loading this module imports argparse only; each parser imports the
library module that holds its defaults (none of them imports TensorFlow), so `--help` and the
TF-free .tflite sampler stay fast.
"""

from __future__ import annotations

import argparse
import re

from tfcharrnn.errors import UserError

HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is our one-line error (exit 2), never a usage dump + traceback."""

    def error(self, message):
        raise UserError(f"{message}; see --help")


def integer(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.|$)", re.S)
SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "0": "\0", "'": "'", '"': '"'}


def escaped(text):
    """Text with backslash escapes, as a shell cannot easily pass them: \\n \\t \\r \\\\ \\0 \\xHH \\uXXXX \\UXXXXXXXX."""

    def one(m):
        code = m.group(1)
        if code in SIMPLE_ESCAPES:
            return SIMPLE_ESCAPES[code]
        if len(code) > 1:
            try:
                return chr(int(code[1:], 16))
            except (ValueError, OverflowError):
                pass
        shown = "\\" + code if code else "a trailing backslash"
        raise argparse.ArgumentTypeError(f"unknown escape {shown} in {text!r}; use \\n, \\t, \\r, \\\\, \\xHH, \\uXXXX or \\UXXXXXXXX")

    return ESCAPE.sub(one, text)


def boolean(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def number_list(cast, name):
    """A converter for "1,2,3": a non-empty list of cast(value)."""

    def parse(text):
        try:
            values = [cast(v) for v in text.replace(" ", "").split(",") if v]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"--{name}: give at least one value")
        return values

    return parse


# ---------------------------------------------------------------------------------------------
# train (and every sweep trial)


def train_parser() -> argparse.ArgumentParser:
    from tfcharrnn.training import TrainConfig

    d = TrainConfig()
    p = Parser(prog="train.py", description="Train a character-level RNN language model.", formatter_class=HELP_FORMAT)
    for add_group in (_train_data, _train_model, _train_finetune, _train_optimisation, _train_stopping, _train_reporting, _train_system):
        add_group(p, d)
    return p


def _train_data(p, d):
    from tfcharrnn.data import LAYOUTS

    g = p.add_argument_group("data")
    g.add_argument("--train_data", "--input", "--data_dir", dest="train_data", default=None,
                   help="UTF-8 text file, directory of text files, or glob; default: bundled Tiny Shakespeare")
    g.add_argument("--encoding", default=d.encoding, help="text encoding of the files")
    g.add_argument("--byte_mode", action="store_true", help="model raw bytes (any file; 256-token vocabulary at most)")
    g.add_argument("--val_frac", type=number, default=d.val_frac, help="fraction of the text (after train) for validation")
    g.add_argument("--test_frac", type=number, default=d.test_frac, help="fraction at the end held out for a final test")
    g.add_argument("--layout", choices=LAYOUTS, default=d.layout,
                   help="stream: contiguous rows, state carried across batches (char-rnn); windows: shuffled windows")
    g.add_argument("--seq_length", type=integer, default=d.seq_length, help="characters per training window (BPTT length)")
    g.add_argument("--stride", type=integer, default=d.stride, help="windows layout: step between window starts; 0 = seq_length")
    g.add_argument("--batch_size", type=integer, default=d.batch_size, help="sequences per batch")


def _train_model(p, d):
    from tfcharrnn.config import MODEL_KINDS
    from tfcharrnn.training.recipe import FIXED

    recipe = "default: the recipe's, from the budget and the corpus (README: Training)"
    shape = "with --finetune_from: the checkpoint's"
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=MODEL_KINDS, default=d.model, help=f"recurrent cell; {shape}")
    g.add_argument("--hidden_size", "--rnn_size", dest="hidden_size", type=integer, default=d.hidden_size, help=f"units per layer; {recipe}; {shape}")
    g.add_argument("--num_layers", type=integer, default=d.num_layers, help=f"stacked recurrent layers; {recipe}; {shape}")
    g.add_argument("--embedding_size", "--wordvec_size", dest="embedding_size", type=integer, default=d.embedding_size,
                   help=f"character embedding width; {recipe}; {shape}")
    g.add_argument("--dropout", type=number, default=d.dropout, help=f"dropout between layers (training only); {recipe}")
    g.add_argument("--weight_drop", type=number, default=d.weight_drop,
                   help=f"DropConnect on the recurrent kernels, one mask per batch (AWD-LSTM; training only); {recipe}")
    g.add_argument("--skip_connections", type=boolean, default=d.skip_connections,
                   help=f"the output layer reads every layer's output, not only the top one's (Graves 2013); {shape}")
    g.add_argument("--multiplicative_integration", type=boolean, default=d.multiplicative_integration,
                   help=f"an LSTM's gates read alpha * xW * hR + beta_h * hR + beta_x * xW + b (MI-LSTM, Wu et al. 2016); "
                        f"{recipe}; {shape}")
    for action in g._group_actions:
        if action.default is None:
            fixed = FIXED.get(action.dest)
            action.doc_default = "recipe" if fixed is None else f"`{fixed}`" if isinstance(fixed, str) else str(fixed)


def _train_finetune(p, d):
    from tfcharrnn.training.config import NEW_CHARS

    g = p.add_argument_group("fine-tuning")
    g.add_argument("--finetune_from", default=None, metavar="MODEL",
                   help="start a new run from a trained model (a checkpoint or run directory): its weights, shape and vocabulary; "
                        "a fresh optimizer, step, schedule and data position; validated on the new text before the first step")
    g.add_argument("--new_chars", choices=NEW_CHARS, default=d.new_chars,
                   help="characters of the new text the model never saw: extend adds them to the model (old predictions unchanged), "
                        "error lists them, skip drops them from the text and says how many")


class PathAlias(argparse.Action):
    """An older flag that names a training path: --fused false = --train_path keras, --jit = --train_path xla."""

    def __init__(self, option_strings, dest, path, when=True, **kwargs):
        self.path, self.when = path, when
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if values == self.when or self.nargs == 0:
            setattr(namespace, self.dest, self.path)


def by_optimizer(values: dict) -> str:
    """{"adam": 0.005, "muon": 0.01} -> "0.01 with Muon, 0.005 with Adam": a default the recipe picks by the optimizer."""
    return ", ".join(f"{value:g} with {name.capitalize()}" for name, value in sorted(values.items(), reverse=True))


def _train_optimisation(p, d):
    from tfcharrnn.recurrence import MATMUL_DTYPES
    from tfcharrnn.training import LR_SCHEDULES
    from tfcharrnn.training.train_path import ALIASES, NAMES

    g = p.add_argument_group("optimisation")
    from tfcharrnn.training.recipe import LEARNING_RATES

    rates = by_optimizer(LEARNING_RATES)
    rate = g.add_argument("--learning_rate", type=number, default=d.learning_rate,
                          help=f"the peak learning rate (Muon's and Adam's); default: the recipe's for the optimizer ({rates}), a resumed run's own")
    rate.doc_default = f"{rates} (resume: the checkpoint's)"
    from tfcharrnn.training.config import DEFAULT_LR_SCHEDULE

    schedule = g.add_argument("--lr_schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                              help=f"wsd: hold the rate, then fall to min_lr_frac over the last lr_decay_frac of the run; cosine: fall "
                                   f"along a cosine over the whole run; exp: char-rnn's per-epoch decay; default {DEFAULT_LR_SCHEDULE}, "
                                   "a resumed run's own")
    schedule.doc_default = f"{DEFAULT_LR_SCHEDULE} (resume: the checkpoint's)"
    g.add_argument("--lr_decay", "--learning_rate_decay", dest="lr_decay", type=number, default=d.lr_decay, help="exp schedule: factor per epoch")
    g.add_argument("--lr_decay_after", "--learning_rate_decay_after", dest="lr_decay_after", type=number, default=d.lr_decay_after,
                   help="exp schedule: first epoch to decay")
    g.add_argument("--min_lr_frac", type=number, default=d.min_lr_frac, help="wsd and cosine schedules: final learning rate as a fraction")
    g.add_argument("--lr_decay_frac", type=number, default=d.lr_decay_frac, help="wsd schedule: the last fraction of the run the rate falls over")
    g.add_argument("--warmup_steps", type=integer, default=d.warmup_steps, help="linear warm-up steps")
    from tfcharrnn.training.config import DEFAULT_ADAM_BETA2, OPTIMIZERS

    optimizer = g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                               help="muon: Muon on the recurrent layers' weight matrices (their momentum orthogonalised), Adam on the "
                                    "embedding, output layer and biases; adam: Adam throughout; default: the recipe's (by the passes over "
                                    "the text: README, The model for your minutes), a resumed run's own")
    optimizer.doc_default = "recipe (resume: the checkpoint's)"
    beta2 = g.add_argument("--adam_beta2", type=number, default=d.adam_beta2,
                           help=f"Adam's second-moment decay; default {DEFAULT_ADAM_BETA2:g} (learns faster than 0.999 in short runs), a resumed run's own")
    beta2.doc_default = f"{DEFAULT_ADAM_BETA2:g} (resume: the checkpoint's)"
    from tfcharrnn.training.recipe import AVERAGE_MOMENTA

    momenta = by_optimizer(AVERAGE_MOMENTA)
    ema = g.add_argument("--ema_momentum", type=number, default=d.ema_momentum,
                         help=f"validate, sample and save the weights' moving average with this momentum (the last checkpoint: the better-"
                              f"scoring of it and the raw weights; 0: the raw weights); default: the recipe's for the optimizer "
                              f"({momenta}), a resumed run's own")
    ema.doc_default = f"{momenta} (resume: the checkpoint's)"
    unseen = g.add_argument("--unseen_share", type=number, default=d.unseen_share,
                            help="the probability training leaves, spread evenly, for characters of the vocabulary the training text never "
                                 "shows (only in the validation or test split); default: Good-Turing's estimate (the share of training "
                                 "characters whose kind occurs once); 0: none")
    unseen.doc_default = "Good-Turing's"
    decay = g.add_argument("--weight_decay", type=number, default=d.weight_decay,
                           help="decoupled weight decay (AdamW) per unit of learning rate; biases excluded; default: the recipe's")
    decay.doc_default = "recipe"
    g.add_argument("--grad_clip", type=number, default=d.grad_clip, help="clip gradients to this global norm")
    g.add_argument("--train_path", "--kernel", dest="train_path", type=lambda name: ALIASES.get(name, name), choices=("auto",) + NAMES,
                   default=d.train_path,
                   help="how a training step runs (docs/performance.md): auto times the candidates on this machine once, keeps the fastest "
                        "and caches the choice; a name forces that path (older names: " + ", ".join(f"{a} = {n}" for a, n in ALIASES.items()) + ")")
    g.add_argument("--fused", type=boolean, dest="train_path", action=PathAlias, path="keras", when=False,
                   help="false = --train_path keras (an older spelling; true changes nothing)")
    jit = g.add_argument("--jit", nargs=0, dest="train_path", action=PathAlias, path="xla", help="= --train_path xla (an older spelling)")
    jit.doc_default = "off"  # a switch
    g.add_argument("--matmul_dtype", choices=MATMUL_DTYPES, default=d.matmul_dtype,
                   help="the fused loops: bfloat16 runs the large matmuls with bfloat16 operands (faster on CPUs with AVX512_BF16 / AMX; "
                        "gradients rounded to ~3 digits); auto picks among the bfloat16 paths, a named path takes its bfloat16 form")


def _train_stopping(p, d):
    from tfcharrnn.training.config import DEFAULT_TIME_BUDGET

    g = p.add_argument_group("stopping")
    epochs = g.add_argument("--max_epochs", type=number, default=d.max_epochs, help="stop after this many epochs (0 = no limit)")
    epochs.doc_default = "none"
    g.add_argument("--max_steps", type=integer, default=d.max_steps, help="stop after this many steps (0 = no limit)")
    budget = g.add_argument("--time_budget", type=number, default=d.time_budget,
                            help=f"stop after this many minutes (0 = no limit); with no stop flag at all, {DEFAULT_TIME_BUDGET:g}")
    budget.doc_default = f"{DEFAULT_TIME_BUDGET:g} (none with another stop flag)"  # None: TrainConfig.minutes_limit decides
    g.add_argument("--patience", type=integer, default=d.patience,
                   help="stop early after this many validations in a row without a new best (0 = never); the best checkpoint is the result")


def _train_reporting(p, d):
    g = p.add_argument_group("reporting and checkpoints")
    g.add_argument("--iters_to_report", "--print_every", dest="iters_to_report", type=integer, default=d.iters_to_report, help="steps between progress lines")
    g.add_argument("--eval_val_every", type=integer, default=d.eval_val_every, help="steps between validation + checkpoint (0 = only at the end)")
    g.add_argument("--sample_every", type=integer, default=d.sample_every, help="steps between printed samples (0 = never)")
    g.add_argument("--sample_length", type=integer, default=d.sample_length, help="characters per printed sample")
    g.add_argument("--checkpoint_dir", default=d.checkpoint_dir, help="run directory for checkpoints and latest/best pointers")
    g.add_argument("--keep_best", type=integer, default=d.keep_best, help="keep this many best checkpoints (0 = keep all)")
    g.add_argument("--init_from", default=None, help="checkpoint to resume from (weights, optimizer, step, data position)")
    g.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in --checkpoint_dir")


def _train_system(p, d):
    from tfcharrnn.training import STRATEGIES

    g = p.add_argument_group("system")
    g.add_argument("--seed", type=integer, default=d.seed, help="random seed (weights, data order)")
    g.add_argument("--deterministic", action="store_true", help="enable TensorFlow op determinism (bit-exact reruns)")
    dev = g.add_mutually_exclusive_group()
    dev.add_argument("--gpu", "--gpuid", dest="gpu", type=integer, default=None, help="GPU index to use (-1 = CPU)")
    dev.add_argument("--cpu", action="store_true", help="hide GPUs; train on the CPU")
    g.add_argument("--strategy", choices=STRATEGIES, default=d.strategy,
                   help="tf.distribute strategy: mirrored = all local GPUs; multiworker = hosts described by TF_CONFIG")
    g.add_argument("--tensorboard", type=boolean, default=d.tensorboard,
                   help="write TensorBoard logs, metrics.jsonl and training_curve.png into --checkpoint_dir")
    g.add_argument("--quiet", action="store_true", help="print only errors and the final summary")


# ---------------------------------------------------------------------------------------------
# sample, evaluate, export


def sample_parser() -> argparse.ArgumentParser:
    from tfcharrnn.sample_settings import MAX_STOP_CHARS

    p = Parser(prog="sample.py", description="Generate text from a checkpoint, a run directory or a .tflite model.",
               formatter_class=HELP_FORMAT)
    p.add_argument("checkpoint", help="checkpoint directory, run directory (uses best.json, else latest.json), or NAME.tflite")
    g = p.add_argument_group("what to generate")
    g.add_argument("--length", type=integer, default=2000, help="characters to generate per sample")
    g.add_argument("--prime", "--primetext", "--start", dest="prime", default="", help="text to read before generating (default: a random character)")
    g.add_argument("--num_samples", type=integer, default=1, help="independent samples, generated as one batch")
    g.add_argument("--print_prime", type=boolean, default=True, help="print the prime before each sample")
    g.add_argument("--stop", type=escaped, action="append", default=None, metavar="STRING",
                   help="end a sample where the generated text completes STRING (not printed; repeat for several; "
                        f"escapes such as \\n understood; at most {MAX_STOP_CHARS} characters)")
    g = p.add_argument_group("strategy")
    g.add_argument("--temperature", type=number, default=1.0, help=">= 0; lower is more conservative (0 = greedy)")
    g.add_argument("--top_k", type=integer, default=0, help="sample among the k most likely characters (0 = off)")
    g.add_argument("--top_p", type=number, default=1.0, help="nucleus sampling: smallest set with this probability (1 = off)")
    g.add_argument("--greedy", "--sample0", dest="greedy", action="store_true", help="always take the most likely character (= --temperature 0)")
    g.add_argument("--seed", type=integer, default=123, help="same seed, same text")
    g = p.add_argument_group("system")
    g.add_argument("--cpu", action="store_true", help="hide GPUs")
    return p


def evaluate_parser() -> argparse.ArgumentParser:
    from tfcharrnn.evaluate import DEFAULT_CHUNK

    p = Parser(prog="evaluate.py", formatter_class=HELP_FORMAT,
               description="Per-character loss (nats/char, bits/char, perplexity) of a model on a text file, "
                           "the state carried through the whole file.")
    p.add_argument("model", help="checkpoint directory, run directory (best.json, else latest.json), "
                                 "or SavedModel directory (saved_models/NAME/VERSION, or saved_models/NAME: highest version)")
    p.add_argument("file", help="text file to score")
    p.add_argument("--encoding", default="utf-8", help="text encoding of FILE (ignored for a --byte_mode model: bytes are read raw)")
    p.add_argument("--rows", type=integer, default=1,
                   help="1 = exact, one stream; R > 1 reads R contiguous segments side by side (faster, each restarts from zero state)")
    p.add_argument("--chunk_length", type=integer, default=DEFAULT_CHUNK, help="characters per compiled call (speed only; the result does not depend on it)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--cpu", action="store_true", help="hide GPUs")
    return p


def export_parser() -> argparse.ArgumentParser:
    from tfcharrnn.export import MAX_NEW_CHARS

    p = Parser(prog="export.py", formatter_class=HELP_FORMAT,
               description="Write saved_models/NAME/VERSION/ (a SavedModel TF Serving loads: generation, step and "
                           "vocabulary signatures) and, inside it, assets.extra/NAME.tflite for LiteRT.")
    p.add_argument("checkpoint", help="checkpoint directory, or a run directory (uses best.json, else latest.json)")
    p.add_argument("--name", required=True, help="model name: the directory under --base_dir and the URL /v1/models/NAME")
    p.add_argument("--version", type=integer, default=None, help="version directory to write (default: one more than the highest present)")
    p.add_argument("--base_dir", default="saved_models", help="where model directories live (TF Serving's --model_base_path is BASE_DIR/NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version directory")
    p.add_argument("--max_new_chars", type=integer, default=MAX_NEW_CHARS, help="largest max_new_chars a request may ask for, per prompt")
    p.add_argument("--no_tflite", dest="tflite", action="store_false", help="do not write assets.extra/NAME.tflite")
    p.add_argument("--quantize", default=None, help="TFLite weights: none, dynamic (int8) or float16")
    p.add_argument("--no_warmup", dest="warmup", action="store_false",
                   help="do not write assets.extra/tf_serving_warmup_requests (needs tensorflow-serving-api)")
    p.add_argument("--cpu", action="store_true", help="hide GPUs (the exported graph never needs one either way)")
    p.add_argument("--web", action="store_true", help="also write assets.extra/web/: a static page that runs the model in a browser "
                                                  "(tfcharrnn.web; needs the LiteRT.js runtime from npm, see --litert_js)")
    p.add_argument("--litert_js", metavar="DIR", default=None,
                   help="--web: the npm prefix holding node_modules/@litertjs (default: $TFCHARRNN_LITERT_JS, else web/ in a "
                        "checkout, else ~/.cache/tfcharrnn/litert-js; a missing runtime's error names the npm command)")
    return p


# ---------------------------------------------------------------------------------------------
# sweep: train.py's flags (each trial's settings) plus the sweep's own; swept flags take lists


def sweep_parser() -> argparse.ArgumentParser:
    from tfcharrnn.sweep import SEARCHES, SweepSpace

    p = Parser(prog="sweep.py", parents=[train_parser()], conflict_handler="resolve", formatter_class=HELP_FORMAT,
               description="Train a grid (or a random / Bayesian sample) of models, each with the same budget, "
                           "and rank them by validation loss. Every train.py flag sets all trials; the four swept "
                           "flags take comma-separated lists.")
    d = SweepSpace()
    g = p.add_argument_group("swept hyperparameters (comma-separated candidates)")
    g.add_argument("--hidden_size", "--rnn_size", dest="hidden_size", type=number_list(int, "hidden_size"), default=d.hidden_size,
                   help="units per layer")
    g.add_argument("--num_layers", type=number_list(int, "num_layers"), default=d.num_layers, help="stacked recurrent layers")
    g.add_argument("--dropout", type=number_list(float, "dropout"), default=d.dropout, help="dropout between layers")
    g.add_argument("--learning_rate", type=number_list(float, "learning_rate"), default=d.learning_rate, help="the peak learning rate (Muon's and Adam's)")
    g = p.add_argument_group("sweep")
    g.add_argument("--search", choices=SEARCHES, default="grid",
                   help="grid: every combination (first --max_trials of them); random / bayesian: --max_trials samples (KerasTuner)")
    g.add_argument("--max_trials", type=integer, default=None, help="number of trials (grid: default all combinations)")
    g.add_argument("--sweep_dir", "--checkpoint_dir", dest="sweep_dir", default="runs/sweep",
                   help="trial_ID/ run directories, sweep.json and KerasTuner's state; rerunning continues the sweep")
    g.add_argument("--overwrite", action="store_true", help="delete the previous sweep in --sweep_dir and start over")
    g.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.set_defaults(time_budget=5.0, max_epochs=0.0, sample_every=0, sample_length=0, iters_to_report=200)
    return p
