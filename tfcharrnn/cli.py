"""Command-line front ends: flags, grouped and documented; the work lives in the package.

    python scripts/train.py --train_data input.txt --hidden_size 256 --num_layers 2
    python scripts/sample.py cv/ --length 500 --temperature 0.8 --prime "ROMEO:"

Console entry points after `pip install -e .`: tfcharrnn-train, tfcharrnn-sample.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcharrnn.errors import UserError, run_cli


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is our one-line error (exit 2), never a usage dump + traceback."""

    def error(self, message):
        raise UserError(f"{message}; see --help")


def _int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _bool(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


# ---------------------------------------------------------------------------------------------
# train


def train_parser() -> argparse.ArgumentParser:
    from tfcharrnn.training import TrainConfig

    d = TrainConfig()
    p = _Parser(prog="train.py", description="Train a character-level RNN language model.",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--train_data", "--input", "--data_dir", dest="train_data", default=None,
                   help="UTF-8 text file, directory of text files, or glob; default: bundled Tiny Shakespeare")
    g.add_argument("--encoding", default=d.encoding, help="text encoding of the files")
    g.add_argument("--byte_mode", action="store_true", help="model raw bytes (any file; 256-token vocabulary at most)")
    g.add_argument("--val_frac", type=_float, default=d.val_frac, help="fraction of the text (after train) for validation")
    g.add_argument("--test_frac", type=_float, default=d.test_frac, help="fraction at the end held out for a final test")
    g.add_argument("--layout", choices=("stream", "windows"), default=d.layout,
                   help="stream: contiguous rows, state carried across batches (char-rnn); windows: shuffled windows")
    g.add_argument("--seq_length", type=_int, default=d.seq_length, help="characters per training window (BPTT length)")
    g.add_argument("--stride", type=_int, default=d.stride, help="windows layout: step between window starts; 0 = seq_length")
    g.add_argument("--batch_size", type=_int, default=d.batch_size, help="sequences per batch")

    g = p.add_argument_group("model")
    g.add_argument("--model", choices=("lstm", "gru", "rnn"), default=d.model, help="recurrent cell")
    g.add_argument("--hidden_size", "--rnn_size", dest="hidden_size", type=_int, default=d.hidden_size, help="units per layer")
    g.add_argument("--num_layers", type=_int, default=d.num_layers, help="stacked recurrent layers")
    g.add_argument("--embedding_size", "--wordvec_size", dest="embedding_size", type=_int, default=d.embedding_size, help="character embedding width")
    g.add_argument("--dropout", type=_float, default=d.dropout, help="dropout between layers (training only)")
    g.add_argument("--weight_drop", type=_float, default=d.weight_drop,
                   help="DropConnect on the recurrent kernels, one mask per batch (AWD-LSTM; training only)")

    g = p.add_argument_group("optimisation")
    g.add_argument("--learning_rate", type=_float, default=d.learning_rate, help="Adam learning rate")
    g.add_argument("--lr_schedule", choices=("cosine", "exp", "constant"), default=d.lr_schedule,
                   help="cosine: decay to min_lr_frac over the run; exp: char-rnn's per-epoch decay")
    g.add_argument("--lr_decay", "--learning_rate_decay", dest="lr_decay", type=_float, default=d.lr_decay, help="exp schedule: factor per epoch")
    g.add_argument("--lr_decay_after", "--learning_rate_decay_after", dest="lr_decay_after", type=_float, default=d.lr_decay_after, help="exp schedule: first epoch to decay")
    g.add_argument("--min_lr_frac", type=_float, default=d.min_lr_frac, help="cosine schedule: final learning rate as a fraction")
    g.add_argument("--warmup_steps", type=_int, default=d.warmup_steps, help="linear warm-up steps")
    g.add_argument("--weight_decay", type=_float, default=d.weight_decay,
                   help="decoupled weight decay (AdamW) per unit of learning rate; biases excluded")
    g.add_argument("--grad_clip", type=_float, default=d.grad_clip, help="clip gradients to this global norm")
    g.add_argument("--fused", type=_bool, default=d.fused, help="use the fused CPU recurrence kernel when no GPU is visible")
    g.add_argument("--jit", action="store_true", help="compile the whole train step with XLA (on a CPU slower than the default fused kernels' two row groups)")
    g.add_argument("--matmul_dtype", choices=("float32", "bfloat16"), default=d.matmul_dtype,
                   help="fused kernels: bfloat16 runs the large matmuls with bfloat16 operands (faster on CPUs with AVX512_BF16 / AMX; gradients rounded to ~3 digits)")

    g = p.add_argument_group("stopping")
    g.add_argument("--max_epochs", type=_float, default=None,
                   help=f"stop after this many epochs (0 = no limit; default {d.max_epochs:g}, or no limit when --time_budget is set)")
    g.add_argument("--max_steps", type=_int, default=d.max_steps, help="stop after this many steps (0 = no limit)")
    g.add_argument("--time_budget", type=_float, default=d.time_budget, help="stop after this many minutes (0 = no limit)")

    g = p.add_argument_group("reporting and checkpoints")
    g.add_argument("--iters_to_report", "--print_every", dest="iters_to_report", type=_int, default=d.iters_to_report, help="steps between progress lines")
    g.add_argument("--eval_val_every", type=_int, default=d.eval_val_every, help="steps between validation + checkpoint (0 = only at the end)")
    g.add_argument("--sample_every", type=_int, default=d.sample_every, help="steps between printed samples (0 = never)")
    g.add_argument("--sample_length", type=_int, default=d.sample_length, help="characters per printed sample")
    g.add_argument("--checkpoint_dir", default=d.checkpoint_dir, help="run directory for checkpoints and latest/best pointers")
    g.add_argument("--keep_best", type=_int, default=d.keep_best, help="keep this many best checkpoints (0 = keep all)")
    g.add_argument("--init_from", default=None, help="checkpoint to resume from (weights, optimizer, step, data position)")
    g.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in --checkpoint_dir")

    g = p.add_argument_group("system")
    g.add_argument("--seed", type=_int, default=d.seed, help="random seed (weights, data order)")
    g.add_argument("--deterministic", action="store_true", help="enable TensorFlow op determinism (bit-exact reruns)")
    dev = g.add_mutually_exclusive_group()
    dev.add_argument("--gpu", "--gpuid", dest="gpu", type=_int, default=None, help="GPU index to use (-1 = CPU)")
    dev.add_argument("--cpu", action="store_true", help="hide GPUs; train on the CPU")
    g.add_argument("--strategy", choices=("default", "mirrored", "multiworker", "tpu"), default=d.strategy,
                   help="tf.distribute strategy: mirrored = all local GPUs; multiworker = hosts described by TF_CONFIG")
    g.add_argument("--tensorboard", type=_bool, default=d.tensorboard,
                   help="write TensorBoard logs, metrics.jsonl and training_curve.png into --checkpoint_dir")
    g.add_argument("--quiet", action="store_true", help="print only errors and the final summary")
    return p


def train_config(args):
    """TrainConfig from parsed flags. A time budget alone means "train for that long": the default
    epoch limit would otherwise end a 15-minute run on a small corpus after a few minutes."""
    from tfcharrnn.training import TrainConfig

    fields = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    if fields.get("max_epochs") is None:
        fields["max_epochs"] = 0.0 if fields.get("time_budget") else TrainConfig.max_epochs
    return TrainConfig(**fields)


def train_main(argv=None) -> int:
    args = train_parser().parse_args(argv)
    from tfcharrnn.training import Trainer, configure_devices

    configure_devices(cpu=args.cpu, gpu=args.gpu)
    cfg = train_config(args)
    result = Trainer(cfg).run()
    val = result["val_loss"]
    val_text = f"{val:.4f} nats/char ({val / 0.6931471805599453:.4f} bits/char)" if val is not None else "n/a (no validation split)"
    print(f"done: step {result['step']}, epoch {result['epoch']:.2f}, validation {val_text}, checkpoint {result['checkpoint']}")
    return 0


# ---------------------------------------------------------------------------------------------
# sample


def sample_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sample.py", description="Generate text from a checkpoint, a run directory or a .tflite model.",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint directory, run directory (uses best.json, else latest.json), or NAME.tflite")
    g = p.add_argument_group("what to generate")
    g.add_argument("--length", type=_int, default=2000, help="characters to generate per sample")
    g.add_argument("--prime", "--primetext", "--start", dest="prime", default="", help="text to read before generating (default: a random character)")
    g.add_argument("--num_samples", type=_int, default=1, help="independent samples, generated as one batch")
    g.add_argument("--print_prime", type=_bool, default=True, help="print the prime before each sample")
    g = p.add_argument_group("strategy")
    g.add_argument("--temperature", type=_float, default=1.0, help="> 0; lower is more conservative")
    g.add_argument("--top_k", type=_int, default=0, help="sample among the k most likely characters (0 = off)")
    g.add_argument("--top_p", type=_float, default=1.0, help="nucleus sampling: smallest set with this probability (1 = off)")
    g.add_argument("--greedy", "--sample0", dest="greedy", action="store_true", help="always take the most likely character")
    g.add_argument("--seed", type=_int, default=123, help="same seed, same text")
    g = p.add_argument_group("system")
    g.add_argument("--cpu", action="store_true", help="hide GPUs")
    return p


def validate_strategy(args, vocab_size: int) -> None:
    from tfcharrnn.sample_settings import check_sample_settings

    check_sample_settings(vocab_size, length=args.length, num_samples=args.num_samples, temperature=args.temperature,
                          greedy=args.greedy, top_k=args.top_k, top_p=args.top_p)


def sample_main(argv=None) -> int:
    args = sample_parser().parse_args(argv)
    if args.checkpoint.endswith(".tflite"):
        from tfcharrnn import litert_sampler

        return litert_sampler.sample_main_from_args(args)
    from tfcharrnn.training import configure_devices

    configure_devices(cpu=args.cpu)
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.sampling import Generator

    ckpt = load_checkpoint(args.checkpoint, with_optimizer=False)
    validate_strategy(args, ckpt.vocab.size)
    if args.prime:
        ckpt.vocab.encode_prompt(args.prime)  # names unknown characters before any work
    gen = Generator(ckpt.model, ckpt.vocab)
    texts = gen.sample_text(args.prime, args.length, seed=args.seed, num_samples=args.num_samples,
                            temperature=0.0 if args.greedy else args.temperature, top_k=args.top_k, top_p=args.top_p)
    out = sys.stdout
    for i, text in enumerate(texts):
        if args.num_samples > 1:
            out.write(f"==== sample {i + 1} (seed {args.seed + i}) ====\n")
        out.write((args.prime if args.print_prime else "") + text + "\n")
    out.flush()
    return 0


def train_entry():
    run_cli(train_main)


def sample_entry():
    run_cli(sample_main)


if __name__ == "__main__":  # pragma: no cover
    run_cli(train_main if os.path.basename(sys.argv[0]).startswith("train") else sample_main)
