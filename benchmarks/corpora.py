"""The quality race's corpora: one text file each, the same characters on every run of this machine.

    from benchmarks.corpora import CORPORA, corpus_file
    path = corpus_file("code", "/tmp")                      # the file every peer reads
    path = corpus_file("chinese", "/tmp", max_chars=30_000)  # its first 30,000 characters (smoke runs)

  shakespeare  the bundled Tiny Shakespeare (tfcharrnn.data.BUNDLED): 1,115,394 characters, 65 distinct
  code         this Python's standard library: the sorted top-level *.py files of
               sysconfig.get_paths()["stdlib"], each after a line naming it, whole files until
               about 2,000,000 characters (written once under the temporary directory)
  chinese      Debian's fortunes-zh (/usr/share/games/fortunes/chinese: prose and poems, about
               5,960 distinct characters), its ANSI colour escapes (ESC [ ... m) removed, the rest
               kept as is: about 967,000 characters (apt-get install fortunes-zh)

Every peer reads the file with tfcharrnn.data.load_corpus(path, val_frac=0.1): the last 10% is
the validation text. A written file is reused when its ".ok" marker is there (written last).
"""

from __future__ import annotations

import glob
import os
import re
import sysconfig

from tfcharrnn.errors import UserError

CODE_CHARS = 2_000_000
FORTUNES_ZH = "/usr/share/games/fortunes/chinese"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
CORPORA = ("shakespeare", "code", "chinese")


def check_available(names) -> None:
    """UserError (one line) for an unknown corpus name or a missing source file."""
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        raise UserError(f"unknown corpus {', '.join(unknown)}; known: {', '.join(CORPORA)}")
    if "chinese" in names and not os.path.isfile(FORTUNES_ZH):
        raise UserError(f"the chinese corpus needs {FORTUNES_ZH}; install it: apt-get install fortunes-zh")


def code_text(limit: int = CODE_CHARS) -> str:
    """The standard library's top-level modules in name order, whole files until ``limit`` characters."""
    parts, size = [], 0
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py"))):
        if size >= limit:
            break
        with open(path, encoding="utf-8") as f:
            text = f.read()
        part = f"# ===== {os.path.basename(path)} =====\n{text}" + ("" if text.endswith("\n") else "\n")
        parts.append(part)
        size += len(part)
    return "".join(parts)


def chinese_text() -> str:
    with open(FORTUNES_ZH, encoding="utf-8") as f:
        text = f.read()
    while True:  # the file nests a few escapes inside others ("ESC[;ESC[34;1mm"): strip until none is left
        stripped = ANSI_COLOUR.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _shakespeare_text() -> str:
    from tfcharrnn.data import BUNDLED

    with open(BUNDLED, encoding="utf-8") as f:
        return f.read()


def corpus_text(name: str) -> str:
    check_available([name])
    return {"shakespeare": _shakespeare_text, "code": code_text, "chinese": chinese_text}[name]()


def corpus_file(name: str, tmp_dir: str, max_chars: int | None = None) -> str:
    """The path of corpus ``name`` (its first ``max_chars`` characters when given), written once."""
    if name == "shakespeare" and not max_chars:
        from tfcharrnn.data import BUNDLED

        return BUNDLED
    check_available([name])
    folder = os.path.join(tmp_dir, "tfcharrnn-quality-corpora")
    tag = "py" + sysconfig.get_python_version() if name == "code" else ""  # the stdlib differs by Python version
    path = os.path.join(folder, "-".join(filter(None, [name, tag, f"first{max_chars}" if max_chars else ""])) + ".txt")
    if os.path.exists(path) and os.path.exists(path + ".ok"):
        return path
    text = corpus_text(name)[:max_chars] if max_chars else corpus_text(name)
    os.makedirs(folder, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    open(path + ".ok", "w").close()
    return path


def describe(path: str) -> dict:
    """Characters, distinct characters and the SHA-256 of a corpus file (bench.json records them)."""
    import hashlib

    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    return {"path": path, "chars": len(text), "distinct": len(set(text)), "sha256": hashlib.sha256(data).hexdigest()}
