"""When a run stops: the stop rules, and Ctrl-C / SIGTERM as a flag the loop reads between steps.

    from tfcharrnn.training.stopping import StopFlag, stop_reason
    with StopFlag() as stop:
        ...                                          # a step
        reason = stop_reason(cfg, state, stop.signal, multiworker, agree)   # None: go on

A signal sets a flag; the trainer saves at the next step boundary and exits cleanly (a second
Ctrl-C stops at once). Workers of a multi-worker run agree on when to stop.
"""

from __future__ import annotations

import signal


class StopFlag:
    """SIGINT / SIGTERM set a flag; the loop saves at the next step boundary and exits cleanly."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # a second Ctrl-C: stop right away
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def stop_reason(cfg, state, signal_name, multiworker: bool, agree) -> str | None:
    """Why to stop after this step, or None. Workers of a multi-worker run agree (``agree``, an
    all-reduce) every iters_to_report steps, so all of them stop on the same step."""
    wants_stop = bool(signal_name) or bool(cfg.minutes_limit and state.elapsed_s >= cfg.minutes_limit * 60)
    if multiworker:
        wants_stop = agree(wants_stop) if state.step % cfg.iters_to_report == 0 else False
    if wants_stop and signal_name:
        return f"{signal_name} received"
    if wants_stop and multiworker and not cfg.minutes_limit:
        return "another worker was interrupted"
    if cfg.max_steps and state.step >= cfg.max_steps:
        return f"reached --max_steps {cfg.max_steps}"
    if cfg.patience and state.validations_since_best >= cfg.patience:
        return (f"validation has not improved for {state.validations_since_best} validations (best {state.best_val_loss:.4f} "
                f"at step {state.best_step}); stopped early, --patience 0 trains on")
    if cfg.epoch_limit and state.epoch >= cfg.epoch_limit - 1e-9:
        return f"reached --max_epochs {cfg.epoch_limit:g}"
    if wants_stop and cfg.minutes_limit:
        return f"reached --time_budget {cfg.minutes_limit:g} min" if cfg.time_budget else f"reached the default budget of {cfg.minutes_limit:g} min"
    return None
