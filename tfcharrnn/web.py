"""A model in a web browser: a static folder that runs the .tflite with LiteRT.js, offline.

    npm ci --prefix web                        # once, in a checkout: the pinned LiteRT.js runtime into web/node_modules
    python scripts/export.py cv/ --name shakespeare --web
    python -m http.server --bind 127.0.0.1 8000 -d saved_models/shakespeare/1/assets.extra/web
    # open http://127.0.0.1:8000/

    # installed with pip: the runtime where the error message says (or anywhere, then --litert_js DIR)
    npm install --prefix ~/.cache/tfcharrnn/litert-js @litertjs/core@2.5.3 @litertjs/wasm-utils@2.5.3
    tfcharrnn-export cv/ --name shakespeare --web

    from tfcharrnn.web import export_web
    info = export_web(model, vocab, "out/web", name="shakespeare")    # a Keras CharRNN and its Vocabulary

The folder holds the page (index.html, app.js, style.css), the sampler module an app can lift
as is (sampler.js: the port of tfcharrnn.litert_sampler), NAME.tflite converted with a fixed
batch of 1 (LiteRT.js 2.5.3 refuses a dynamic dimension and cannot resize), NAME.vocab.json,
model.json (what the page loads) and the LiteRT.js runtime under litert/: its ES modules and
the two WebAssembly builds the loader picks between (relaxed SIMD, or the compat one). Nothing
is fetched at run time. docs/web.md has the page, the sampler's API and what is tested.

Two sources. The page's own files are the checkout's web/, which a wheel ships as
tfcharrnn/assets/web/ (setup.py), with the package.json and package-lock.json that pin the
runtime. The runtime (about 38 MB of npm packages, mostly WebAssembly: far more than the rest of
the wheel) is not shipped: npm installs it, and it is copied from its node_modules/ (runtime_dir:
--litert_js DIR, else $TFCHARRNN_LITERT_JS, else web/ in a checkout, else
~/.cache/tfcharrnn/litert-js). Its versions must be the pinned ones, the only ones the page is
tested with.

Like the SavedModel exporter, the folder is written under a temporary name beside its final
place and renamed when complete.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time

from tfcharrnn.errors import UserError
from tfcharrnn.files import check_name, new_temp_dir, publish_dir, write_synced
from tfcharrnn.machine import cache_dir

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT_WEB = os.path.join(os.path.dirname(HERE), "web")
LITERT_JS_ENV = "TFCHARRNN_LITERT_JS"
PAGE_FILES = ("index.html", "app.js", "sampler.js", "style.css")
NPM_FILES = ("package.json", "package-lock.json")  # the runtime's pins, shipped beside the page
RUNTIME_PACKAGES = ("@litertjs/core", "@litertjs/wasm-utils")
CORE = "node_modules/@litertjs/core"
UTILS = "node_modules/@litertjs/wasm-utils"
# destination in the exported folder -> source under the runtime's npm prefix
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


# ---------------------------------------------------------------------------------------------
# the page's sources and the runtime


def page_dir() -> str:
    """The page's sources and the runtime's pins: tfcharrnn/assets/web/ when installed, else the checkout's web/."""
    packaged = os.path.join(HERE, "assets", "web")
    return packaged if os.path.isdir(packaged) else CHECKOUT_WEB


def pinned_versions() -> dict:
    """{npm package: version} of the runtime, as the shipped package-lock.json pins them."""
    with open(os.path.join(page_dir(), "package-lock.json"), encoding="utf-8") as f:
        packages = json.load(f)["packages"]
    return {name: packages[f"node_modules/{name}"]["version"] for name in RUNTIME_PACKAGES}


def litert_version() -> str:
    """The pinned @litertjs/core version."""
    return pinned_versions()["@litertjs/core"]


def runtime_dir(litert_js: str | None = None) -> str:
    """The npm prefix the runtime is copied from (it holds node_modules/@litertjs/): ``litert_js``
    (--litert_js), else $TFCHARRNN_LITERT_JS, else the checkout's web/, else ~/.cache/tfcharrnn/litert-js."""
    chosen = litert_js or os.environ.get(LITERT_JS_ENV)
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    if page_dir() == CHECKOUT_WEB:
        return CHECKOUT_WEB
    return os.path.join(cache_dir(), "litert-js")


def _shown(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def install_command(directory: str) -> str:
    """The command that installs the pinned runtime into ``directory``: npm ci from the lock file
    where the page's own package.json is, else npm install of the exact versions."""
    if os.path.abspath(directory) == page_dir():
        return f"npm ci --prefix {shlex.quote(_shown(directory))}"
    pins = " ".join(f"{name}@{version}" for name, version in pinned_versions().items())
    return f"npm install --prefix {shlex.quote(_shown(directory))} {pins}"


def check_runtime(litert_js: str | None = None) -> dict:
    """{destination: source path} of every file a web export copies; a UserError naming the
    command that installs the runtime when a file is missing or a version is not the pinned one.

    Cheap (no TensorFlow): export_saved_model(..., web=True) calls it before writing anything.
    """
    page = page_dir()
    files = {name: os.path.join(page, name) for name in PAGE_FILES}
    lost = [name for name in (*PAGE_FILES, *NPM_FILES) if not os.path.isfile(os.path.join(page, name))]
    if lost:
        fix = "restore web/ (git checkout -- web)" if page == CHECKOUT_WEB else "reinstall tfcharrnn"
        raise UserError(f"the web page's sources are missing from {page} ({', '.join(lost)}); {fix}")
    runtime = runtime_dir(litert_js)
    files.update({dest: os.path.join(runtime, rel) for dest, rel in RUNTIME_FILES.items()})
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise UserError(f"the LiteRT.js runtime is not installed in {_shown(runtime)} ({os.path.relpath(missing[0], runtime)} "
                        f"and {len(missing) - 1} more files are missing); run: {install_command(runtime)}")
    for name, pinned in pinned_versions().items():
        with open(os.path.join(runtime, "node_modules", name, "package.json"), encoding="utf-8") as f:
            installed = json.load(f)["version"]
        if installed != pinned:
            raise UserError(f"{_shown(runtime)} holds {name} {installed}, but the page is tested with {pinned}; "
                            f"run: {install_command(runtime)}")
    return files


# ---------------------------------------------------------------------------------------------
# the export


def export_web(model, vocab, out_dir, *, name: str = "model", quantize=None, overwrite: bool = False,
               litert_js: str | None = None, source: str | None = None, log=None) -> dict:
    """Write the static folder ``out_dir`` (see the module docstring); return what was written.

    quantize: as tfcharrnn.tflite_export.export_tflite (None, "dynamic", "float16"); litert_js: the
    runtime's npm prefix (see runtime_dir).
    Returns {"path", "tflite", "vocab_path", "manifest", "size_bytes", "tflite_info"}.
    """
    from tfcharrnn.tflite_export import export_tflite

    log = log or (lambda *_: None)
    check_name(name, "it names the .tflite in the page's folder")
    files = check_runtime(litert_js)
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not overwrite:
        raise UserError(f"{out_dir!r} already exists; pass overwrite=True (--overwrite) to replace it, or choose another folder")
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    tmp = new_temp_dir(os.path.dirname(out_dir), ".tmp-web-")
    t0 = time.perf_counter()
    try:
        info = export_tflite(model, vocab, os.path.join(tmp, f"{name}.tflite"), quantize=quantize, batch_size=1)
        for dest, src in files.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, dest)), exist_ok=True)
            shutil.copyfile(src, os.path.join(tmp, dest))
        manifest = {"format": "tfcharrnn-web", "name": name, "model": f"{name}.tflite", "vocab": os.path.basename(info["vocab_path"]),
                    "wasm": "./litert/wasm/", "litert": litert_version(), "config": model.config.to_dict(),
                    "vocab_mode": vocab.mode, "quantize": info["quantize"], "source": source}
        write_synced(os.path.join(tmp, MANIFEST), json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        publish_dir(tmp, out_dir)  # an existing folder (overwrite) is swapped out, then removed
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
