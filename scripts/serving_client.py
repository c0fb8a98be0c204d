"""Ask a TensorFlow Serving instance for text, over REST or gRPC (needs nothing of tfcharrnn).

    python scripts/serving_client.py --model shakespeare --prompt "ROMEO:" --max_new_chars 300
    python scripts/serving_client.py --model shakespeare --prompt "ROMEO:" --prompt "JULIET:" --seed 7 \\
        --temperature 0.8 --top_p 0.95 --format inputs
    python scripts/serving_client.py --model shakespeare --grpc localhost:8500 --prompt "ROMEO:"
    python scripts/serving_client.py --model shakespeare --version 2 --timeout 60 --prompt "ROMEO:"
    python scripts/serving_client.py --model shakespeare --prompt "ROMEO:" --stop "\n\n"   # the `generate` signature

REST needs only the standard library; gRPC needs `pip install tensorflow-serving-api` (which
pulls in tensorflow for its protos and make_tensor_proto). Prompt i is sent with seed SEED + i,
the rule `scripts/sample.py --num_samples` follows, so both give the same texts. Without --stop
the request goes to `serving_default` (every tfcharrnn export has it); with --stop to `generate`,
which ends each text before the stop string and answers how it ended (reported on stderr).

Errors are one line on stderr: a refused request (HTTP 4xx, INVALID_ARGUMENT, an unknown model or
version) exits 2; no answer in --timeout seconds, the server's own deadline (REST: HTTP 504, TF
Serving's --rest_api_timeout_in_ms, 30 s by default), a server error (HTTP 5xx, gRPC UNAVAILABLE,
INTERNAL, ...) or an unreachable server exits 1.

As a library:
    from serving_client import rest_generate, grpc_generate, rest_body
    texts = rest_generate("http://localhost:8501", "shakespeare", ["ROMEO:"], max_new_chars=200)
    rows = rest_results("http://localhost:8501", "shakespeare", ["ROMEO:"], stop="\n")   # [{"text", "finish_reason", "new_chars"}]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import urllib.error
import urllib.request

INPUTS = ("prompt", "max_new_chars", "temperature", "top_k", "top_p", "seed", "stop")  # stop: the `generate` signature only
DTYPES = {"prompt": "string", "max_new_chars": "int32", "temperature": "float32", "top_k": "int32", "top_p": "float32", "seed": "int64",
          "stop": "string"}
TIMEOUT = 600.0  # seconds to wait for an answer (--timeout)
# gRPC codes that say the server could not answer, not that the request was wrong
SERVER_FAILED = ("UNAVAILABLE", "INTERNAL", "UNKNOWN", "DATA_LOSS", "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED")
REST_DEADLINE_HINT = ("the server's REST deadline ran out (TF Serving's --rest_api_timeout_in_ms, 30 s by default); ask for "
                      "fewer characters or prompts, use gRPC (--grpc HOST:8500), or start the server with a larger "
                      "--rest_api_timeout_in_ms")


class ServingError(Exception):
    """The server refused the request (bad value, unknown model or version, ...): its message, one line."""


class ServerFailed(ServingError):
    """The server could not answer (HTTP 5xx or 429; gRPC UNAVAILABLE, INTERNAL, ...): its message, one line."""


class ServingTimeout(ServingError):
    """No answer in time: the client's --timeout, or the server's own deadline (REST 504), ran out."""


def _one_line(message: str, limit: int = 300) -> str:
    """The informative line of a server error: the failed check if there is one, else the first line."""
    lines = [ln.strip() for ln in (message or "").splitlines() if ln.strip()]
    for ln in lines:
        if "assertion failed" in ln:
            return ln[:limit]
    return lines[0][:limit] if lines else ""


def _no_answer(timeout: float) -> str:
    return f"no answer from the server within {timeout:g} s (--timeout); ask for fewer characters or prompts, or raise --timeout"


def _columns(prompts, max_new_chars=200, temperature=1.0, top_k=0, top_p=1.0, seed=0, stop=None) -> dict:
    """One list per signature input, one entry per prompt; a scalar setting applies to every prompt.
    stop None: no stop input (serving_default); a string or one per prompt: the `generate` signature's."""
    prompts = list(prompts)
    n = len(prompts)

    def per_row(value, cast, name):
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"{name} has {len(value)} values for {n} prompts")
            return [cast(v) for v in value]
        return [cast(value)] * n

    seeds = [int(s) for s in seed] if isinstance(seed, (list, tuple)) else [int(seed) + i for i in range(n)]
    cols = {
        "prompt": prompts,
        "max_new_chars": per_row(max_new_chars, int, "max_new_chars"),
        "temperature": per_row(temperature, float, "temperature"),
        "top_k": per_row(top_k, int, "top_k"),
        "top_p": per_row(top_p, float, "top_p"),
        "seed": seeds,
    }
    if stop is not None:
        cols["stop"] = per_row(stop, str, "stop")
    return cols


def _signature(signature, cols) -> str:
    """serving_default, or `generate` when the request has stop strings."""
    return signature or ("generate" if "stop" in cols else "serving_default")


def rest_body(prompts, fmt: str = "instances", signature: str | None = None, **settings) -> dict:
    """The JSON body of POST /v1/models/NAME:predict, in TF Serving's row or columnar format."""
    cols = _columns(prompts, **settings)
    if "stop" in cols and not signature:
        signature = "generate"
    if fmt == "instances":  # row format: one object per prompt
        body = {"instances": [{k: cols[k][i] for k in INPUTS if k in cols} for i in range(len(cols["prompt"]))]}
    elif fmt == "inputs":  # columnar format: one list per input
        body = {"inputs": cols}
    else:
        raise ValueError(f"format {fmt!r} is not known; use instances or inputs")
    if signature:
        body = {"signature_name": signature, **body}
    return body


def results_from_rest_response(response: dict) -> list[dict]:
    """One dict per prompt: "text", and from `generate` "finish_reason" and "new_chars" too."""
    keys = ("text", "finish_reason", "new_chars")
    if "predictions" in response:  # row format
        return [{k: row[k] for k in keys if k in row} for row in response["predictions"]]
    if "outputs" in response:  # columnar format
        out = response["outputs"]
        return [dict(zip([k for k in keys if k in out], values)) for values in zip(*(out[k] for k in keys if k in out))]
    raise ServingError(f"unexpected response {str(response)[:200]}")


def texts_from_rest_response(response: dict) -> list[str]:
    return [row["text"] for row in results_from_rest_response(response)]


def rest_predict(url: str, model: str, body: dict, version: int | None = None, timeout: float = TIMEOUT) -> dict:
    """POST /v1/models/MODEL[/versions/N]:predict; ServingError (or ServerFailed, ServingTimeout) when no answer comes."""
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    req = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode("utf-8"),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        message = f"HTTP {e.code}: {_one_line(str(detail)) or e.reason}"
        if e.code == 504:  # TF Serving: DEADLINE_EXCEEDED, its REST deadline
            raise ServingTimeout(f"{message}: {REST_DEADLINE_HINT}") from None
        if e.code >= 500 or e.code == 429:
            raise ServerFailed(message) from None
        raise ServingError(message) from None
    except (TimeoutError, socket.timeout):  # connected, but the answer did not come in time
        raise ServingTimeout(_no_answer(timeout)) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (TimeoutError, socket.timeout)):
            raise ServingTimeout(_no_answer(timeout)) from None
        raise


def rest_results(url: str, model: str, prompts, fmt: str = "instances", version: int | None = None, timeout: float = TIMEOUT,
                 **settings) -> list[dict]:
    """POST /v1/models/MODEL[/versions/N]:predict for ``prompts``: results_from_rest_response's dicts."""
    return results_from_rest_response(rest_predict(url, model, rest_body(prompts, fmt, **settings), version, timeout))


def rest_generate(url: str, model: str, prompts, fmt: str = "instances", version: int | None = None, timeout: float = TIMEOUT,
                  **settings) -> list[str]:
    """Texts generated for ``prompts`` by POST /v1/models/MODEL[/versions/N]:predict."""
    return [r["text"] for r in rest_results(url, model, prompts, fmt, version, timeout, **settings)]


def grpc_request(model: str, prompts, version: int | None = None, signature: str | None = None, **settings):
    """A tensorflow_serving PredictRequest (serving_default, or `generate` with stop), tensors made with make_tensor_proto."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    cols = _columns(prompts, **settings)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = _signature(signature, cols)
    if version:
        req.model_spec.version.value = int(version)
    for key in (k for k in INPUTS if k in cols):
        values = [p.encode("utf-8") for p in cols[key]] if DTYPES[key] == "string" else cols[key]
        req.inputs[key].CopyFrom(tf.make_tensor_proto(values, dtype=tf.dtypes.as_dtype(DTYPES[key]), shape=[len(values)]))
    return req


def grpc_generate(target: str, model: str, prompts, version: int | None = None, timeout: float = TIMEOUT, channel=None,
                  **settings) -> list[str]:
    """Texts generated for ``prompts`` through PredictionService/Predict on ``target`` (host:port)."""
    return [r["text"] for r in grpc_results(target, model, prompts, version, timeout, channel, **settings)]


def grpc_results(target: str, model: str, prompts, version: int | None = None, timeout: float = TIMEOUT, channel=None,
                 **settings) -> list[dict]:
    """Like rest_results, through PredictionService/Predict on ``target`` (host:port); ``version``
    goes in model_spec.version. ServingError (or ServerFailed, ServingTimeout) when no text comes back."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    own = channel is None
    channel = channel or grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(grpc_request(model, prompts, version, **settings), timeout=timeout)
        except grpc.RpcError as e:
            code = e.code().name
            message = f"{code}: {_one_line(e.details())}"
            if code == "DEADLINE_EXCEEDED":
                raise ServingTimeout(_no_answer(timeout)) from None
            if code in SERVER_FAILED:
                raise ServerFailed(message) from None
            raise ServingError(message) from None
    finally:
        if own:
            channel.close()
    out = {k: tf.make_ndarray(response.outputs[k]).reshape(-1).tolist() for k in ("text", "finish_reason", "new_chars") if k in response.outputs}
    rows = [dict(zip(out, values)) for values in zip(*out.values())]
    for row in rows:
        row.update({k: row[k].decode("utf-8") for k in ("text", "finish_reason") if k in row})
    return rows


def unescape(text: str) -> str:
    """--stop's escapes (\\n \\t \\r \\\\ \\0 \\xHH \\uXXXX \\UXXXXXXXX), as scripts/sample.py reads them."""
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "0": "\0", "'": "'", '"': '"'}

    def one(m):
        code = m.group(1)
        if code in simple:
            return simple[code]
        if len(code) > 1:
            try:
                return chr(int(code[1:], 16))
            except (ValueError, OverflowError):
                pass
        shown = "\\" + code if code else "a trailing backslash"
        raise argparse.ArgumentTypeError(f"unknown escape {shown} in {text!r}; use \\n, \\t, \\r, \\\\, \\xHH, \\uXXXX or \\UXXXXXXXX")

    return re.sub(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.|$)", one, text, flags=re.S)


def build_parser() -> argparse.ArgumentParser:
    """The client's flags (docs/flags.md lists them, read from here: the client needs nothing of tfcharrnn)."""
    p = argparse.ArgumentParser(description="Generate text with a tfcharrnn model served by TensorFlow Serving.")
    p.add_argument("--model", required=True, help="the model name (MODEL_NAME of the server)")
    p.add_argument("--url", default="http://localhost:8501", help="REST address")
    p.add_argument("--grpc", default=None, metavar="HOST:PORT", help="use gRPC at this address (e.g. localhost:8500) instead of REST")
    p.add_argument("--version", type=int, default=None,
                   help="ask for this model version (REST: /v1/models/NAME/versions/N:predict; gRPC: model_spec.version); "
                        "default: the server's latest")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds to wait for the answer")
    p.add_argument("--prompt", action="append", default=None, help="prompt text; repeat for a batch (default: one empty prompt)")
    p.add_argument("--max_new_chars", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top_k", type=int, default=0, help="0 = off")
    p.add_argument("--top_p", type=float, default=1.0, help="1 = off")
    p.add_argument("--seed", type=int, default=0, help="prompt i uses seed SEED + i")
    p.add_argument("--stop", type=unescape, default=None, metavar="STRING",
                   help="end each text where it completes STRING (not returned; escapes such as \\n understood): "
                        "the `generate` signature")
    p.add_argument("--format", choices=("instances", "inputs"), default="instances", help="REST body: row (instances) or columnar (inputs)")
    p.add_argument("--print_body", action="store_true", help="print the REST JSON body and exit (for curl)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be > 0, got {args.timeout:g}")
    if args.version is not None and args.version < 1:
        parser.error(f"--version must be a positive integer, got {args.version}")
    prompts = args.prompt or [""]
    settings = dict(max_new_chars=args.max_new_chars, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                    stop=args.stop)
    if args.print_body:
        print(json.dumps(rest_body(prompts, args.format, **settings), ensure_ascii=False))
        return 0
    try:
        if args.grpc:
            try:
                import grpc  # noqa: F401
                from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: F401
            except ImportError:
                print("error: --grpc needs `pip install tensorflow-serving-api`; or leave out --grpc to use REST", file=sys.stderr)
                return 2
            results = grpc_results(args.grpc, args.model, prompts, args.version, args.timeout, **settings)
        else:
            results = rest_results(args.url, args.model, prompts, args.format, args.version, args.timeout, **settings)
    except ServingTimeout as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ServerFailed as e:
        print(f"error: the server could not answer ({e}); check that it is running and read its log, then try again", file=sys.stderr)
        return 1
    except ServingError as e:
        print(f"error: the server refused the request: {e}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        print(f"error: cannot reach the server ({e}); is it running? see docs/serving.md", file=sys.stderr)
        return 1
    for i, (prompt, result) in enumerate(zip(prompts, results)):
        if len(prompts) > 1:
            print(f"==== sample {i + 1} (seed {args.seed + i}) ====")
        print(prompt + result["text"])
    for i, result in enumerate(results if args.stop is not None else []):
        how = "ended at a stop string after" if result["finish_reason"] == "stop" else "no stop string in"
        print(f"sample {i + 1} (seed {args.seed + i}): {how} {result['new_chars']} generated characters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
