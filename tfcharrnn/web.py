"""A model in a web browser: a static folder that runs the .tflite with LiteRT.js, offline.

    cd web && npm ci && cd ..                  # once: the pinned LiteRT.js runtime into web/node_modules
    python scripts/export.py cv/ --name shakespeare --web
    python -m http.server --bind 127.0.0.1 8000 -d saved_models/shakespeare/1/assets.extra/web
    # open http://127.0.0.1:8000/

    python -m tfcharrnn.web export cv/ out/web/ --name shakespeare     # any folder, no SavedModel
    python -m tfcharrnn.web bench --out docs/results/web-speed.json    # page vs Python chars/s (Chromium)

    from tfcharrnn.web import export_web
    info = export_web(model, vocab, "out/web", name="shakespeare")    # a Keras CharRNN and its Vocabulary

The folder holds the page (index.html, app.js, style.css), the sampler module an app can lift
as is (sampler.js: the port of tfcharrnn.litert_sampler), NAME.tflite converted with a fixed
batch of 1 (LiteRT.js 2.5.3 refuses a dynamic dimension and cannot resize), NAME.vocab.json,
model.json (what the page loads) and the LiteRT.js runtime under litert/: its ES modules and
the two WebAssembly builds the loader picks between (relaxed SIMD, or the compat one). They
are copied from web/node_modules, which `npm ci` installs from the committed web/package.json
and package-lock.json (@litertjs/core pinned exactly). Nothing is fetched at run time.

Like the SavedModel exporter, the folder is written under a temporary name beside its final
place and renamed when complete.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from tfcharrnn.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB_DIR_ENV = "TFCHARRNN_WEB_DIR"
PAGE_FILES = ("index.html", "app.js", "sampler.js", "style.css")
CORE = "node_modules/@litertjs/core"
UTILS = "node_modules/@litertjs/wasm-utils"
# destination in the exported folder -> source under web/
RUNTIME_FILES = {
    "litert/core/index.js": f"{CORE}/dist/index.js",
    "litert/core/package.json": f"{CORE}/package.json",
    "litert/wasm-utils/index.js": f"{UTILS}/dist/index.js",
    "litert/wasm-utils/package.json": f"{UTILS}/package.json",
    # loadLiteRt(dir) picks the first pair where the browser has relaxed SIMD, else the second.
    # The threaded build needs cross-origin isolation headers a plain static server does not send.
    "litert/wasm/litert_wasm_internal.js": f"{CORE}/wasm/litert_wasm_internal.js",
    "litert/wasm/litert_wasm_internal.wasm": f"{CORE}/wasm/litert_wasm_internal.wasm",
    "litert/wasm/litert_wasm_compat_internal.js": f"{CORE}/wasm/litert_wasm_compat_internal.js",
    "litert/wasm/litert_wasm_compat_internal.wasm": f"{CORE}/wasm/litert_wasm_compat_internal.wasm",
}
MANIFEST = "model.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections are refused on a closed
# network and it logs errors; --disable-gpu: WebAssembly on the CPU is what the page uses.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


# ---------------------------------------------------------------------------------------------
# the runtime files


def web_source_dir(web_dir: str | None = None) -> str:
    """The repo's web/ folder (or $TFCHARRNN_WEB_DIR): page sources and node_modules."""
    return os.path.abspath(web_dir or os.environ.get(WEB_DIR_ENV) or os.path.join(REPO, "web"))


def litert_version(web_dir: str | None = None) -> str:
    """The pinned @litertjs/core version (web/package.json)."""
    with open(os.path.join(web_source_dir(web_dir), "package.json"), encoding="utf-8") as f:
        return json.load(f)["dependencies"]["@litertjs/core"]


def check_runtime(web_dir: str | None = None) -> dict:
    """{destination: source path} of every file a web export copies; UserError if one is missing.

    Cheap (no TensorFlow): scripts/export.py --web calls it before writing anything.
    """
    src = web_source_dir(web_dir)
    shown = os.path.relpath(src) if not os.path.relpath(src).startswith("..") else src
    files = {name: os.path.join(src, name) for name in PAGE_FILES}
    if not all(os.path.isfile(p) for p in files.values()) or not os.path.isfile(os.path.join(src, "package.json")):
        raise UserError(f"{shown!r} does not hold the web page sources ({', '.join(PAGE_FILES)}, package.json); "
                        f"run from a tfcharrnn checkout or set {WEB_DIR_ENV} to its web/ folder")
    files.update({dest: os.path.join(src, rel) for dest, rel in RUNTIME_FILES.items()})
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise UserError(f"the LiteRT.js runtime files are missing ({os.path.relpath(missing[0], os.path.dirname(src))} "
                        f"and {len(missing) - 1} more); run npm ci in {shown}/")
    pinned = litert_version(src)
    with open(os.path.join(src, CORE, "package.json"), encoding="utf-8") as f:
        installed = json.load(f)["version"]
    if installed != pinned:
        raise UserError(f"{shown}/node_modules holds @litertjs/core {installed} but {shown}/package.json pins {pinned}; "
                        f"run npm ci in {shown}/")
    return files


# ---------------------------------------------------------------------------------------------
# the export


def export_web(model, vocab, out_dir, *, name: str = "model", quantize=None, overwrite: bool = False,
               web_dir: str | None = None, source: str | None = None, log=None) -> dict:
    """Write the static folder ``out_dir`` (see the module docstring); return what was written.

    quantize: as tfcharrnn.tflite_export.export_tflite (None, "dynamic", "float16").
    Returns {"path", "tflite", "vocab_path", "manifest", "size_bytes", "tflite_info"}.
    """
    from tfcharrnn.tflite_export import export_tflite

    log = log or (lambda *_: None)
    if not NAME_RE.match(name or ""):
        raise UserError(f"--name {name!r} is not a usable model name; use letters, digits, '_', '-' or '.', "
                        "starting with a letter or digit (it names the .tflite in the page's folder)")
    files = check_runtime(web_dir)
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not overwrite:
        raise UserError(f"{out_dir!r} already exists; pass overwrite=True (--overwrite) to replace it, or choose another folder")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-web-", dir=parent)
    try:
        t0 = time.perf_counter()
        info = export_tflite(model, vocab, os.path.join(tmp, f"{name}.tflite"), quantize=quantize, batch_size=1)
        for dest, src in files.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, dest)), exist_ok=True)
            shutil.copyfile(src, os.path.join(tmp, dest))
        manifest = {
            "format": "tfcharrnn-web",
            "name": name,
            "model": f"{name}.tflite",
            "vocab": os.path.basename(info["vocab_path"]),
            "wasm": "./litert/wasm/",
            "litert": litert_version(web_dir),
            "config": model.config.to_dict(),
            "vocab_mode": vocab.mode,
            "quantize": info["quantize"],
            "source": source,
        }
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=False)
        umask = os.umask(0)
        os.umask(umask)
        for root, _, _ in os.walk(tmp):  # mkdtemp made 0700: a web server running as another user must read it
            os.chmod(root, 0o777 & ~umask)
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=".old-web-", dir=parent)
            os.rmdir(old)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out_dir) for f in fs)
    log(f"web page written in {time.perf_counter() - t0:.1f}s ({size / 1e6:.1f} MB with the LiteRT.js runtime)")
    return {"path": out_dir, "tflite": os.path.join(out_dir, f"{name}.tflite"),
            "vocab_path": os.path.join(out_dir, manifest["vocab"]), "manifest": os.path.join(out_dir, MANIFEST),
            "size_bytes": size, "tflite_info": {k: v.replace(tmp, out_dir) if isinstance(v, str) else v for k, v in info.items()}}


def web_dir_for_version(version_dir: str) -> str:
    """saved_models/NAME/VERSION -> saved_models/NAME/VERSION/assets.extra/web."""
    return os.path.join(version_dir, "assets.extra", "web")


def export_web_checkpoint(checkpoint: str, out_dir: str, name: str, **kwargs) -> dict:
    """Load a checkpoint (or a run directory's best/latest) and export_web it."""
    from tfcharrnn.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint, with_optimizer=False)
    kwargs.setdefault("source", ck.path)
    return export_web(ck.model, ck.vocab, out_dir, name=name, **kwargs)


# ---------------------------------------------------------------------------------------------
# serving and a browser (tests/test_web.py and bench_web)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would bury the test output
        pass


@contextlib.contextmanager
def serve(directory: str, port: int = 0):
    """A static server for ``directory`` on 127.0.0.1 in a thread: yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=os.fspath(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def launch_chromium(playwright, executable: str = CHROMIUM):
    """Debian's chromium under Playwright (Playwright's own browser download cannot work here)."""
    if not os.path.isfile(executable):
        raise UserError(f"{executable} does not exist; install it (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))


def page_generate(page, prime: str = "", length: int = 300, seed=123, temperature: float = 0.8, top_k: int = 0,
                  top_p: float = 1.0, greedy: bool = False, timeout_ms: float = 120_000) -> dict:
    """Fill the form of an open page, press Generate, wait for the end: -> {"text", "chars", "chars_per_s", "state"}."""
    page.fill("#prime", prime)
    page.fill("#length", str(length))
    page.set_checked("#greedy", greedy)
    if not greedy:
        page.fill("#temperature", repr(float(temperature)))
    page.fill("#top-k", str(top_k))
    page.fill("#top-p", repr(float(top_p)))
    page.fill("#seed", str(seed))
    page.click("#generate")
    page.wait_for_function("['done', 'stopped', 'error'].includes(document.body.dataset.state)", timeout=timeout_ms)
    return page.evaluate("""() => ({text: document.getElementById('generated').textContent,
        chars: Number(document.body.dataset.chars), chars_per_s: Number(document.body.dataset.charsPerS),
        state: document.body.dataset.state, message: document.getElementById('message').textContent})""")


# ---------------------------------------------------------------------------------------------
# speed: the page against the Python reference sampler


def _cpu() -> dict:
    """lscpu's model name and the SIMD flags that decide matrix-vector speed."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"cpu": "unknown"}
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    return {"cpu": fields.get("Model name", "unknown").strip(),
            "cpu_flags": sorted(flags & {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni"})}


def bench_web(hidden_size: int = 256, num_layers: int = 2, num_chars: int = 2000, repeats: int = 5, log=print) -> dict:
    """Characters per second at batch 1: the page in headless Chromium vs litert_sampler (1 thread).

    Random weights (speed does not depend on training), Tiny Shakespeare's 65 characters, an
    empty prime, temperature 1, the same batch-1 .tflite for both. Rounds alternate page and
    Python (the machines are shared and noisy); each side keeps its best. The page's figure is
    what it shows the user (wall clock of its loop, DOM updates and yields to the browser included).
    """
    import keras
    from playwright.sync_api import sync_playwright

    from tfcharrnn import litert_sampler
    from tfcharrnn.config import ModelConfig
    from tfcharrnn.data import BUNDLED
    from tfcharrnn.model import CharRNN
    from tfcharrnn.vocab import Vocabulary

    load_before = os.getloadavg()
    with open(BUNDLED, encoding="utf-8") as f:
        vocab = Vocabulary.from_text(f.read())
    keras.utils.set_random_seed(0)
    model = CharRNN(ModelConfig(vocab_size=vocab.size, model="lstm", hidden_size=hidden_size, num_layers=num_layers))
    with tempfile.TemporaryDirectory(prefix="tfcharrnn-webbench-") as tmp:
        info = export_web(model, vocab, os.path.join(tmp, "web"), name="bench")
        lite = litert_sampler.LiteRTModel(info["tflite"], num_threads=1)
        tflite_bytes = os.path.getsize(info["tflite"])
        page_rates, python_rates = [], []
        with serve(info["path"]) as url, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("document.body.dataset.state === 'ready'", timeout=60_000)
            page_generate(page, length=200, temperature=1.0)  # warm-up
            for r in range(repeats):
                out = page_generate(page, length=num_chars, seed=r, temperature=1.0)
                page_rates.append(out["chars_per_s"])
                python_rates.append(litert_sampler.bench(lite, num_chars, repeats=1, seed=r, temperature=1.0)["chars_per_s"])
                log(f"round {r + 1}: page {page_rates[-1]:,.0f} chars/s, python {python_rates[-1]:,.0f} chars/s")
            chromium_version = browser.version
            browser.close()
    import ai_edge_litert

    best_page, best_python = max(page_rates), max(python_rates)
    return {
        "model": f"{num_layers}x{hidden_size} lstm", "weights": "random (keras seed 0)", "vocab_size": vocab.size,
        "batch": 1, "num_chars": num_chars, "repeats": repeats, "prime": "", "temperature": 1.0,
        "page_chars_per_s": best_page, "python_chars_per_s": best_python, "page_over_python": best_page / best_python,
        "page_rates": page_rates, "python_rates": python_rates, "tflite_bytes": tflite_bytes,
        **_cpu(), "cores": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg(), "chromium": chromium_version, "litertjs": litert_version(),
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"), "python_threads": 1,
        "date": time.strftime("%Y-%m-%d"),
    }


# ---------------------------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tfcharrnn.web", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write the web folder for a checkpoint (no SavedModel needed)")
    e.add_argument("checkpoint")
    e.add_argument("out_dir")
    e.add_argument("--name", default="model")
    e.add_argument("--quantize", default=None, help="none, dynamic (int8) or float16")
    e.add_argument("--overwrite", action="store_true")
    b = sub.add_parser("bench", help="page vs Python LiteRT sampler, chars/s at batch 1 (needs chromium and playwright)")
    b.add_argument("--hidden_size", type=int, default=256)
    b.add_argument("--num_layers", type=int, default=2)
    b.add_argument("--num_chars", type=int, default=2000)
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--out", default=None, help="also write the result as JSON here")
    args = p.parse_args(argv)
    if args.command == "export":
        check_runtime()
        info = export_web_checkpoint(args.checkpoint, args.out_dir, args.name, quantize=args.quantize, overwrite=args.overwrite, log=print)
        print(f"web page: {info['path']}\nserve it: python -m http.server --bind 127.0.0.1 8000 -d {info['path']}")
        return 0
    check_runtime()
    result = bench_web(args.hidden_size, args.num_layers, args.num_chars, args.repeats)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from tfcharrnn.errors import run_cli

    run_cli(main)
