"""One source of truth for flags: docs/flags.md and any flag table in the docs match the parsers.

    python -m pytest -q tests/test_flags.py          # fast: no TensorFlow imported

docs/flags.md is generated (python scripts/flags_doc.py > docs/flags.md) and must be exactly
what the parsers produce. Any other flag table in README.md or docs/*.md must list exactly the
flags of the tool it documents, with the parser's defaults. The rules the check follows:

- A flag table is a markdown table whose header has a column named "flag..." (flag, flags,
  "flag (aliases)") and a column named "default". (The README's table of training runs, whose
  first column holds whole command lines, has no "default" column: it is not a flag table.)
- Its tool is the last `scripts/NAME.py` (or `tfcharrnn-NAME`) mentioned in the file before the
  table: the heading "Flags reference: `scripts/train.py`", or a code block of example commands.
- In the flag column, the first `--name` in backticks is the flag (`--name NAME` counts as
  `--name`); later backticked `--names` in the cell are its aliases; "a / b" holds two flags (the
  default cell is split the same way when it has as many parts, else applies to both). Rows
  without a `--flag` (positional arguments such as `CHECKPOINT`) are not checked.
- Aliases are checked when the table shows them (a header that mentions "alias").
- A default cell is normalised: backticks and bold dropped; a trailing remark in parentheses
  dropped ("10 (none with `--time_budget`)" -> "10", "0 (= seq_length)" -> "0", "0 (off)" ->
  "0"), unless the whole cell is one, such as "(required)". Then: numbers compare as numbers
  (5e-3 == 0.005); a switch (--flag with no value) is "off" or empty; true/false compare with a
  true/false flag; "(required)" means a required flag; a list is "1,2,3". A flag whose parser
  default is None or "" may be described in words ("bundled Tiny Shakespeare", "random
  character", "highest existing + 1"); when it has a documented default (doc_default on the
  action, as --max_epochs: "10 (0 with --time_budget)"), that is the value the cell must give.
"""

import argparse
import glob
import importlib.util
import os
import re

import pytest

from tfcharrnn.cli import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_MD = os.path.join(ROOT, "docs", "flags.md")

# scripts/flags_doc.py, the generator of docs/flags.md (a script, not a module of the package)
_spec = importlib.util.spec_from_file_location("flags_doc", os.path.join(ROOT, "scripts", "flags_doc.py"))
flags_doc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flags_doc)


def test_flags_md_is_what_the_parsers_produce():
    with open(FLAGS_MD, encoding="utf-8") as f:
        committed = f.read()
    assert committed == flags_doc.flags_markdown(), "docs/flags.md is stale: run python scripts/flags_doc.py > docs/flags.md"


def test_flags_md_lists_every_flag_of_every_tool():
    with open(FLAGS_MD, encoding="utf-8") as f:
        text = f.read()
    for tool, (script, command, make) in flags_doc.TOOLS.items():
        assert f"`{script}`" in text and (command is None or f"`{command}`" in text)
        section = text.split(f"## {tool}: ", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"^\| `(--[\w-]+)`", section, re.M))
        parser = make()
        shared = flags_doc.inherited_actions(parser, flags.train_parser()) if tool == "sweep" else set()  # not repeated
        names = {a.option_strings[0] for a in parser._actions if a.option_strings and a.option_strings[0] != "-h" and a not in shared}
        assert names and listed >= names, (tool, names - listed)


# ---------------------------------------------------------------------------------------------
# flag tables elsewhere in the docs


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_tables(text):
    """(line number, header cells, rows of cells, text before the table) for each table in text."""
    lines = text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            start, header, rows = i, _cells(lines[i]), []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            yield start + 1, header, rows, "\n".join(lines[:start])
        else:
            i += 1


def parser_for(before):
    """The tool of a table: the last scripts/NAME.py or tfcharrnn-NAME mentioned before it."""
    names = "|".join([*flags_doc.TOOLS, "serving_client"])
    found = re.findall(rf"(?:scripts/({names})\.py|tfcharrnn-({names})\b)", before)
    if not found:
        return None, None
    tool = next(n for n in found[-1] if n)
    return tool, (flags_doc.serving_client_parser() if tool == "serving_client" else flags_doc.TOOLS[tool][2]())


def flag_tables(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line, header, rows, before in markdown_tables(text):
            lower = [h.lower() for h in header]
            flag_col = next((i for i, h in enumerate(lower) if h.startswith("flag")), None)
            if flag_col is None or "default" not in lower:
                continue
            yield f"{os.path.relpath(path, ROOT)}:{line}", header, flag_col, lower.index("default"), rows, before


def table_entries(rows, flag_col, default_col):
    """[(flag, aliases, default cell)] from a flag table's rows."""
    out = []
    for row in rows:
        parts = row[flag_col].split(" / ")
        defaults = row[default_col].split(" / ") if len(row[default_col].split(" / ")) == len(parts) else [row[default_col]] * len(parts)
        for part, default in zip(parts, defaults):
            names = [span.split()[0] for span in re.findall(r"`([^`]+)`", part) if span.startswith("--")]
            if names:
                out.append((names[0], names[1:], default))
    return out


def normalise(cell):
    cell = cell.replace("`", "").replace("**", "").strip()
    if not (cell.startswith("(") and cell.endswith(")")):
        cell = re.sub(r"\s*\([^()]*\)\s*$", "", cell).strip()
    return cell


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def default_matches(action, cell):
    """Does a (normalised) default cell give this action's default? See the module docstring."""
    value = normalise(cell)
    if action.required:
        return value == "(required)"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)):
        return value in ("", "off")
    default = action.default
    if default is None and hasattr(action, "doc_default"):
        documented = normalise(action.doc_default)
        return value == documented or (_number(value) is not None and _number(value) == _number(documented))
    if isinstance(default, bool):
        return value.lower() == str(default).lower()
    if default is None or default == "":
        return _number(value) is None and value.lower() not in ("true", "false")
    if isinstance(default, (list, tuple)):
        return [_number(v) for v in value.split(",")] == [float(v) for v in default]
    if isinstance(default, (int, float)):
        return _number(value) is not None and _number(value) == float(default)
    return value == str(default)


def check_table(where, header, flag_col, default_col, rows, parser):
    """Problems of one flag table against its parser (empty: it is accurate)."""
    actions = {a.option_strings[0]: a for a in parser._actions if a.option_strings and a.option_strings[0] != "-h"}
    entries = table_entries(rows, flag_col, default_col)
    listed = [name for name, _, _ in entries]
    problems = [f"{where}: {parser.prog} has {name}, the table does not list it" for name in actions if name not in listed]
    problems += [f"{where}: {name} is not a flag of {parser.prog}" for name in listed if name not in actions]
    problems += [f"{where}: {name} is listed twice" for name in set(listed) if listed.count(name) > 1]
    with_aliases = any("alias" in h.lower() for h in header)
    for name, aliases, cell in entries:
        action = actions.get(name)
        if action is None:
            continue
        if with_aliases and sorted(aliases) != sorted(action.option_strings[1:]):
            problems.append(f"{where}: {name} aliases {aliases}, the parser's {action.option_strings[1:]}")
        if not default_matches(action, cell):
            problems.append(f"{where}: {name} default {cell!r}, the parser's {flags_doc.documented_default(action)!r}")
    return problems


def doc_paths():
    return [os.path.join(ROOT, "README.md")] + sorted(p for p in glob.glob(os.path.join(ROOT, "docs", "*.md")) if p != FLAGS_MD)


def test_flag_tables_in_the_docs_match_the_parsers():
    problems = []
    for where, header, flag_col, default_col, rows, before in flag_tables(doc_paths()):
        _, parser = parser_for(before)
        if parser is None:
            problems.append(f"{where}: a flag table, but no scripts/NAME.py is named before it to say whose flags")
            continue
        problems += check_table(where, header, flag_col, default_col, rows, parser)
    assert not problems, "\n".join(problems)


# the checker itself, on made-up tables


SAMPLE_TABLE = """Run `scripts/sample.py`:

| flag (aliases) | default | meaning |
| --- | --- | --- |
| `CHECKPOINT` | | the model |
| `--length` | 2000 | characters |
| `--prime` (`--primetext`, `--start`) | random character | text |
| `--num_samples` | 1 | samples |
| `--print_prime` | true | print it |
| `--stop` | none | stop strings |
| `--temperature` | 1.0 | t |
| `--top_k` | 0 (off) | k |
| `--top_p` | 1.0 (off) | p |
| `--greedy` (`--sample0`) | off | argmax |
| `--seed` | 123 | seed |
| `--cpu` | | hide GPUs |
"""


def _problems(text, tmp_path):
    path = tmp_path / "t.md"
    path.write_text(text, encoding="utf-8")
    out = []
    for where, header, flag_col, default_col, rows, before in flag_tables([str(path)]):
        out += check_table(where, header, flag_col, default_col, rows, parser_for(before)[1])
    return out


def test_the_checker_passes_an_accurate_table(tmp_path):
    assert _problems(SAMPLE_TABLE, tmp_path) == []


@pytest.mark.parametrize("old, new, problem", [
    ("| `--seed` | 123 |", "| `--seed` | 7 |", "--seed default '7'"),
    ("| `--cpu` | | hide GPUs |\n", "", "has --cpu, the table does not list it"),
    ("| `--cpu` |", "| `--gpu` |", "--gpu is not a flag"),
    ("(`--primetext`, `--start`)", "(`--primetext`)", "--prime aliases"),
    ("| `--print_prime` | true |", "| `--print_prime` | false |", "--print_prime default"),
    ("| `--prime` (`--primetext`, `--start`) | random character |", "| `--prime` (`--primetext`, `--start`) | 3 |", "--prime default"),
])
def test_the_checker_finds_a_wrong_table(tmp_path, old, new, problem):
    assert old in SAMPLE_TABLE
    problems = _problems(SAMPLE_TABLE.replace(old, new), tmp_path)
    assert any(problem in p for p in problems), problems


def test_normalised_defaults():
    p = flags.train_parser()
    by_name = {a.option_strings[0]: a for a in p._actions if a.option_strings}
    assert default_matches(by_name["--time_budget"], "12 (none with another stop flag)")
    assert not default_matches(by_name["--time_budget"], "0") and not default_matches(by_name["--max_epochs"], "10")
    assert default_matches(by_name["--hidden_size"], "recipe") and not default_matches(by_name["--hidden_size"], "256")
    assert default_matches(by_name["--min_lr_frac"], "5e-2") and default_matches(by_name["--stride"], "0 (= seq_length)")
    assert default_matches(by_name["--train_data"], "bundled Tiny Shakespeare") and not default_matches(by_name["--train_data"], "5")
    assert default_matches(by_name["--resume"], "off") and default_matches(by_name["--tensorboard"], "true")
    assert default_matches(by_name["--checkpoint_dir"], "`cv`") and not default_matches(by_name["--checkpoint_dir"], "runs")
    s = {a.option_strings[0]: a for a in flags.sweep_parser()._actions if a.option_strings}
    assert default_matches(s["--hidden_size"], "128,256,512") and default_matches(s["--max_epochs"], "0")
