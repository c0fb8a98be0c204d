"""The recipe: the model's width and its regularisation, chosen from the budget and the corpus.

    from tfcharrnn.training.recipe import resolve
    cfg, why = resolve(cfg, train_chars=1_003_855, vocab_size=65)   # every field left None filled in
    print(why)   # recipe: hidden_size 384, num_layers 2, dropout 0.1, ..., optimizer muon (for 15 min on 1M training characters: ...)

What a character model should be depends on how much it can see: a short budget wants a small
model that learns fast, held back only by weight decay (dropout would slow it more than a few
passes over the text can overfit); a long budget on the same text wants a wider model, and then
dropout and weight drop as well, or it memorises the text (training loss falling, validation
rising). So the trainer picks them, the optimizer that trains that model best and its rate:

- the width from the time budget (a wider model needs more minutes to pay off):
  WIDTHS below; a run limited only by epochs or steps gets the narrowest;
- the embedding's width (EMBEDDING below);
- the regularisers and the optimizer from the passes over the training text the run can make:
  the budget times the speed a model of that width reaches on a 2-core CPU (REFERENCE_MACS_PER_S,
  in multiply-adds per second, over the model's multiply-adds per character), or --max_epochs:
  BY_PASSES below;
- the peak learning rate and the weights' average from the optimizer (LEARNING_RATES, AVERAGE_MOMENTA below).

The estimate does not time this machine, so one command gives one model on every machine; on a
faster machine the same run sees more epochs, and early stopping (--patience) guards it. Every
flag given explicitly wins over the recipe (a field left None is the recipe's to choose; a
resumed run's optimizer, rate, average and model are its checkpoint's, filled in before:
training.state.optimiser_defaults, training.finetune.resumed); the model kind and the skip
connections, when not given, are FIXED's.
"""

from __future__ import annotations

import dataclasses
import math

# (budget minutes below which, hidden size): the first whose bound exceeds the budget. Measured on
# Tiny Shakespeare at equal minutes: 3 minutes, 2x256 1.4699 against 2x192 1.4844; 15 minutes,
# 2x384 1.4183 against 2x512 1.4256 (docs/performance.md, quality).
WIDTHS = ((6.0, 256), (30.0, 384), (math.inf, 512))
# Two layers: deeper at the same multiply-adds per character did not pay (3 minutes: 3x192 +0.004 / -0.012
# against 2x256 over two seeds, 4x160 -0.005; 15 minutes: 3x288 level with 2x384, 1.3599 against 1.3575).
NUM_LAYERS = 2
# (expected epochs below which, (dropout, weight_drop, weight_decay, optimizer)). Below 7 passes dropout and
# weight drop only slow learning (5.6 epochs of 2x256: dropout 0.1 1.4960, 0.2 1.5088, none 1.4699;
# 3 minutes, weight drop 0.1: 1.4721 against 1.4682), weight decay does not (3 minutes: 0.05 1.4556,
# 0.1 1.4446, 0.2 1.4367, 0.3 1.4546; 0.1 keeps away from that edge on texts that overfit less), and
# Muon helps one corpus and costs another (English -0.010 / -0.022, code +0.016), so Adam. From 7
# passes, AWD-LSTM's three with Adam, at the strength that gave 1.4183 (13 epochs) and 1.3936 (26
# epochs) at 2x384, and 1.1048 on the code corpus at 15 minutes (7 epochs), where Muon with dropout
# 0.1 and no weight drop scored 1.1136. From 10 to 30, that Muon: at 15 minutes on Tiny Shakespeare
# (12 epochs) best 1.3990 / 1.3992 (two seeds) against Adam's 1.4135 / 1.4119, while Adam with the
# lighter dropout overfits (1.4267). The bound of 10 lies between those two measurements. Its weight
# decay 0.3: at 15 minutes 0.05 / 0.1 / 0.2 scored 1.3990 / 1.3797 / 1.3659 (seed 7: 1.3992 / 1.3875 /
# 1.3729), and with skip connections 0.2 / 0.3 1.3696 / 1.3632 (seed 7: 0.3 1.3530), where weight drop
# (-0.010 / -0.001 / +0.003 over three pairs) and dropout 0.15 (1.3968; with skip connections 1.3695)
# moved less than a run's spread (docs/performance.md, quality).
# From 30, AWD-LSTM's three at full strength, with Adam (1.3936 at 26).
BY_PASSES = ((7.0, (0.0, 0.0, 0.1, "adam")), (10.0, (0.25, 0.1, 0.05, "adam")), (30.0, (0.1, 0.0, 0.3, "muon")),
             (math.inf, (0.3, 0.15, 0.1, "adam")))
# A 2-layer LSTM's training speed on a 2-core CPU, start-up and validation included, set at the
# slow end of what was measured on the Intel Xeon (AVX-512) reference: 2x256 with a 65-character
# vocabulary (~0.8M multiply-adds per character) averaged ~31,000 chars/s over a 3-minute run on a
# busy machine (5.6 epochs of Tiny Shakespeare) and ~39,000 on a quiet one (7.0 epochs); 2x384
# (~1.8M) ~17,000 over 15 minutes (15.5 epochs). So the estimate (6.0 and 13.5 epochs) is low on
# a quiet machine of that kind; early stopping guards the runs that make more passes.
REFERENCE_MACS_PER_S = 2.7e10

# The embedding's width, for every vocabulary: 256, its vectors starting as long as at 64 wide (model.embedding_stddev).
# At 3 minutes, against 64 (two seeds each): Tiny Shakespeare (65 characters) -0.016 / -0.003, the code corpus (101)
# +0.001 / -0.008, Chinese fortunes (5,964, which 64 numbers tell apart poorly) -0.10 / -0.20 with N(0, 1) vectors,
# and the shorter ones level with those (4.7685 against 4.7933) (docs/performance.md, quality).
EMBEDDING = 256

# The peak learning rate, by the optimizer (the recipe's or the flag's). Muon's: 15 minutes on Tiny Shakespeare at 2x384
# (seed 7, AMD EPYC): 0.005 / 0.007 / 0.01 ended at 1.3586 / 1.3500 / 1.3471, the higher rates behind while they are
# held (1.3829 / 1.3941 / 1.4023 at step 2,000) and ahead after the fall; seed 123 at 0.01 1.3484 against 1.3569.
# Adam's: at 3 minutes (2x256) 0.004 scored 1.4283 against 0.005's 1.4255 (docs/performance.md, quality).
LEARNING_RATES = {"adam": 5e-3, "muon": 1e-2}
# The weights validated, sampled and saved: their moving average over about the last 1 / (1 - m) steps (the last fifth
# of the steps until then: training.averaging), by the optimizer, its span covering the end of the rate's fall and not
# the high rate before it. At 5e-3 (Adam; Muon before 2026-12-06 night): at the end of the 3-minute race 0.004-0.009
# nats/char below the raw weights (English, code, Chinese); at 15 minutes 0.998 (500 steps) 0.006 and 0.001 below 0.995
# (two seeds), 1,000 steps 0.008 worse. Muon at 1e-2, whose fall starts from twice the rate: at 15 minutes (seed 123)
# the last 100 steps' average scored 1.3434, 50 / 200 / 500 steps 1.3444 / 1.3474 / 1.3688, the raw weights 1.3484
# (docs/performance.md, quality). Every run logs both; its last checkpoint keeps the better.
AVERAGE_MOMENTA = {"adam": 0.998, "muon": 0.99}

CHOSEN = ("hidden_size", "num_layers", "embedding_size", "dropout", "weight_drop", "weight_decay", "optimizer")
# The fields the recipe does not vary: their values when not given (a fine-tuned model brings its own).
FIXED = {"model": "lstm", "skip_connections": True}
# An LSTM gets multiplicative integration (config.ModelFields) from this width, where the fused CPU loops run it (a GPU
# keeps the plain LSTM, which cuDNN runs). 15 minutes on Tiny Shakespeare at 2x384, two seeds: 1.3526 / 1.3527 against
# the plain LSTM's 1.3568 / 1.3649, with ~7% fewer steps; 3 minutes at 2x256 (Adam): 1.4134 against 1.4068, its steps
# ~25% slower there (docs/performance.md, quality).
INTEGRATION_FROM_WIDTH = 384


def macs_per_char(model: str, hidden: int, layers: int, vocab_size: int, skip_connections: bool) -> int:
    """Multiply-adds per character of a forward step: the first layer's input is not counted (the
    fused loops project the embedding table once per step, or for a vocabulary of thousands each
    character's row: little beside the rest), each deeper layer reads the one below it, and the
    output layer reads every layer (skip connections) or the top one."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[model]
    read = layers if skip_connections else 1
    return gates * hidden * hidden + (layers - 1) * gates * hidden * 2 * hidden + read * hidden * vocab_size


def width_for(minutes: float) -> int:
    if not minutes:
        return WIDTHS[0][1]
    return next(width for bound, width in WIDTHS if minutes < bound)


def for_passes(epochs: float) -> tuple:
    return next(values for bound, values in BY_PASSES if epochs < bound)


def expected_epochs(cfg, hidden: int, layers: int, train_chars: int, vocab_size: int) -> float:
    """Passes over the training text: --max_epochs, or the budget at the reference speed (the smaller)."""
    estimates = [cfg.epoch_limit] if cfg.epoch_limit else []
    chars_per_s = REFERENCE_MACS_PER_S / macs_per_char(cfg.model, hidden, layers, vocab_size, cfg.skip_connections)
    if cfg.minutes_limit:
        estimates.append(cfg.minutes_limit * 60 * chars_per_s / max(train_chars, 1))
    if cfg.max_steps:
        estimates.append(cfg.max_steps * cfg.batch_size * cfg.seq_length / max(train_chars, 1))
    return min(estimates) if estimates else 0.0


def with_rate_and_average(cfg):
    """``cfg`` with its peak learning rate and its average's momentum: the flags' (or a resumed checkpoint's), else
    its optimizer's."""
    rate = LEARNING_RATES[cfg.optimizer] if cfg.learning_rate is None else cfg.learning_rate
    momentum = AVERAGE_MOMENTA[cfg.optimizer] if cfg.ema_momentum is None else cfg.ema_momentum
    return dataclasses.replace(cfg, learning_rate=rate, ema_momentum=momentum)


def resolve(cfg, train_chars: int, vocab_size: int, gpu: bool = False):
    """``cfg`` with every recipe field that is None chosen: (TrainConfig, the start-up line saying
    what was chosen and why; "" when every field was given). ``gpu``: a GPU will run the layers."""
    cfg = dataclasses.replace(cfg, **{name: value for name, value in FIXED.items() if getattr(cfg, name) is None})
    hidden = cfg.hidden_size if cfg.hidden_size is not None else width_for(cfg.minutes_limit)
    if cfg.multiplicative_integration is None:
        cfg = dataclasses.replace(cfg, multiplicative_integration=cfg.model == "lstm" and not gpu and hidden >= INTEGRATION_FROM_WIDTH)
    chosen = [name for name in CHOSEN if getattr(cfg, name) is None]
    if not chosen:
        return with_rate_and_average(cfg), ""
    layers = cfg.num_layers if cfg.num_layers is not None else NUM_LAYERS
    epochs = expected_epochs(cfg, hidden, layers, train_chars, vocab_size)
    dropout, weight_drop, weight_decay, optimizer = for_passes(epochs)
    values = {"hidden_size": hidden, "num_layers": layers, "embedding_size": EMBEDDING, "dropout": dropout,
              "weight_drop": weight_drop, "weight_decay": weight_decay, "optimizer": optimizer}
    cfg = with_rate_and_average(dataclasses.replace(cfg, **{name: values[name] for name in chosen}))
    budget = f"{cfg.minutes_limit:g} min" if cfg.minutes_limit else f"{cfg.epoch_limit:g} epochs" if cfg.epoch_limit else f"{cfg.max_steps} steps"
    picked = ", ".join(f"{name} {values[name]:g}" if name != "optimizer" else f"optimizer {optimizer}" for name in chosen)
    why = (f"recipe: {picked} (for {budget} on {train_chars / 1e6:.2g}M training characters: about {epochs:.1f} epochs "
           f"on a 2-core CPU; a flag overrides any of them)")
    return cfg, why
