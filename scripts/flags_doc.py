"""Write docs/flags.md, the flags reference, from the parsers themselves.

    python scripts/flags_doc.py > docs/flags.md

The installed tools' parsers live in tfcharrnn/cli/flags.py, the benchmark's in
benchmarks/command.py, the serving client's in scripts/serving_client.py (standalone: it needs
nothing of tfcharrnn). This script gathers them, so the library never reaches for the benchmark
or a script; tests/test_flags.py checks the committed file against flags_markdown().
"""

import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository: tfcharrnn and benchmarks

from benchmarks.command import bench_parser  # noqa: E402
from tfcharrnn.cli import flags  # noqa: E402


def serving_client_parser() -> argparse.ArgumentParser:
    """scripts/serving_client.py's own parser, loaded from the file beside this one."""
    spec = importlib.util.spec_from_file_location("serving_client", os.path.join(HERE, "serving_client.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_parser()


# tool -> (script, console command, parser); the order of docs/flags.md
TOOLS = {
    "train": ("scripts/train.py", "tfcharrnn-train", flags.train_parser),
    "sample": ("scripts/sample.py", "tfcharrnn-sample", flags.sample_parser),
    "evaluate": ("scripts/evaluate.py", "tfcharrnn-evaluate", flags.evaluate_parser),
    "export": ("scripts/export.py", "tfcharrnn-export", flags.export_parser),
    "sweep": ("scripts/sweep.py", "tfcharrnn-sweep", flags.sweep_parser),
    "bench": ("scripts/bench.py", None, bench_parser),
}


def documented_default(action) -> str:
    """An action's default as the flags tables write it: "off" for a switch, "(required)", ..."""
    if action.required or not action.option_strings:
        return "(required)"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)):
        return "off"
    value = action.default
    if value is None or value is argparse.SUPPRESS:
        return getattr(action, "doc_default", "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return str(value)


def flag_rows(parser, skip=()):
    """(group title, [(flag, aliases, default, meaning)]) per group with flags, in --help order."""
    for group in parser._action_groups:
        rows = []
        for a in group._group_actions:
            if a.help == argparse.SUPPRESS or "-h" in a.option_strings or a in skip:
                continue
            names = a.option_strings or [(a.metavar or a.dest).upper()]
            meaning = (a.help or "").replace("|", "\\|")
            if a.choices:
                meaning += "; one of " + ", ".join(f"`{c}`" for c in a.choices)
            rows.append((f"`{names[0]}`", ", ".join(f"`{n}`" for n in names[1:]), documented_default(a).replace("|", "\\|"), meaning))
        if rows:
            yield group.title, rows


def inherited_actions(sweep, train):
    """The sweep's actions that are train.py's, unchanged (same names, same default)."""
    same = {(tuple(a.option_strings), a.dest, repr(a.default)) for a in train._actions}
    return {a for a in sweep._actions if (tuple(a.option_strings), a.dest, repr(a.default)) in same}


def _tool_section(title, parser, intro="", skip=()):
    lines = [f"## {title}", "", parser.description or "", ""]
    if intro:
        lines += [intro, ""]
    for group, rows in flag_rows(parser, skip):
        lines += [f"### {group}", "", "| flag | aliases | default | meaning |", "| --- | --- | --- | --- |"]
        lines += [f"| {' | '.join(row)} |" for row in rows]
        lines.append("")
    return lines


def flags_markdown() -> str:
    """docs/flags.md: every tool's flags, grouped as in its --help."""
    lines = [
        "# Command-line flags",
        "",
        "Every tool's flags, grouped as in its `--help`. Generated from the parsers (`tfcharrnn/cli/flags.py`,",
        "`benchmarks/command.py`, `scripts/serving_client.py`); do not edit by hand: after changing a flag run",
        "`python scripts/flags_doc.py > docs/flags.md` (tests/test_flags.py checks this file against the parsers).",
        "A default `off` is a switch left out; `(required)` must be given.",
        "",
    ]
    for tool, (script, command, make) in TOOLS.items():
        parser, intro, skip = make(), "", ()
        if tool == "sweep":
            skip = inherited_actions(parser, flags.train_parser())
            intro = ("Every `scripts/train.py` flag not listed here applies to every trial, with train.py's default; "
                     "below: the swept flags, the sweep's own, and train.py flags whose default differs in a sweep.")
        title = f"{tool}: `{script}`" + (f" (`{command}`)" if command else "")
        lines += _tool_section(title, parser, intro, skip)
    lines += _tool_section("serving client: `scripts/serving_client.py`", serving_client_parser(),
                           "Standalone (it needs nothing of tfcharrnn, to run on another machine): a plain argparse parser, "
                           "declared in the script itself and read from there for this table.")
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(flags_markdown())
