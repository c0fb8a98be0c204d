"""tf.distribute on CPU: MirroredStrategy over 2 logical CPUs, and two MultiWorkerMirrored workers on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tfcharrnn.errors import UserError

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "dist_worker.py")


def result_of(stdout):
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError("no RESULT line in:\n" + stdout[-2000:])


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.parametrize("layout, extra", [("stream", []), ("windows", []), ("stream", ["regularised"])])
def test_mirrored_matches_one_device(small_corpus, tmp_path, layout, extra):
    proc = subprocess.run([sys.executable, HELPER, "mirrored", small_corpus, str(tmp_path), layout, *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = result_of(proc.stdout)
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    one, two = out["default"]["losses"], out["mirrored"]["losses"]
    assert len(one) == len(two) == 12
    for a, b in zip(one, two):
        assert a == pytest.approx(b, abs=1e-4)
    assert out["default"]["val"] == pytest.approx(out["mirrored"]["val"], abs=1e-4)


def start_workers(corpus, run_dir, steps, ports, resume=False):
    args = lambda i: [sys.executable, HELPER, "worker", str(i), ",".join(map(str, ports)), corpus, str(run_dir), str(steps)] + (["resume"] if resume else [])  # noqa: E731
    return [subprocess.Popen(args(i), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]


def finish(procs, timeout=240):
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        outs.append((p.returncode, out, err))
    return outs


def test_two_workers_agree_and_only_the_chief_writes(small_corpus, tmp_path):
    """Default suite: two MultiWorkerMirrored workers on 127.0.0.1, a few steps, each in its own run
    directory: both end with bit-identical weights, the chief writes the checkpoint (holding those
    weights) and the other worker writes nothing. The kill / resume path is the slow test below."""
    from tfcharrnn.checkpoint import load_checkpoint

    from helpers.digest import weights_digest
    outs = finish(start_workers(small_corpus, tmp_path / "run{index}", 4, free_ports(2)))
    for code, out, err in outs:
        assert code == 0, err[-3000:]
    r0, r1 = result_of(outs[0][1]), result_of(outs[1][1])
    assert r0["chief"] and not r1["chief"] and r0["replicas"] == r1["replicas"] == 2
    assert r0["step"] == r1["step"] == 4 and len(r0["losses"]) == 4
    assert r0["losses"] == r1["losses"]  # the all-reduced loss of the same global batch
    assert r0["weights_sha256"] == r1["weights_sha256"]  # the same summed gradients, the same updates
    assert r0["wrote"] and r1["wrote"] is None
    assert json.loads((tmp_path / "run0" / "latest.json").read_text())["step"] == 4
    assert not (tmp_path / "run1").exists() or os.listdir(tmp_path / "run1") == []  # the worker wrote nothing
    assert weights_digest(load_checkpoint(str(tmp_path / "run0"), with_optimizer=False).model) == r0["weights_sha256"]


@pytest.mark.slow
def test_two_workers_train_checkpoint_fail_clearly_and_resume(small_corpus, tmp_path):
    run_dir = tmp_path / "run"
    # 1. two workers, a few steps: the chief (worker 0) alone writes checkpoints.
    outs = finish(start_workers(small_corpus, run_dir, 10, free_ports(2)))
    for code, out, err in outs:
        assert code == 0, err[-3000:]
    r0, r1 = result_of(outs[0][1]), result_of(outs[1][1])
    assert r0["chief"] and not r1["chief"] and r0["replicas"] == 2
    assert r0["losses"] == pytest.approx(r1["losses"])
    latest = json.loads((run_dir / "latest.json").read_text())
    assert latest["step"] == 10

    # 2. a long run; kill worker 1 once the chief has checkpointed: worker 0 fails with a clear message.
    procs = start_workers(small_corpus, run_dir, 400, free_ports(2), resume=True)
    deadline = time.time() + 180
    while time.time() < deadline and json.loads((run_dir / "latest.json").read_text())["step"] < 20:
        time.sleep(0.5)
    procs[1].send_signal(signal.SIGKILL)
    code, out, err = finish(procs[:1])[0]
    procs[1].communicate()
    assert code == 1
    assert "error: lost contact with another worker" in err and "--resume" in err
    assert "Traceback" not in err
    stopped_at = json.loads((run_dir / "latest.json").read_text())["step"]
    assert stopped_at >= 20

    # 3. restart both with --resume: training goes on from the chief's latest checkpoint.
    outs = finish(start_workers(small_corpus, run_dir, stopped_at + 5, free_ports(2), resume=True))
    for code, out, err in outs:
        assert code == 0, err[-3000:]
    r0 = result_of(outs[0][1])
    assert r0["start_step"] == stopped_at and r0["step"] == stopped_at + 5


def test_multiworker_without_tf_config_is_a_clear_error(small_corpus, tmp_path, monkeypatch):
    from conftest import tiny_config
    from tfcharrnn.training import Trainer

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="TF_CONFIG"):
        Trainer(tiny_config(small_corpus, tmp_path, strategy="multiworker"))


def test_strategy_tpu_without_a_tpu_is_a_clear_error(monkeypatch):
    """TPUStrategy itself cannot run on these machines (no TPU): what can is the error a machine without one gets."""
    from tfcharrnn.training import make_strategy

    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(UserError, match=r"--strategy tpu: no TPU found \(.*\); run on a TPU VM or pick another strategy"):
        make_strategy("tpu")
