"""TEST DOUBLES of TF Serving's request handling: not TF Serving (docs/serving.md, "What the test doubles do not do").

    from helpers.serving_double import ServingTestDouble, rest_server, grpc_server
    double = ServingTestDouble("saved_models/tiny/1", "tiny")                 # version 1
    double = ServingTestDouble({1: dir_a, 2: dir_b}, "tiny")                 # versions; the latest answers by default
    response, error = double.predict(predict_request)                        # error: (grpc code name, message)
    status, answer = double.predict_json(body, version=None)                 # a REST answer: (HTTP status, JSON)
    with rest_server(double) as url: ...                                     # POST /v1/models/NAME[/versions/N]:predict
    with grpc_server(double) as target: ...                                  # PredictionService/Predict
    double.fault = ("UNAVAILABLE", "...")    # every request fails with it (REST: 503; INTERNAL: 500, ...)
    double.delay_s = 2.0                     # every request waits this long before it runs (slow on demand)
    double.rest_deadline_s = 0.5             # TF Serving's --rest_api_timeout_in_ms (default 30 s), for REST

They follow tensorflow_serving/servables/tensorflow/predict_util.cc (input-set check, signature
lookup), tensorflow_serving/util/json_tensor.cc (the REST `instances` / `inputs` bodies and their
`predictions` / `outputs` answers), model_servers/http_server.cc (an error status as an HTTP code:
INVALID_ARGUMENT 400, NOT_FOUND 404, DEADLINE_EXCEEDED 504, UNAVAILABLE 503, INTERNAL 500, ...) and
http_rest_api_handler.cc (the version in the URL; the REST deadline: the graph runs with a timeout,
and a request past it fails with DEADLINE_EXCEEDED "Timed out waiting for notification", sent as 504).
They run the signatures with tf.saved_model.load. They check that our signatures accept the
requests TF Serving would build and that our client handles TF Serving's answers; what they leave
out (metadata, the warm-up replay, model loading and version policy, batching, ...) is listed in
docs/serving.md.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

# tensorflow_serving/model_servers/http_server.cc, ToHTTPStatusCode
HTTP_STATUS = {"CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404,
               "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400,
               "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503,
               "DATA_LOSS": 500, "UNAUTHENTICATED": 401}
# What a session run past its RunOptions.timeout_in_ms says (TF Serving's REST deadline uses that timeout).
DEADLINE_MESSAGE = "Timed out waiting for notification"


def signature_defs(path):
    """The serve meta graph's SignatureDefs, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    (mg,) = [m for m in sm.meta_graphs if "serve" in m.meta_info_def.tags]
    return mg.signature_def


class ServingTestDouble:
    """TEST DOUBLE: TF Serving's Predict path, reduced to what checks our signatures.

    predict(PredictRequest) -> PredictResponse, like predict_util.cc: the model and version are
    looked up (no version: the highest), the signature by name (default serving_default), the
    request must name exactly the signature's inputs, each TensorProto must have the signature's
    dtype and a compatible shape, and the signature runs (here through tf.saved_model.load).
    Errors come back as (grpc code name, message). ``served`` records (version, signature) of
    every request that ran.
    """

    def __init__(self, saved_model_dirs, name):
        if isinstance(saved_model_dirs, (str, os.PathLike)):
            saved_model_dirs = {1: saved_model_dirs}
        self.name = name
        loaded = {}  # a directory given for two versions is loaded once
        self.versions = {}
        for version, path in sorted(saved_model_dirs.items()):
            path = os.fspath(path)
            if path not in loaded:
                loaded[path] = (signature_defs(path), tf.saved_model.load(path))
            self.versions[int(version)] = loaded[path]
        self.fault = None  # (code name, message): every request fails with it
        self.delay_s = 0.0  # every request waits this long before running
        self.rest_deadline_s = 30.0  # TF Serving's --rest_api_timeout_in_ms default: 30 s
        self.served = []

    @property
    def sigdefs(self):
        """The latest version's signature defs."""
        return self.versions[max(self.versions)][0]

    def _servable(self, name, version):
        """(version, (sigdefs, loaded)) or an error, as ServerCore::GetServableHandle words it."""
        if name != self.name:
            return None, ("NOT_FOUND", f"Servable not found for request: {f'Specific({name}, {version})' if version else f'Latest({name})'}")
        if version is None:
            version = max(self.versions)
        if version not in self.versions:
            return None, ("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
        return (version, self.versions[version]), None

    def predict(self, request, deadline_s=None):
        from tensorflow_serving.apis import predict_pb2

        spec = request.model_spec
        servable, error = self._servable(spec.name, spec.version.value if spec.HasField("version") else None)
        if error:
            return None, error
        version, (sigdefs, loaded) = servable
        sig_name = spec.signature_name or "serving_default"
        if sig_name not in sigdefs:
            return None, ("FAILED_PRECONDITION", f'Serving signature key "{sig_name}" not found.')
        sig = sigdefs[sig_name]
        if set(request.inputs) != set(sig.inputs):
            return None, ("INVALID_ARGUMENT", f"input size does not match signature: {len(request.inputs)}!={len(sig.inputs)} "
                                              f"len({{{','.join(sorted(request.inputs))}}}) != len({{{','.join(sorted(sig.inputs))}}})")
        feeds = {}
        for key, proto in request.inputs.items():
            info = sig.inputs[key]
            if proto.dtype != info.dtype:
                return None, ("INVALID_ARGUMENT", f"Expects arg {key} to be {tf.dtypes.as_dtype(info.dtype).name} but "
                                                  f"{tf.dtypes.as_dtype(proto.dtype).name} is provided")
            value = tf.make_ndarray(proto)
            want = [d.size for d in info.tensor_shape.dim]
            if value.ndim != len(want) or any(w not in (-1, g) for w, g in zip(want, value.shape)):
                return None, ("INVALID_ARGUMENT", f"{key} has shape {list(value.shape)}, the signature wants {want}")
            feeds[key] = tf.constant(value, dtype=tf.dtypes.as_dtype(info.dtype))
        if self.fault:
            return None, self.fault
        if self.delay_s:
            if deadline_s is not None and self.delay_s >= deadline_s:  # the run would outlast the deadline
                time.sleep(deadline_s)
                return None, ("DEADLINE_EXCEEDED", DEADLINE_MESSAGE)
            time.sleep(self.delay_s)
        try:
            outputs = loaded.signatures[sig_name](**feeds)
        except tf.errors.InvalidArgumentError as e:
            return None, ("INVALID_ARGUMENT", e.message)
        self.served.append((version, sig_name))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = sig_name
        names = list(request.output_filter) or list(sig.outputs)
        for key in names:
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key].numpy()))
        return response, None

    # -- REST, after json_tensor.cc ---------------------------------------------------------
    def request_from_json(self, body: dict, version=None):
        """FillPredictRequestFromJson: returns (PredictRequest, 'row' | 'columnar') or raises ValueError."""
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.name
        if version is not None:
            request.model_spec.version.value = int(version)
        sig_name = body.get("signature_name", "")
        if not isinstance(sig_name, str):
            raise ValueError("'signature_name' key must be a string value.")
        request.model_spec.signature_name = sig_name
        servable, error = self._servable(self.name, version)
        sig = servable[1][0].get(sig_name or "serving_default") if servable else None
        if sig is None or not sig.inputs:
            raise ValueError(f"Failed to get input map for signature: {sig_name or 'DEFAULT'}")
        dtypes = {k: tf.dtypes.as_dtype(v.dtype) for k, v in sig.inputs.items()}

        def tensor(value, dtype):
            def leaf(v):
                if isinstance(v, dict):
                    if dtype != tf.string or set(v) != {"b64"}:
                        raise ValueError(f"JSON Value: {v} not formatted correctly for base64 data")
                    return base64.b64decode(v["b64"])
                if dtype == tf.string:
                    if not isinstance(v, str):
                        raise ValueError(f"JSON Value: {v!r} is not of expected type: string")
                    return v.encode("utf-8")
                if dtype.is_integer and not (isinstance(v, int) and not isinstance(v, bool)):
                    raise ValueError(f"JSON Value: {v!r} is not of expected type: {dtype.name}")
                if dtype.is_floating and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
                    raise ValueError(f"JSON Value: {v!r} is not of expected type: {dtype.name}")
                return v

            def walk(v):
                return [walk(x) for x in v] if isinstance(v, list) else leaf(v)

            arr = np.array(walk(value), dtype=object if dtype == tf.string else dtype.as_numpy_dtype)
            return tf.make_tensor_proto(arr, dtype=dtype)

        if "instances" in body and "inputs" in body:
            raise ValueError("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
        if "instances" in body:
            rows = body["instances"]
            if not isinstance(rows, list) or not rows:
                raise ValueError("No values in 'instances' array")
            if not isinstance(rows[0], dict) and len(dtypes) > 1:
                raise ValueError("instances is a plain list, but expecting list of objects as multiple input tensors required as per tensorinfo_map")
            if not isinstance(rows[0], dict):  # a plain list feeds the one input
                rows = [{next(iter(dtypes)): r} for r in rows]
            columns = {k: [] for k in dtypes}
            for i, row in enumerate(rows):
                if not isinstance(row, dict) or set(row) != set(dtypes):
                    raise ValueError(f"Failed to process element: {i} of 'instances' list. keys must be equal to: {','.join(sorted(dtypes))}")
                for k, v in row.items():
                    columns[k].append(v)
            for k, values in columns.items():
                if len({json.dumps(np.shape(v)) for v in values}) > 1:
                    raise ValueError(f"Expecting shape of {k} to agree across instances")
                request.inputs[k].CopyFrom(tensor(values, dtypes[k]))
            return request, "row"
        if "inputs" in body:
            inputs = body["inputs"]
            if not isinstance(inputs, dict) and len(dtypes) > 1:
                raise ValueError("inputs is a plain value/list, but expecting an object as multiple input tensors required as per tensorinfo_map")
            for k in dtypes:
                if k not in inputs:
                    raise ValueError(f"Missing named input: {k} in 'inputs' object.")
                request.inputs[k].CopyFrom(tensor(inputs[k], dtypes[k]))
            return request, "columnar"
        raise ValueError("Missing 'inputs' or 'instances' key")

    @staticmethod
    def json_from_response(response, fmt):
        """MakeJsonFromTensors: row format needs one batch size; *_bytes strings become {"b64": ...}."""

        def to_json(name, value):
            if isinstance(value, np.ndarray):
                return [to_json(name, v) for v in value]
            if isinstance(value, bytes):  # rapidjson writes the bytes as they are: our text must be UTF-8
                return {"b64": base64.b64encode(value).decode("ascii")} if name.endswith("_bytes") else value.decode("utf-8")
            return value.item() if isinstance(value, np.generic) else value

        arrays = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
        if fmt == "columnar":
            cols = {k: to_json(k, a) for k, a in arrays.items()}
            return {"outputs": cols if len(cols) > 1 else next(iter(cols.values()))}
        sizes = {a.shape[0] for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"Tensors have inconsistent batch sizes {sizes}")
        rows = []
        for i in range(sizes.pop()):
            item = {k: to_json(k, a[i]) for k, a in arrays.items()}
            rows.append(item if len(item) > 1 else next(iter(item.values())))
        return {"predictions": rows}

    def predict_json(self, body: dict, version=None):
        """(HTTP status, JSON answer) for POST /v1/models/NAME[/versions/N]:predict."""
        servable, error = self._servable(self.name, version)  # the handle is looked up before the body is read
        if error:
            return HTTP_STATUS[error[0]], {"error": error[1]}
        try:
            request, fmt = self.request_from_json(body, version)
        except ValueError as e:
            return 400, {"error": str(e)}
        response, error = self.predict(request, deadline_s=self.rest_deadline_s)
        if error:
            return HTTP_STATUS.get(error[0], 500), {"error": error[1]}
        return 200, self.json_from_response(response, fmt)


def grpc_servicer_test_double(double):
    """TEST DOUBLE: a PredictionService servicer over ServingTestDouble (not TF Serving); other RPCs are UNIMPLEMENTED.
    The client's deadline bounds the run, as TF Serving turns it into the session's timeout."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class TestDoublePredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            response, error = double.predict(request, deadline_s=context.time_remaining())
            if error:
                context.abort(getattr(grpc.StatusCode, error[0]), error[1])
            return response

    return TestDoublePredictionService()


class RestHandlerTestDouble(BaseHTTPRequestHandler):
    """TEST DOUBLE: POST /v1/models/NAME[/versions/N]:predict over ServingTestDouble (not TF Serving).
    Any other request is a 404 (TF Serving also answers GET .../metadata and model status: not here)."""

    double = None
    PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")

    def do_POST(self):  # noqa: N802
        m = self.PATH.match(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not m:
            status, answer = 404, {"error": f"Malformed request: POST {self.path}"}
        elif m.group(1) != self.double.name:
            status, answer = 404, {"error": f"Servable not found for request: Latest({m.group(1)})"}
        else:
            try:
                status, answer = self.double.predict_json(json.loads(body), int(m.group(2)) if m.group(2) else None)
            except ValueError as e:
                status, answer = 400, {"error": f"JSON Parse error: {e}"}
        data = json.dumps(answer).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (its own timeout)
            pass

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def rest_server(double):
    """The REST test double on 127.0.0.1 (a free port), in a thread: yields its base URL."""
    handler = type("Handler", (RestHandlerTestDouble,), {"double": double})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def grpc_server(double):
    """The gRPC test double on 127.0.0.1 (a free port): yields its host:port."""
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(grpc_servicer_test_double(double), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)
