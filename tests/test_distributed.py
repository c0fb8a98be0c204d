"""tf.distribute on CPU: MirroredStrategy over 2 logical CPUs, and two MultiWorkerMirrored workers on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
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


def losses(run_dir):
    return [r["loss"] for r in map(json.loads, open(os.path.join(run_dir, "metrics.jsonl"))) if r["kind"] == "train"]


@pytest.mark.parametrize("layout, grad_clip, extra", [("stream", 1e3, []), ("windows", 0.05, []), ("stream", 1e3, ["regularised"]),
                                                     ("stream", 1e3, ["muon"])])
def test_mirrored_steps_equal_one_device(small_corpus, tmp_path, layout, grad_clip, extra):
    """Plain SGD at a constant rate (the helper builds it where the trainer builds Adam), so each step
    moves the weights by lr x the clipped global gradient: the steps of two replicas must equal one
    device's. Adam would hide a gradient scaled by a constant (a missing division by the number of
    replicas, an average in place of a sum). grad_clip 1e3 never clips; 0.05 clips every step, so the
    clip must act on the summed global gradient (per-replica clipping moves the weights differently).
    ["muon"]: --optimizer muon itself (orthogonalised in bfloat16 on CPUs that multiply it natively)."""
    proc = subprocess.run([sys.executable, HELPER, "mirrored", small_corpus, str(tmp_path), layout, str(grad_clip), *extra],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = result_of(proc.stdout)
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    one, two = (np.load(tmp_path / name / "steps.npz") for name in ("default", "mirrored"))
    assert sorted(one.files) == sorted(two.files) and out["default"]["steps"] == out["mirrored"]["steps"] == 6
    lr, norms = 0.5, np.zeros(6)
    for name in one.files:
        np.testing.assert_array_equal(one[name][0], two[name][0], err_msg=name)  # the same seed, the same model
        d1, d2 = np.diff(one[name], axis=0), np.diff(two[name], axis=0)  # (steps, ...) what each step did
        # a step is a difference of two weights: it carries their rounding, a few float32 ulps of the largest weight
        atol = 1e-4 * np.abs(d1).max() + 4 * np.spacing(np.abs(one[name]).max())
        if extra == ["muon"]:  # Adam's first steps (lr x sign) flip on near-zero gradients, bfloat16 rounds apart what
            # differs in the last bits, and later steps compound it: the first step as a whole agrees, and the losses (below)
            assert np.linalg.norm(d2[0] - d1[0]) < 0.03 * np.linalg.norm(d1[0]), name
        else:
            np.testing.assert_allclose(d2, d1, rtol=1e-4, atol=atol, err_msg=name)
        norms += (d1.reshape(6, -1) ** 2).sum(axis=1)
    norms = np.sqrt(norms) / lr  # each step's global gradient norm after clipping
    if extra:
        assert norms.min() > 0  # weight decay moves the weights too: no norm to check
    elif grad_clip < 1:
        np.testing.assert_allclose(norms, grad_clip, rtol=1e-4)  # every step clipped
    else:
        assert 0.05 < norms.min() and norms.max() < grad_clip, norms  # real gradients, never clipped
    np.testing.assert_allclose(losses(tmp_path / "mirrored"), losses(tmp_path / "default"), atol=1e-4)


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
    directory: both end with bit-identical weights and moving averages, the chief writes the checkpoint
    (holding that average, or the raw weights where they scored better) and the other worker writes nothing. The kill / resume path is the slow test below."""
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
    assert r0["averaged_weights_sha256"] == r1["averaged_weights_sha256"] != r0["weights_sha256"]  # and the same moving average
    assert r0["wrote"] and r1["wrote"] is None
    assert json.loads((tmp_path / "run0" / "latest.json").read_text())["step"] == 4
    assert not (tmp_path / "run1").exists() or os.listdir(tmp_path / "run1") == []  # the worker wrote nothing
    written = load_checkpoint(str(tmp_path / "run0"), with_optimizer=False)
    held = written.train_state["weights"]  # the end keeps the better of the average and the raw weights, and says which
    assert held in ("average", "raw")
    assert weights_digest(written.model) == r0["averaged_weights_sha256" if held == "average" else "weights_sha256"]


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
