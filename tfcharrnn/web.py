"""A model in a web browser: a static folder that runs the .tflite with LiteRT.js, offline.

    cd web && npm ci && cd ..                  # once: the pinned LiteRT.js runtime into web/node_modules
    python scripts/export.py cv/ --name shakespeare --web
    python -m http.server --bind 127.0.0.1 8000 -d saved_models/shakespeare/1/assets.extra/web
    # open http://127.0.0.1:8000/

    python scripts/bench.py --only web          # the page's chars/s against the Python sampler (benchmarks/web.py)

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

import json
import os
import shutil
import time

from tfcharrnn.errors import UserError
from tfcharrnn.files import check_name, new_temp_dir, publish_dir, write_synced

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
    check_name(name, "it names the .tflite in the page's folder")
    files = check_runtime(web_dir)
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
                    "wasm": "./litert/wasm/", "litert": litert_version(web_dir), "config": model.config.to_dict(),
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
