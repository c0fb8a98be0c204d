"""The package where it is installed: a wheel of this checkout in a fresh virtual environment
outside it, and the README's commands through the console scripts, run from another directory.

    python -m pytest -q tests/test_install.py

Lean by design. The wheel is built once (pip wheel without build isolation: this environment's
setuptools) from a copy of what setup.py reads (so nothing is written into the checkout). The
new environment is a plain venv that sees this environment's installed packages through a .pth
file naming a folder of links to them, tfcharrnn's own entries left out (an editable install
points back into the checkout); `pip install --no-index WHEEL` then resolves every requirement
of the wheel against them (a missing or wrong one fails the install) and installs tfcharrnn
alone, in seconds. The commands run with PYTHONPATH dropped, from a temporary directory, with
their own cache directory; a test checks where tfcharrnn comes from and that the checkout's
benchmark cannot be imported.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import types
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("train", "sample", "evaluate", "export", "sweep")
PAGE = ("index.html", "app.js", "sampler.js", "style.css", "package.json", "package-lock.json")
TINY_RUN = ["--embedding_size", "8", "--batch_size", "8", "--seq_length", "16", "--train_path", "keras"]


def _copy_sources(dest):
    """What setup.py builds from: its top-level files, the package, the page (no node_modules)."""
    os.makedirs(dest)
    for name in os.listdir(ROOT):
        if os.path.isfile(os.path.join(ROOT, name)) and not name.startswith("."):
            shutil.copy(os.path.join(ROOT, name), dest)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "*.egg-info")
    shutil.copytree(os.path.join(ROOT, "tfcharrnn"), os.path.join(dest, "tfcharrnn"), ignore=junk)
    shutil.copytree(os.path.join(ROOT, "web"), os.path.join(dest, "web"), ignore=junk)


def _linked_site_packages(dest):
    """A folder of links to this environment's installed packages, tfcharrnn's own entries left out."""
    os.makedirs(dest)
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for name in os.listdir(folder):
            if not name.startswith(("tfcharrnn", "__editable__")) and not os.path.exists(os.path.join(dest, name)):
                os.symlink(os.path.join(folder, name), os.path.join(dest, name))


def _check(proc, what):
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed in a fresh venv; .run(tool, *args) runs tfcharrnn-TOOL in a directory outside the checkout."""
    base = tmp_path_factory.mktemp("install")
    _copy_sources(str(base / "src"))
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", str(base / "src"), "--no-deps", "--no-build-isolation",
                           "-w", str(base / "dist"), "-q"], capture_output=True, text=True, timeout=300), "pip wheel")
    (wheel,) = glob.glob(str(base / "dist" / "tfcharrnn-*.whl"))
    venv = base / "venv"
    _check(subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True, timeout=120), "venv")
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
    _linked_site_packages(str(base / "deps"))
    with open(os.path.join(purelib, "tfcharrnn_test_deps.pth"), "w", encoding="utf-8") as f:
        f.write(str(base / "deps") + "\n")
    _check(subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "-q", wheel],
                          capture_output=True, text=True, timeout=300), "pip install --no-index WHEEL")
    work = base / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TFCHARRNN_LITERT_JS")}
    env.update(TFCHARRNN_CACHE=str(base / "cache"), TF_CPP_MIN_LOG_LEVEL="2", PYTHONIOENCODING="utf-8")

    def run(tool, *args, **kwargs):
        command = [python, *args] if tool == "python" else [str(venv / "bin" / f"tfcharrnn-{tool}"), *args]
        return subprocess.run(command, cwd=str(work), env={**env, **kwargs.pop("env", {})}, capture_output=True, text=True,
                              timeout=600, **kwargs)

    return types.SimpleNamespace(wheel=wheel, venv=str(venv), python=python, work=str(work), cache=str(base / "cache"), run=run)


@pytest.fixture(scope="module")
def trained(installed):
    """README: `python scripts/train.py` (the bundled Tiny Shakespeare), as tfcharrnn-train, 3 steps of a tiny model."""
    proc = _check(installed.run("train", "--max_steps", "3", "--sample_every", "0", "--hidden_size", "16", "--num_layers", "1", *TINY_RUN),
                  "tfcharrnn-train")
    assert "done: step 3" in proc.stdout and os.path.isfile(os.path.join(installed.work, "cv", "latest.json"))
    return installed


def test_the_wheel_ships_the_package_its_text_and_the_page_not_the_checkouts_tools(installed):
    with zipfile.ZipFile(installed.wheel) as z:
        names = set(z.namelist())
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "tfcharrnn/assets/tinyshakespeare.txt" in names and "tfcharrnn/api.py" in names
    assert {f"tfcharrnn/assets/web/{name}" for name in PAGE} <= names
    assert not [n for n in names if n.split("/")[0] in ("benchmarks", "scripts", "tests", "web") or "node_modules" in n]
    assert all(f"tfcharrnn-{tool} = tfcharrnn.cli.{tool}:entry" in entry_points for tool in TOOLS)
    assert all(os.path.isfile(os.path.join(installed.venv, "bin", f"tfcharrnn-{tool}")) for tool in TOOLS)


def test_nothing_comes_from_the_checkout(installed):
    probe = ("import importlib.util, sys, tfcharrnn, tfcharrnn.web as web\n"
             "print(tfcharrnn.__file__); print(web.page_dir()); print('tensorflow' in sys.modules)\n"
             "print(importlib.util.find_spec('benchmarks')); print('\\n'.join(sys.path))")
    lines = _check(installed.run("python", "-c", probe), "the import probe").stdout.splitlines()
    site = os.path.realpath(installed.venv)
    assert os.path.realpath(lines[0]).startswith(site) and os.path.realpath(lines[1]).startswith(site), lines
    assert lines[2] == "False", "import tfcharrnn imported TensorFlow"
    assert lines[3] == "None", "the checkout's benchmarks/ is importable from the installed environment"
    assert not [p for p in lines[4:] if p and os.path.realpath(p).startswith(os.path.realpath(ROOT))], lines[4:]


def test_sample_and_evaluate(trained):
    out = _check(trained.run("sample", "cv/", "--prime", "ROMEO:", "--length", "50", "--temperature", "0.8"), "tfcharrnn-sample").stdout
    assert out.startswith("ROMEO:") and len(out.rstrip("\n")) >= 50
    with open(os.path.join(trained.work, "held_out.txt"), "w", encoding="utf-8") as f:
        f.write("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20)
    out = _check(trained.run("evaluate", "cv/", "held_out.txt"), "tfcharrnn-evaluate").stdout
    assert "nats/char" in out and "bits/char" in out


def test_export_savedmodel_tflite_and_web_page(trained):
    """README: export (SavedModel + .tflite, --web), then sample the .tflite; the runtime from --litert_js."""
    runtime = os.path.join(ROOT, "web")
    if not os.path.isfile(os.path.join(runtime, "node_modules", "@litertjs", "core", "package.json")):
        pytest.fail("the LiteRT.js runtime is missing from web/node_modules; npm ci --prefix web (see .ci/run)")
    out = _check(trained.run("export", "cv/", "--name", "shakespeare", "--web", "--litert_js", runtime), "tfcharrnn-export").stdout
    version = os.path.join(trained.work, "saved_models", "shakespeare", "1")
    tflite = os.path.join(version, "assets.extra", "shakespeare.tflite")
    page = os.path.join(version, "assets.extra", "web")
    assert os.path.isfile(os.path.join(version, "saved_model.pb")) and os.path.isfile(tflite), out
    assert {"index.html", "app.js", "sampler.js", "style.css", "model.json", "shakespeare.tflite"} <= set(os.listdir(page))
    assert os.path.isfile(os.path.join(page, "litert", "wasm", "litert_wasm_compat_internal.wasm"))
    with open(os.path.join(page, "sampler.js"), encoding="utf-8") as shipped, open(os.path.join(ROOT, "web", "sampler.js"), encoding="utf-8") as source:
        assert shipped.read() == source.read()
    out = _check(trained.run("sample", os.path.relpath(tflite, trained.work), "--length", "40", "--prime", "ROMEO:"), "tfcharrnn-sample .tflite").stdout
    assert out.startswith("ROMEO:")


def test_web_export_without_the_runtime_names_the_npm_command(trained):
    """No runtime where an installed tfcharrnn looks (~/.cache/tfcharrnn/litert-js): one line, exit 2, nothing written."""
    proc = trained.run("export", "cv/", "--name", "nopage", "--web")
    lines = proc.stderr.strip().splitlines()
    expected = os.path.join(trained.cache, "litert-js")
    with open(os.path.join(ROOT, "web", "package-lock.json"), encoding="utf-8") as f:
        lock = json.load(f)["packages"]
    pins = " ".join(f"{name}@{lock['node_modules/' + name]['version']}" for name in ("@litertjs/core", "@litertjs/wasm-utils"))
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: the LiteRT.js runtime is not installed") and lines[0].endswith(
        f"run: npm install --prefix {expected} {pins}"), lines[0]
    assert not os.path.exists(os.path.join(trained.work, "saved_models", "nopage"))


def test_sweep(installed):
    with open(os.path.join(installed.work, "small.txt"), "w", encoding="utf-8") as f, open(
            os.path.join(ROOT, "tfcharrnn", "assets", "tinyshakespeare.txt"), encoding="utf-8") as text:
        f.write(text.read(20_000))
    proc = _check(installed.run("sweep", "--hidden_size", "8,16", "--num_layers", "1", "--dropout", "0", "--learning_rate", "0.01",
                                "--max_steps", "2", "--time_budget", "0", "--train_data", "small.txt", "--sweep_dir", "sweeps", *TINY_RUN),
                  "tfcharrnn-sweep")
    assert "best: trial" in proc.stdout and os.path.isfile(os.path.join(installed.work, "sweeps", "sweep.json"))
