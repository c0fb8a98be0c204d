"""The web export (tfcharrnn.web) in a real headless Chromium: same text as scripts/sample.py.

    python -m pytest -q tests/test_web.py

Needs Debian's chromium (/usr/bin/chromium), Playwright for Python (the test extra) and the
LiteRT.js runtime (npm ci in web/); .ci/run installs all three. When one is missing these
tests FAIL with the command that fixes it: they never skip.

Two small models trained for a few dozen steps (an LSTM and a GRU, conftest's tiny_config);
the LSTM's page comes from `scripts/export.py --web`, the GRU's from export_web. Each page
generates 300 characters greedy and sampled (temperature 0.8, top-k, top-p, fixed seed), and
they must equal `scripts/sample.py` on the checkpoint (a subprocess, TensorFlow) and
tfcharrnn.litert_sampler on the page's own .tflite. Every page also checks that its console
has no errors, no request failed and nothing was asked of any host but the local server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENGTH = 300
SAMPLED = dict(temperature=0.8, top_k=10, top_p=0.9)
# Both prime paths (read through `step`; empty: the seeded start character) on both kinds.
RUNS = {
    "lstm": [dict(prime="ROMEO:", seed=7, greedy=True), dict(prime="ROMEO:", seed=7, **SAMPLED)],
    "gru": [dict(prime="", seed=11, greedy=True), dict(prime="", seed=11, **SAMPLED)],
}
STEPS = {"lstm": 100, "gru": 60}  # enough that greedy text is not one repeated character


# ---------------------------------------------------------------------------------------------
# what the tests need: a missing piece is a failure, with its fix


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed; pip install -e '.[test]' (see .ci/run)")
    from tfcharrnn.errors import UserError
    from benchmarks.web import CHROMIUM
    from tfcharrnn.web import check_runtime

    if not os.path.isfile(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing; apt-get install -y chromium (see .ci/run)")
    try:
        check_runtime()
    except UserError as e:
        pytest.fail(str(e))
    return sync_playwright


@pytest.fixture(scope="module")
def browser(playwright_api):
    from benchmarks.web import launch_chromium

    with playwright_api() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _env():
    return dict(os.environ, PYTHONIOENCODING="utf-8", TF_CPP_MIN_LOG_LEVEL="2")


def _sample_cli(checkpoint, run):
    """scripts/sample.py on the checkpoint (TensorFlow's compiled loop), started in the background."""
    args = [sys.executable, os.path.join(REPO, "scripts", "sample.py"), checkpoint, "--cpu", "--length", str(LENGTH),
            "--prime", run["prime"], "--seed", str(run["seed"]), "--print_prime", "false"]
    if run.get("greedy"):
        args.append("--greedy")
    else:
        args += ["--temperature", str(run["temperature"]), "--top_k", str(run["top_k"]), "--top_p", str(run["top_p"])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True, encoding="utf-8")


def _finish(proc, timeout=240):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory, small_corpus, playwright_api):
    """Train both models; export their pages; start scripts/sample.py for every run meanwhile."""
    from tfcharrnn.training import train
    from tfcharrnn.web import export_web_checkpoint

    tmp = tmp_path_factory.mktemp("web")
    out, procs = {}, {}
    for kind in ("lstm", "gru"):
        ckpt = str(tmp / f"run-{kind}")
        train(tiny_config(small_corpus, ckpt, model=kind, max_steps=STEPS[kind]))
        procs[kind] = [_sample_cli(ckpt, run) for run in RUNS[kind]]
        if kind == "lstm":  # the command-line route, as a user runs it
            base = tmp / "saved_models"
            export = subprocess.Popen([sys.executable, os.path.join(REPO, "scripts", "export.py"), ckpt, "--name", "tiny",
                                       "--base_dir", str(base), "--cpu", "--no_warmup", "--web"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True, encoding="utf-8")
            web = str(base / "tiny" / "1" / "assets.extra" / "web")
            name = "tiny"
        else:
            web = export_web_checkpoint(ckpt, str(tmp / "gru-web"), "gru")["path"]
            name = "gru"
        out[kind] = types.SimpleNamespace(kind=kind, checkpoint=ckpt, web=web, tflite=os.path.join(web, f"{name}.tflite"), name=name)
    out["lstm"].export_stdout = _finish(export)
    for kind, ps in procs.items():
        # print_prime false: stdout is the continuation and one newline
        out[kind].cli = [_finish(p)[:-1] for p in ps]
    return out


class PageLog:
    """Everything a page says that would mean trouble: console errors, page errors, failed requests."""

    def __init__(self, page, base_url):
        self.errors, self.warnings, self.external = [], [], []
        page.on("console", lambda m: (self.errors if m.type == "error" else self.warnings if m.type == "warning" else []).append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

        def only_local(route):  # offline: anything but our server is refused and recorded
            if route.request.url.startswith(base_url) or route.request.url.startswith("data:"):
                route.continue_()
            else:
                self.external.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)

    def assert_clean(self):
        assert self.errors == [], self.errors
        assert self.external == [], self.external


@pytest.fixture
def open_page(browser):
    """open_page(web_dir) -> (page, log): the folder served on 127.0.0.1, the page loaded and ready."""
    from benchmarks.web import serve

    opened = []

    def _open(web_dir):
        server = serve(web_dir)
        url = server.__enter__()
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        log = PageLog(page, url)
        opened.append((server, page))
        page.goto(url)
        page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=60_000)
        assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#message")
        return page, log

    yield _open
    for server, page in opened:
        page.close()
        server.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# the text


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_page_text_equals_sample_py_and_python_litert(kind, models, open_page, tmp_path):
    from helpers.stops import apply_stops
    from tfcharrnn.litert_sampler import LiteRTModel, sample, sample_text
    from benchmarks.web import page_generate

    m = models[kind]
    lite = LiteRTModel(m.tflite)
    page, log = open_page(m.web)
    info = page.text_content("#model-info")
    assert f"{kind.upper()} 2×32" in info and f"{lite.vocab_size} characters" in info, info
    for run, cli in zip(RUNS[kind], m.cli):
        got = page_generate(page, length=LENGTH, **run)
        assert got["state"] == "done" and got["message"] == "", got
        python = sample_text(lite, run["prime"], LENGTH, seed=run["seed"], temperature=0.0 if run.get("greedy") else run["temperature"],
                             top_k=run.get("top_k", 0), top_p=run.get("top_p", 1.0))[0]
        assert len(got["text"]) == LENGTH and got["chars"] == LENGTH
        assert len(set(got["text"])) >= 4, got["text"]  # a real text, not one repeated character
        assert got["text"] == python, (run, got["text"], python)
        assert got["text"] == cli, (run, got["text"], cli)
        assert got["chars_per_s"] > 0
        status = page.text_content("#status")
        assert f"{LENGTH} characters" in status and "chars/s" in status, status
    # a stop string taken from the sampled text: the page ends where the Python sampler does, and says so
    run = RUNS[kind][-1]
    stop = got["text"][100:102]
    page.fill("#stop-at", stop.replace("\\", "\\\\").replace("\n", "\\n"))
    stopped = page_generate(page, length=LENGTH, **run)
    end = page.evaluate("[document.body.dataset.finishReason, Number(document.body.dataset.newChars)]")
    want = sample(lite, run["prime"], LENGTH, seed=run["seed"], temperature=run["temperature"], top_k=run["top_k"], top_p=run["top_p"],
                  stop=[stop])[0]
    assert (stopped["text"], *end) == tuple(want) == apply_stops(got["text"], [stop]) and want.finish_reason == "stop"
    assert stopped["chars"] == len(want.text) and "ended at the stop string" in page.text_content("#status")
    page.fill("#stop-at", "")
    assert page.text_content("#prime-echo") == RUNS[kind][-1]["prime"]
    shot = tmp_path / f"web-{kind}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    log.assert_clean()


def test_rng_port_equals_python(models, open_page):
    """sampler.js's uniform / startId against tfcharrnn.rng bit for bit, seeds of any size and sign."""
    from tfcharrnn import rng
    from tfcharrnn.litert_sampler import start_id

    page, log = open_page(models["lstm"].web)
    seeds = [0, 1, 7, 123, -1, -123456789, 2**31, 2**32 - 1, 2**32, 2**40 + 5, 0x2545F491]
    steps = [0, 1, 2, 299, 65535, 2**31 - 1, 2**32 - 1]
    sizes = [1, 2, 59, 65, 256, 5202]
    got = page.evaluate("""async ([seeds, steps, sizes]) => {
        const m = await import('./sampler.js');
        const u = seeds.map((s) => steps.map((i) => m.uniform(BigInt(s), i)));
        const starts = seeds.map((s) => sizes.map((v) => m.startId(BigInt(s), v)));
        return {u, starts};
    }""", [[str(s) for s in seeds], steps, sizes])
    assert got["u"] == [[rng.uniform(s, i) for i in steps] for s in seeds]
    assert got["starts"] == [[start_id(s, v) for v in sizes] for s in seeds]
    # 2,000 consecutive steps of one seed: the numbers a 2,000-character text uses
    many = page.evaluate("async () => { const m = await import('./sampler.js'); return Array.from({length: 2000}, (_, i) => m.uniform(42, i)); }")
    assert many == [rng.uniform(42, i) for i in range(2000)]
    assert np.all(np.float32(many) == np.asarray(many))  # float32-exact, as the model's input is
    log.assert_clean()


# ---------------------------------------------------------------------------------------------
# what a user sees when something is wrong, and Stop


def _submit(page, **fields):
    for sel, value in fields.items():
        if sel == "greedy":
            page.set_checked("#greedy", value)
        else:
            page.fill(f"#{sel}", value)
    page.click("#generate")


def test_messages_for_unknown_characters_and_bad_settings(models, open_page):
    page, log = open_page(models["gru"].web)
    _submit(page, prime="ROMEO: ☃ and € and ☃", length="20", greedy=False, temperature="0.8", **{"top-k": "0", "top-p": "1"})
    page.wait_for_selector("#message:not([hidden])")
    message = page.text_content("#message")
    assert "never saw" in message and "'☃'" in message and "'€'" in message and message.count("☃") == 1, message
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert page.text_content("#generated") == ""

    bad = [
        (dict(temperature="-1"), "Temperature must be a finite number >= 0 (0 = greedy), got -1."),
        (dict(**{"stop-at": "a\u2603"}), "Stop at: the stop string 'a\u2603' has 1 character(s) the model never saw: '\u2603'"),
        (dict(**{"stop-at": "e" * 65}), "Stop at: the stop string is 65 characters long; a stop string is at most 64 characters."),
        (dict(**{"stop-at": "\\q"}), "Stop at: unknown escape \\q"),
        (dict(**{"top-p": "0"}), "Top-p must be in (0, 1], got 0"),
        (dict(**{"top-p": "1.5"}), "Top-p must be in (0, 1], got 1.5"),
        (dict(**{"top-k": "-1"}), "Top-k must be between 0 (off) and the vocabulary size"),
        (dict(length="-5"), "Length must be >= 0, got -5"),
        (dict(seed="1.5"), "Seed must be a whole number"),
    ]
    good = dict(prime="ROMEO:", length="20", temperature="0.8", seed="1", **{"top-k": "0", "top-p": "1", "stop-at": ""})
    for change, expected in bad:
        _submit(page, greedy=False, **{**good, **change})
        page.wait_for_function("(t) => document.getElementById('message').textContent.includes(t)", arg=expected, timeout=10_000)
        assert page.is_visible("#message")
        assert page.evaluate("document.body.dataset.state") == "ready"

    # temperature 0 is greedy (as --temperature 0 and --greedy are in scripts/sample.py), and the message goes away
    _submit(page, greedy=False, **{**good, "temperature": "0"})
    page.wait_for_function("document.body.dataset.state === 'done'", timeout=30_000)
    assert not page.is_visible("#message")
    zero = page.text_content("#generated")
    _submit(page, greedy=True)
    page.wait_for_function("document.body.dataset.state === 'done'", timeout=30_000)
    assert len(zero) == 20 and page.text_content("#generated") == zero

    # sampler.js itself: the same refusals as the Python samplers, and a stop string at the cap is fine
    from tfcharrnn.litert_sampler import LiteRTModel, sample

    got = page.evaluate("""async () => {
        const m = await import('./sampler.js');
        const manifest = await (await fetch('model.json')).json();
        const s = await m.loadSampler(manifest.model, {wasm: manifest.wasm});
        const errors = [];
        for (const options of [{stop: ['e'.repeat(65)]}, {stop: ['\u2603']}, {temperature: -1}, {temperature: NaN}]) {
          try { await s.sample('', 5, options); errors.push(null); } catch (e) { errors.push(`${e.name}: ${e.message}`); }
        }
        const ok = await s.sample('ROMEO', 30, {stop: ['e'.repeat(64), ''], temperature: 0});
        s.delete();
        return {errors, ok, max: m.MAX_STOP_CHARS, unescaped: m.unescape('a\\\\nb\\\\t\\\\\\\\\\\\u2603')};
    }""")
    from tfcharrnn.sample_settings import MAX_STOP_CHARS

    assert got["max"] == MAX_STOP_CHARS and got["unescaped"] == "a\nb\t\\\u2603"
    assert got["errors"] == ["RangeError: the stop string is 65 characters long; a stop string is at most 64 characters",
                             "RangeError: the stop string '\u2603' has 1 character(s) the model never saw: '\u2603'; "
                             "the model could never generate it, so leave them out",
                             "RangeError: temperature must be a finite number >= 0 (0 = greedy), got -1",
                             "RangeError: temperature must be a finite number >= 0 (0 = greedy), got NaN"]
    want = sample(LiteRTModel(models["gru"].tflite), "ROMEO", 30, temperature=0.0, stop=["e" * 64, ""])[0]
    assert got["ok"] == {"text": want.text, "finishReason": want.finish_reason, "newChars": want.new_chars}
    log.assert_clean()


def test_stop_and_the_page_stays_responsive(models, open_page):
    page, log = open_page(models["lstm"].web)
    page.evaluate("window.frames_ = 0; (function tick() { window.frames_++; requestAnimationFrame(tick); })()")
    _submit(page, prime="", length="1000000", greedy=False, temperature="1", seed="3", **{"top-k": "0", "top-p": "1"})
    page.wait_for_function("Number(document.body.dataset.chars || 0) > 500", timeout=30_000)
    frames = page.evaluate("window.frames_")
    assert page.is_enabled("#stop") and not page.is_enabled("#generate")
    page.click("#stop")
    page.wait_for_function("document.body.dataset.state === 'stopped'", timeout=10_000)
    assert page.evaluate("window.frames_") > frames  # the page kept painting while generating
    chars = int(page.evaluate("document.body.dataset.chars"))
    assert 500 < chars < 1_000_000
    assert len(page.text_content("#generated")) == chars
    assert "(stopped)" in page.text_content("#status")
    assert page.is_enabled("#generate") and not page.is_enabled("#stop")
    # and it generates again after a stop, from the start of the same seed
    from tfcharrnn.litert_sampler import LiteRTModel, sample_text
    from benchmarks.web import page_generate

    again = page_generate(page, prime="", length=50, seed=3, temperature=1.0)
    assert again["text"] == sample_text(LiteRTModel(models["lstm"].tflite), "", 50, seed=3, temperature=1.0)[0]
    log.assert_clean()


# ---------------------------------------------------------------------------------------------
# the export itself


def test_export_layout(models):
    """scripts/export.py --web: the page beside the SavedModel, self-contained, batch 1."""
    from tfcharrnn.litert_sampler import LiteRTModel
    from tfcharrnn.web import PAGE_FILES, RUNTIME_FILES, litert_version

    m = models["lstm"]
    assert "Web page:" in m.export_stdout and m.web in m.export_stdout
    version = os.path.dirname(os.path.dirname(m.web))
    assert os.path.isfile(os.path.join(version, "saved_model.pb"))
    assert os.path.isfile(os.path.join(version, "assets.extra", "tiny.tflite"))  # the any-batch one, unchanged
    names = {os.path.relpath(os.path.join(r, f), m.web) for r, _, fs in os.walk(m.web) for f in fs}
    assert names == set(PAGE_FILES) | set(RUNTIME_FILES) | {"tiny.tflite", "tiny.vocab.json", "model.json"}
    assert not [n for n in os.listdir(os.path.dirname(m.web)) if n.startswith(".tmp") or n.startswith(".old")]
    with open(os.path.join(m.web, "model.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["model"] == "tiny.tflite" and manifest["litert"] == litert_version() and manifest["config"]["model"] == "lstm"
    lite = LiteRTModel(m.tflite)  # checks tiny.vocab.json against the model's own vocabulary
    runner = lite.interpreter.get_signature_runner("sample")
    assert [int(d) for d in runner.get_input_details()["state"]["shape_signature"]] == [1, lite.num_states, lite.hidden_size]
    for path in ("index.html", "app.js", "sampler.js"):  # nothing points at the internet
        with open(os.path.join(m.web, path), encoding="utf-8") as f:
            text = f.read()
        assert "cdn." not in text and "https://" not in text.replace("https://www.npmjs.com/package/@litertjs/core", "")


def test_export_without_runtime_fails_cleanly(models, tmp_path, monkeypatch):
    """No runtime where --litert_js / $TFCHARRNN_LITERT_JS points: one line naming the npm command, exit 2,
    no traceback, nothing written. In a checkout the default is web/ (npm ci from its lock file)."""
    from tfcharrnn.errors import UserError
    from tfcharrnn.web import export_web_checkpoint, install_command, pinned_versions, runtime_dir

    empty = tmp_path / "litert-js"
    base = tmp_path / "saved_models"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "export.py"), models["gru"].checkpoint, "--name", "x",
                           "--base_dir", str(base), "--web"], env={**_env(), "TFCHARRNN_LITERT_JS": str(empty)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    pins = " ".join(f"{name}@{version}" for name, version in pinned_versions().items())
    assert len(lines) == 1 and lines[0].startswith("error: the LiteRT.js runtime is not installed in " + str(empty))
    assert lines[0].endswith(f"; run: npm install --prefix {empty} {pins}"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not base.exists()
    monkeypatch.delenv("TFCHARRNN_LITERT_JS", raising=False)
    assert runtime_dir() == os.path.join(REPO, "web") and install_command(runtime_dir()).startswith("npm ci --prefix ")
    with pytest.raises(UserError, match="already exists"):  # and an existing folder is not replaced unasked
        export_web_checkpoint(models["gru"].checkpoint, models["gru"].web, "gru")


def test_a_runtime_of_another_version_is_refused(tmp_path, monkeypatch):
    """The page is tested with the pinned LiteRT.js only: any other version installed is an error naming the fix."""
    from tfcharrnn.errors import UserError
    from tfcharrnn.web import RUNTIME_FILES, check_runtime, pinned_versions

    for rel in RUNTIME_FILES.values():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    for name, version in pinned_versions().items():
        (tmp_path / "node_modules" / name / "package.json").write_text(json.dumps({"version": version}))
    monkeypatch.setenv("TFCHARRNN_LITERT_JS", str(tmp_path))
    assert check_runtime()["litert/core/index.js"] == str(tmp_path / "node_modules" / "@litertjs" / "core" / "dist" / "index.js")
    (tmp_path / "node_modules" / "@litertjs" / "wasm-utils" / "package.json").write_text(json.dumps({"version": "2.6.0"}))
    with pytest.raises(UserError, match=r"holds @litertjs/wasm-utils 2\.6\.0, but the page is tested with .*; run: npm install --prefix "):
        check_runtime()
