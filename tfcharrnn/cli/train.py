"""Train a character-level RNN language model from the command line.

    python scripts/train.py --train_data input.txt --hidden_size 256 --num_layers 2
    python scripts/train.py                                               # 12 minutes on the bundled Tiny Shakespeare
    python scripts/train.py --time_budget 15 --checkpoint_dir runs/a     # 15 minutes; the recipe sizes the model for it
    python scripts/train.py --resume --checkpoint_dir runs/a              # or: tfcharrnn-train ...

Flags: tfcharrnn/cli/flags.py (docs/flags.md); the work: tfcharrnn.training.Trainer.
"""

from __future__ import annotations

from tfcharrnn import onednn
from tfcharrnn.cli.flags import train_parser
from tfcharrnn.errors import run_cli

LN2 = 0.6931471805599453


def train_config(args):
    """TrainConfig from parsed flags."""
    from tfcharrnn.training import TrainConfig

    return TrainConfig(**{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__})


def main(argv=None) -> int:
    args = train_parser().parse_args(argv)
    onednn.apply()  # before TensorFlow's import
    from tfcharrnn.training import Trainer, configure_devices

    configure_devices(cpu=args.cpu, gpu=args.gpu)
    cfg = train_config(args)
    result = Trainer(cfg).run()
    best = result["best_val_loss"]
    if best is None:
        print(f"done: step {result['step']}, epoch {result['epoch']:.2f}, validation n/a (no validation split), checkpoint {result['checkpoint']}")
        return 0
    # The best checkpoint is the run's result: best.json names it, and sample/export/evaluate pick it from the run directory.
    print(f"done: step {result['step']}, epoch {result['epoch']:.2f}, validation {result['val_loss']:.4f} at the end; "
          f"best {best:.4f} nats/char ({best / LN2:.4f} bits/char) at step {result['best_step']}: {result['best_checkpoint']}")
    return 0


def entry():
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover - python -m tfcharrnn.cli.train ...
    entry()
