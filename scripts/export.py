"""Export a checkpoint for TensorFlow Serving (and LiteRT): python scripts/export.py --help

    python scripts/export.py cv/ --name shakespeare                # -> saved_models/shakespeare/1/
    python scripts/export.py cv/ --name shakespeare --version 3 --overwrite
    docker run -p 8501:8501 -p 8500:8500 -v "$PWD/saved_models/shakespeare:/models/shakespeare" \\
        -e MODEL_NAME=shakespeare tensorflow/serving:2.21.0

The work lives in tfcharrnn.export; docs/serving.md has the requests.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli import _int, _Parser  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402


def parser():
    import argparse

    from tfcharrnn.export import MAX_NEW_CHARS

    p = _Parser(prog="export.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                description="Write saved_models/NAME/VERSION/ (a SavedModel TF Serving loads: generation, step and "
                            "vocabulary signatures) and, inside it, assets.extra/NAME.tflite for LiteRT.")
    p.add_argument("checkpoint", help="checkpoint directory, or a run directory (uses best.json, else latest.json)")
    p.add_argument("--name", required=True, help="model name: the directory under --base_dir and the URL /v1/models/NAME")
    p.add_argument("--version", type=_int, default=None, help="version directory to write (default: one more than the highest present)")
    p.add_argument("--base_dir", default="saved_models", help="where model directories live (TF Serving's --model_base_path is BASE_DIR/NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version directory")
    p.add_argument("--max_new_chars", type=_int, default=MAX_NEW_CHARS, help="largest max_new_chars a request may ask for, per prompt")
    p.add_argument("--no_tflite", dest="tflite", action="store_false", help="do not write assets.extra/NAME.tflite")
    p.add_argument("--quantize", default=None, help="TFLite weights: none, dynamic (int8) or float16")
    p.add_argument("--no_warmup", dest="warmup", action="store_false",
                   help="do not write assets.extra/tf_serving_warmup_requests (needs tensorflow-serving-api)")
    p.add_argument("--cpu", action="store_true", help="hide GPUs (the exported graph never needs one either way)")
    p.add_argument("--web", action="store_true", help="also write assets.extra/web/: a static page that runs the model in a browser "
                                                      "(tfcharrnn.web; needs npm ci in web/)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from tfcharrnn.export import export_checkpoint

    if args.web:
        from tfcharrnn import web

        web.check_runtime()  # before anything is written: a missing runtime must not leave a version without its page

    if args.cpu:
        from tfcharrnn.training import configure_devices

        configure_devices(cpu=True)
    info = export_checkpoint(args.checkpoint, args.name, base_dir=args.base_dir, version=args.version, overwrite=args.overwrite,
                             max_new_chars=args.max_new_chars, tflite=args.tflite, quantize=args.quantize, warmup=args.warmup,
                             log=print)
    print(f"SavedModel: {info['path']} (signatures {', '.join(info['signatures'])}; max_new_chars <= {info['max_new_chars']})")
    if info["tflite"]:
        print(f"TFLite:     {info['tflite']}")
    elif args.tflite:
        print("TFLite:     not written (tfcharrnn.tflite_export is not installed)")
    if args.web:
        page = web.export_web_checkpoint(args.checkpoint, web.web_dir_for_version(info["path"]), args.name, quantize=args.quantize, log=print)
        print(f"Web page:   {page['path']}  (serve it: python -m http.server --bind 127.0.0.1 8000 -d {page['path']})")
    model_dir = os.path.abspath(os.path.dirname(info["path"]))
    print(f"serve it:   docker run -p 8501:8501 -p 8500:8500 -v \"{model_dir}:/models/{args.name}\" "
          f"-e MODEL_NAME={args.name} tensorflow/serving:2.21.0")
    return 0


if __name__ == "__main__":
    run_cli(main)
