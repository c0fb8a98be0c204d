"""The web page's speed and the helpers that drive it in a real headless Chromium (Playwright).

    python scripts/bench.py --only web     # chars/s of the page vs the Python LiteRT sampler, batch 1
    from benchmarks.web import serve, launch_chromium, page_generate   # tests/test_web.py uses them

Chromium is Debian's (/usr/bin/chromium), driven by Playwright for Python with executable_path:
Playwright's own browser download cannot work on a closed network.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import tempfile
import threading
import time

from tfcharrnn.machine import cpu_info
from tfcharrnn.errors import UserError
from tfcharrnn.web import export_web, litert_version

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections are refused on a closed
# network and it logs errors; --disable-gpu: WebAssembly on the CPU is what the page uses.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


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
    from benchmarks.litert import bench_sampler
    from tfcharrnn.config import ModelConfig
    from tfcharrnn.data import BUNDLED
    from tfcharrnn.model import CharRNN
    from tfcharrnn.vocab import Vocabulary

    cpu = cpu_info()
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
                python_rates.append(bench_sampler(lite, num_chars, repeats=1, seed=r, temperature=1.0)["chars_per_s"])
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
        "cpu": cpu["cpu"], "cpu_flags": cpu["flags"], "cores": cpu["cores"], "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "chromium": chromium_version, "litertjs": litert_version(),
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"), "python_threads": 1,
        "date": time.strftime("%Y-%m-%d"),
    }




def run_web(args, results, notes, log):
    """The web section of scripts/bench.py: a 2x256 LSTM (--quick: 2x32), the page against Python."""
    from tfcharrnn.web import check_runtime

    check_runtime()
    hidden, num_chars, repeats = (32, 200, 1) if args.quick else (256, 5000, args.repeats)
    results["web"] = bench_web(hidden_size=hidden, num_chars=num_chars, repeats=repeats, log=log)
