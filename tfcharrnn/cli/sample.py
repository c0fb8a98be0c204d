"""Generate text from a checkpoint, a run directory or a .tflite: the one place samples are printed.

    python scripts/sample.py cv/ --length 500 --temperature 0.8 --prime "ROMEO:"
    python scripts/sample.py cv/ --num_samples 4 --top_k 10 --top_p 0.9      # 4 samples, one batch
    python scripts/sample.py shakespeare.tflite --prime "ROMEO:" --seed 7    # LiteRT: no TensorFlow imported
    python scripts/sample.py cv/ --prime "ROMEO:" --stop "\n\n"            # end each sample at a blank line

A path ending in .tflite is sampled by tfcharrnn.litert_sampler (numpy + LiteRT only); anything
else is loaded as a checkpoint and sampled by tfcharrnn.sampling.Generator (TensorFlow). Both get
the same checks (tfcharrnn.sample_settings) and the same seed gives the same text in both.
`--length 0` is allowed on purpose: every sample is empty (the prime, when printed, stands alone)
and the exit status is 0; the settings and the prime are still checked (tests/test_cli.py).
With --stop, each sample's end (stop string or length, and the characters generated) is reported
on stderr, so stdout stays the text alone.
Flags: tfcharrnn/cli/flags.py (docs/flags.md).
"""

from __future__ import annotations

import sys

from tfcharrnn import onednn
from tfcharrnn.cli.flags import sample_parser
from tfcharrnn.errors import run_cli
from tfcharrnn.sample_settings import check_sample_settings, encode_stops


def main(argv=None) -> int:
    args = sample_parser().parse_args(argv)
    samples = (_tflite_samples if args.checkpoint.endswith(".tflite") else _checkpoint_samples)(args)
    print_samples([s.text for s in samples], args.prime if args.print_prime else "", args.seed)
    if args.stop:
        for i, s in enumerate(samples):
            how = "ended at a stop string after" if s.finish_reason == "stop" else "no stop string in"
            print(f"sample {i + 1} (seed {args.seed + i}): {how} {s.new_chars} generated characters", file=sys.stderr)
    return 0


def print_samples(texts, prefix: str = "", seed: int = 0, out=None) -> None:
    """Each text after ``prefix``; more than one: each under a "==== sample i (seed s) ====" line."""
    out = out or sys.stdout
    for i, text in enumerate(texts):
        if len(texts) > 1:
            out.write(f"==== sample {i + 1} (seed {seed + i}) ====\n")
        out.write(prefix + text + "\n")
    out.flush()


def _check(args, vocab) -> None:
    check_sample_settings(vocab.size, length=args.length, num_samples=args.num_samples, temperature=args.temperature,
                          greedy=args.greedy, top_k=args.top_k, top_p=args.top_p)
    if args.prime:
        vocab.encode_prompt(args.prime)  # names unknown characters before any work
    encode_stops(vocab, args.stop or ())


def _strategy(args) -> dict:
    return dict(seed=args.seed, num_samples=args.num_samples, temperature=0.0 if args.greedy else args.temperature,
                top_k=args.top_k, top_p=args.top_p, stop=args.stop or ())


def _tflite_samples(args) -> list:
    from tfcharrnn.litert_sampler import LiteRTModel, sample

    model = LiteRTModel(args.checkpoint)
    _check(args, model.vocab)
    return sample(model, args.prime, args.length, **_strategy(args))


def _checkpoint_samples(args) -> list:
    onednn.apply()  # before TensorFlow's import
    from tfcharrnn.training import configure_devices

    configure_devices(cpu=args.cpu)
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.sampling import Generator

    ckpt = load_checkpoint(args.checkpoint, with_optimizer=False)
    _check(args, ckpt.vocab)
    return Generator(ckpt.model, ckpt.vocab).sample(args.prime, args.length, **_strategy(args))


def entry():
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover - python -m tfcharrnn.cli.sample NAME.tflite ...
    entry()
