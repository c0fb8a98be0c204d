"""scripts/serving_client.py against TEST DOUBLES of TF Serving (tests/helpers/serving_double.py; not TF Serving):
model versions, a server that fails (5xx), one that is slow (the client's --timeout) or past its own REST
deadline (504), an unreachable server; and the client needing nothing of tfcharrnn (nor TensorFlow, for REST).

Every error must be one line on stderr starting with "error: ", no traceback: exit 2 when the server
refused the request, 1 when no answer came.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from helpers.serving_double import ServingTestDouble, grpc_server, rest_server

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = os.path.join(REPO, "scripts", "serving_client.py")

spec = importlib.util.spec_from_file_location("serving_client_under_test", CLIENT)
client = importlib.util.module_from_spec(spec)
spec.loader.exec_module(client)


@pytest.fixture(scope="module")
def double(tiny_saved_model):
    """Versions 1 and 2 of "tiny" (the same SavedModel twice: ``double.served`` tells which answered)."""
    return ServingTestDouble({1: tiny_saved_model["path"], 2: tiny_saved_model["path"]}, "tiny")


@pytest.fixture
def servers(double, monkeypatch):
    """(REST URL, gRPC target) of the doubles; the double's fault and delay are reset afterwards."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    double.served.clear()
    with rest_server(double) as url, grpc_server(double) as target:
        yield url, target
    double.fault, double.delay_s, double.rest_deadline_s = None, 0.0, 30.0


def run(capsys, *args):
    """serving_client.main(args) -> (exit code, stdout, stderr)."""
    code = client.main(["--model", "tiny", "--prompt", "ROMEO:", "--max_new_chars", "8", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_version_picks_the_model_version(servers, double, capsys, transport):
    url, target = servers
    where = ["--url", url] if transport == "rest" else ["--grpc", target]
    code, out, _ = run(capsys, *where, "--version", "1")
    assert code == 0 and out.startswith("ROMEO:") and len(out) == len("ROMEO:") + 8 + 1
    assert double.served == [(1, "serving_default")]
    assert run(capsys, *where)[0] == 0
    assert double.served[-1] == (2, "serving_default")  # no --version: the latest
    code, out, err = run(capsys, *where, "--version", "3")
    assert code == 2 and out == ""
    assert "refused" in one_line_error(err) and "Servable not found for request: Specific(tiny, 3)" in err
    if transport == "rest":
        assert "HTTP 404" in err
    else:
        assert "NOT_FOUND" in err
    assert len(double.served) == 2


@pytest.mark.parametrize("transport", ["rest-instances", "rest-inputs", "grpc"])
def test_stop_goes_to_generate_and_ends_each_text_before_it(servers, double, capsys, transport):
    """--stop (escapes read) asks the `generate` signature; the texts end before the stop string, stderr says how each ended."""
    from helpers.stops import apply_stops

    url, target = servers
    where = {"rest-instances": ["--url", url], "rest-inputs": ["--url", url, "--format", "inputs"], "grpc": ["--grpc", target]}[transport]
    args = ["--model", "tiny", *where, "--prompt", "ROMEO:", "--prompt", "the ", "--max_new_chars", "60", "--seed", "3", "--temperature", "0.9"]

    def run(*more):
        code = client.main(args + list(more))
        return (code, *capsys.readouterr())

    code, full, _ = run()
    full = [block.split("\n", 1)[1].rstrip("\n") for block in full.split("==== sample ")[1:]]  # prompt + text of each
    texts = [full[0][len("ROMEO:"):], full[1][len("the "):]]
    stop = texts[0][20:22]
    code, out, err = run("--stop", stop.replace("\\", "\\\\").replace("\n", "\\n"))
    assert code == 0 and double.served[-1] == (2, "generate")
    want = [apply_stops(t, [stop]) for t in texts]
    assert out == f"==== sample 1 (seed 3) ====\nROMEO:{want[0][0]}\n==== sample 2 (seed 4) ====\nthe {want[1][0]}\n"
    reports = [f"sample {i + 1} (seed {3 + i}): " + ("ended at a stop string after" if r == "stop" else "no stop string in") +
               f" {n} generated characters\n" for i, (_, r, n) in enumerate(want)]
    assert err == "".join(reports) and want[0][1] == "stop"
    code, out, err = run("--stop", "e" * 65)
    assert code == 2 and "stop must be at most 64 characters" in one_line_error(err)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
@pytest.mark.parametrize("fault, status", [("UNAVAILABLE", 503), ("INTERNAL", 500)])
def test_a_failing_server_is_one_line_and_exit_1(servers, double, capsys, transport, fault, status):
    url, target = servers
    double.fault = (fault, "the model is being reloaded\nsecond line of detail")
    code, out, err = run(capsys, *(["--url", url] if transport == "rest" else ["--grpc", target]))
    assert code == 1 and out == ""
    assert "could not answer" in one_line_error(err) and "the model is being reloaded" in err and "second line" not in err
    assert (f"HTTP {status}" if transport == "rest" else f"{fault}:") in err


def test_the_rest_deadline_of_the_server_is_a_504_the_client_explains(servers, double, capsys):
    """TF Serving runs a REST request with --rest_api_timeout_in_ms (30 s by default) and answers 504 past it."""
    url, _ = servers
    double.delay_s, double.rest_deadline_s = 1.0, 0.2
    code, out, err = run(capsys, "--url", url)
    assert code == 1 and out == ""
    one_line_error(err)
    assert "HTTP 504: Timed out waiting for notification" in err and "--rest_api_timeout_in_ms" in err and "--grpc" in err


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_slow_server_meets_the_client_timeout(servers, double, capsys, transport):
    url, target = servers
    double.delay_s = 3.0
    code, out, err = run(capsys, *(["--url", url] if transport == "rest" else ["--grpc", target]), "--timeout", "0.3")
    assert code == 1 and out == ""
    assert "no answer from the server within 0.3 s (--timeout)" in one_line_error(err)


def test_an_unreachable_server(capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(capsys, "--url", f"http://127.0.0.1:{port}")
    assert code == 1 and "cannot reach the server" in one_line_error(err)
    code, _, err = run(capsys, "--grpc", f"127.0.0.1:{port}", "--timeout", "5")
    assert code == 1 and "could not answer (UNAVAILABLE" in one_line_error(err)


def test_bad_client_flags(capsys):
    for flags, message in ((["--timeout", "0"], "--timeout must be > 0"), (["--version", "0"], "--version must be a positive integer")):
        with pytest.raises(SystemExit) as e:
            client.main(["--model", "tiny", *flags])
        assert e.value.code == 2 and message in capsys.readouterr().err


NO_TFCHARRNN = textwrap.dedent("""
    import runpy, sys

    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tfcharrnn", "tensorflow", "tensorflow_serving"):
                raise ImportError(name + " is not importable in this process")

    sys.meta_path.insert(0, Blocked())
    sys.argv = [sys.argv[1]] + sys.argv[2:]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        assert not [m for m in sys.modules if m.split(".")[0] in ("tfcharrnn", "tensorflow")]
""")


def test_rest_client_needs_neither_tfcharrnn_nor_tensorflow(servers, tmp_path):
    url, _ = servers
    wrapper = tmp_path / "no_tfcharrnn.py"
    wrapper.write_text(NO_TFCHARRNN)
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    proc = subprocess.run([sys.executable, str(wrapper), CLIENT, "--model", "tiny", "--url", url, "--prompt", "ROMEO:",
                           "--max_new_chars", "8", "--version", "1"], capture_output=True, text=True, timeout=120, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ROMEO:") and len(proc.stdout) == len("ROMEO:") + 8 + 1
