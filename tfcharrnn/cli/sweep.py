"""Hyperparameter sweeps from the command line: every trial a train.py run, ranked by validation loss.

    python scripts/sweep.py --train_data input.txt --hidden_size 256,512 --num_layers 2,3 \\
        --dropout 0,0.25,0.5 --learning_rate 2e-3 --time_budget 10 --sweep_dir runs/sweep
    python scripts/sweep.py ... --search random --max_trials 6 --json

Rerunning the same command continues the sweep. Flags: tfcharrnn/cli/flags.py (docs/flags.md);
the work: tfcharrnn.sweep (KerasTuner).
"""

from __future__ import annotations

import json

from tfcharrnn import onednn
from tfcharrnn.cli.flags import sweep_parser
from tfcharrnn.errors import UserError, run_cli


def main(argv=None) -> int:
    args = sweep_parser().parse_args(argv)
    onednn.apply()  # before TensorFlow's import
    from tfcharrnn.sweep import SWEPT, SweepSpace, describe_trial, format_table, run_sweep
    from tfcharrnn.training import TrainConfig, configure_devices

    configure_devices(cpu=args.cpu, gpu=args.gpu)
    if args.resume or args.init_from:
        raise UserError("--resume / --init_from do not apply to a sweep; rerun the same sweep command to continue it")
    space = SweepSpace(args.hidden_size, args.num_layers, args.dropout, args.learning_rate)
    fields = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and k not in SWEPT}
    base = TrainConfig(**fields, **{name: getattr(space, name)[0] for name in SWEPT})
    log = (lambda *a, **k: None) if args.json else (lambda *a, **k: print(*a, flush=True))
    report = run_sweep(base, space, args.sweep_dir, search=args.search, max_trials=args.max_trials,
                       overwrite=args.overwrite, log=log)
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    print()
    print(format_table(report["trials"]))
    best = report["best"]
    print(f"\nbest: trial {best['trial']} ({describe_trial(best)}), val_loss {best['val_loss']:.4f} nats/char; "
          f"checkpoint {best.get('checkpoint')}")
    print(f"results: {report['results_path']}")
    return 0


def entry():
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover - python -m tfcharrnn.cli.sweep ...
    entry()
