"""Export a checkpoint for TensorFlow Serving (and LiteRT) from the command line.

    python scripts/export.py cv/ --name shakespeare                # -> saved_models/shakespeare/1/
    python scripts/export.py cv/ --name shakespeare --version 3 --overwrite
    python scripts/export.py cv/ --name shakespeare --web --litert_js ~/litert-js   # + a web page (tfcharrnn.web)
    docker run -p 8501:8501 -p 8500:8500 -v "$PWD/saved_models/shakespeare:/models/shakespeare" \\
        -e MODEL_NAME=shakespeare tensorflow/serving:2.21.0

Flags: tfcharrnn/cli/flags.py (docs/flags.md); the work: tfcharrnn.export; docs/serving.md has the requests.
"""

from __future__ import annotations

import os

from tfcharrnn import onednn
from tfcharrnn.cli.flags import export_parser
from tfcharrnn.errors import run_cli


def main(argv=None) -> int:
    args = export_parser().parse_args(argv)
    if args.web:
        from tfcharrnn.web import check_runtime

        check_runtime(args.litert_js)  # before TensorFlow loads: a missing runtime costs a second, not an import
    onednn.apply()  # before TensorFlow's import
    from tfcharrnn.export import export_checkpoint

    if args.cpu:
        from tfcharrnn.training import configure_devices

        configure_devices(cpu=True)
    info = export_checkpoint(args.checkpoint, args.name, base_dir=args.base_dir, version=args.version, overwrite=args.overwrite,
                             max_new_chars=args.max_new_chars, tflite=args.tflite, quantize=args.quantize, warmup=args.warmup,
                             web=args.web, litert_js=args.litert_js, log=print)
    print(f"SavedModel: {info['path']} (signatures {', '.join(info['signatures'])}; max_new_chars <= {info['max_new_chars']})")
    if info["tflite"]:
        print(f"TFLite:     {info['tflite']}")
    if info["web"]:
        print(f"Web page:   {info['web']}  (serve it: python -m http.server --bind 127.0.0.1 8000 -d {info['web']})")
    model_dir = os.path.abspath(os.path.dirname(info["path"]))
    print(f"serve it:   docker run -p 8501:8501 -p 8500:8500 -v \"{model_dir}:/models/{args.name}\" "
          f"-e MODEL_NAME={args.name} tensorflow/serving:2.21.0")
    return 0


def entry():
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover - python -m tfcharrnn.cli.export CHECKPOINT --name NAME
    entry()
