"""Nothing lost, nothing crashes: signals, SIGKILL at random moments, disk full, fuzzed command lines."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "scripts", "train.py")
FULL_DISK = os.path.join(ROOT, "tests", "helpers", "full_disk")


def train_cmd(corpus, run_dir, *extra):
    return [sys.executable, TRAIN, "--train_data", corpus, "--hidden_size", "32", "--batch_size", "8", "--seq_length", "32",
            "--checkpoint_dir", str(run_dir), "--iters_to_report", "5", "--sample_every", "0", *map(str, extra)]


def wait_for(predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def checkpoints_are_valid(run_dir):
    for pointer in ("latest", "best"):
        target = ckpt_lib.read_pointer(str(run_dir), pointer)
        if target is not None:
            ckpt = ckpt_lib.load_checkpoint(target)
            assert ckpt.train_state["step"] >= 0
    for path, _ in ckpt_lib.list_checkpoints(str(run_dir)):
        ckpt_lib.load_checkpoint(path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_exits_cleanly(small_corpus, tmp_path, sig):
    proc = subprocess.Popen(train_cmd(small_corpus, tmp_path, "--max_steps", 100000, "--eval_val_every", 0),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    assert wait_for(lambda: lines.append(proc.stdout.readline()) or any(" | epoch" in line for line in lines))
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    out = "".join(lines) + out
    assert proc.returncode == 0, err
    assert f"stopping: {sig.name} received" in out and "resume with: python scripts/train.py --resume" in out
    assert "Traceback" not in err
    latest = ckpt_lib.read_pointer(str(tmp_path), "latest")
    step = ckpt_lib.load_checkpoint(latest).train_state["step"]
    assert step >= 5
    resumed = subprocess.run(train_cmd(small_corpus, tmp_path, "--resume", "--max_steps", step + 3, "--eval_val_every", 0),
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert f"at step {step}" in resumed.stdout and f"done: step {step + 3}" in resumed.stdout


def latest_step(run_dir):
    """The step latest.json names (written atomically, so never half), or None before the first checkpoint."""
    try:
        return json.loads((run_dir / "latest.json").read_text())["step"]
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("kills", [pytest.param(2, id="2-kills"), pytest.param(8, id="8-kills", marks=pytest.mark.slow)])
def test_sigkill_at_random_moments_leaves_checkpoints_loadable(small_corpus, tmp_path, kills):
    """Each process trains and writes a checkpoint every step; it is killed at a random moment once it
    has written one of its own (a checkpoint newer than any before it started), so every kill lands
    while that process is writing checkpoints, not while Python and TensorFlow are still starting."""
    rng = random.Random(1234)
    killed_at = []
    for _ in range(kills):
        before = latest_step(tmp_path)
        proc = subprocess.Popen(train_cmd(small_corpus, tmp_path, "--max_steps", 100000, "--eval_val_every", 1, "--patience", 0, "--keep_best", 2,
                                          *(["--resume"] if before is not None else ["--seed", 1])),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def progressed():
            assert proc.poll() is None, proc.communicate()[1][-2000:]  # it must still be training when killed
            return (latest_step(tmp_path) or 0) > (before or 0)

        assert wait_for(progressed, timeout=120)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        killed_at.append(latest_step(tmp_path))
        checkpoints_are_valid(tmp_path)
    assert all(a < b for a, b in zip(killed_at, killed_at[1:])), killed_at  # each process resumed and went further
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    assert len(leftovers) <= kills  # half-written directories keep a hidden name and are never loaded


def test_disk_full_while_saving_is_one_line_exit_1_and_keeps_the_previous_checkpoint(small_corpus, tmp_path):
    """scripts/train.py --resume on a disk that fills up while the next checkpoint is written: its first
    file is synced, the second fails with ENOSPC (tests/helpers/full_disk/sitecustomize.py, loaded
    through PYTHONPATH: the program itself is unchanged). What the user gets: one line, exit 1, the
    previous checkpoint and both pointers as they were, nothing half-written left."""
    common = ("--eval_val_every", 0, "--tensorboard", "false")
    first = subprocess.run(train_cmd(small_corpus, tmp_path, "--max_steps", 2, *common), capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    pointers = {name: (tmp_path / name).read_bytes() for name in ("latest.json", "best.json")}
    good = ckpt_lib.read_pointer(str(tmp_path), "latest")
    entries = sorted(os.listdir(tmp_path))
    env = dict(os.environ, FULL_DISK_AFTER="1", PYTHONPATH=os.pathsep.join([FULL_DISK, ROOT, os.environ.get("PYTHONPATH", "")]))
    second = subprocess.run(train_cmd(small_corpus, tmp_path, "--resume", "--max_steps", 4, *common), capture_output=True, text=True,
                            timeout=180, env=env)
    assert second.returncode == 1, second.stdout[-2000:] + second.stderr[-2000:]
    assert "done: step" not in second.stdout and "Traceback" not in second.stderr
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert lines[-1] == "error: No space left on device; check the path, permissions and free disk space", second.stderr[-2000:]
    assert {name: (tmp_path / name).read_bytes() for name in pointers} == pointers
    assert sorted(os.listdir(tmp_path)) == entries  # the half-written checkpoint is gone, nothing else appeared
    assert ckpt_lib.load_checkpoint(good).train_state["step"] == 2


def test_a_nan_loss_is_one_line_with_the_fix_exit_1_and_keeps_the_last_checkpoint(small_corpus, tmp_path):
    """scripts/train.py --init_from a checkpoint whose output weights are NaN, averaged and raw (what a
    diverged run ends with; its checksums updated, so it loads): the first step's loss is nan. RunFailed, not bad input:
    exit 1, the message names the step and the learning rate and says what to lower."""
    import numpy as np

    from conftest import tiny_config
    from helpers.checkpoint_files import npz_bytes, replace_file
    from tfcharrnn.training import train

    run = tmp_path / "run"
    train(tiny_config(small_corpus, run, max_steps=4))
    good = ckpt_lib.read_pointer(str(run), "latest")
    pointers = {name: (run / name).read_bytes() for name in ("latest.json", "best.json")}
    diverged = tmp_path / "diverged"
    shutil.copytree(good, diverged)
    weights = dict(np.load(diverged / "weights.npz"))
    weights["char_rnn/logits/kernel"][:] = np.nan
    replace_file(diverged, "weights.npz", npz_bytes(weights))
    optimizer = dict(np.load(diverged / "optimizer.npz"))
    for value in optimizer.values():
        if value.shape == weights["char_rnn/logits/kernel"].shape:  # its Adam moments, and the average's slot
            value[:] = np.nan
    replace_file(diverged, "optimizer.npz", npz_bytes(optimizer))
    proc = subprocess.run(train_cmd(small_corpus, run, "--init_from", diverged, "--max_steps", 10, "--eval_val_every", 0,
                                    "--lr_schedule", "constant", "--learning_rate", 0.02), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1] == "error: loss became nan at step 5 (learning rate 0.02); lower --learning_rate or --grad_clip and resume", lines[-1]
    assert "Traceback" not in proc.stderr
    assert {name: (run / name).read_bytes() for name in pointers} == pointers
    restored = ckpt_lib.load_checkpoint(good)
    assert restored.train_state["step"] == 4 and all(np.isfinite(w).all() for w in restored.weights.values())


def _can_mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(path)], capture_output=True).returncode == 0


def test_real_disk_full_is_a_clear_error(small_corpus, tmp_path):
    """On a 400 kB tmpfs the first checkpoints fit and a bigger one does not: one clear line, old checkpoint intact."""
    mnt = tmp_path / "small_disk"
    if not _can_mount_tmpfs(mnt):
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); the injected-ENOSPC test covers the logic")
    try:
        first = subprocess.run(train_cmd(small_corpus, mnt, "--max_steps", 2, "--eval_val_every", 0, "--tensorboard", "false",
                                         "--hidden_size", 16, "--embedding_size", 64), capture_output=True, text=True, timeout=180)
        assert first.returncode == 0, first.stderr
        good = ckpt_lib.read_pointer(str(mnt), "latest")
        with open(mnt / "filler", "wb") as f:  # leave too little room for the next checkpoint
            free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
            f.write(b"\0" * max(0, free - 20_000))
        second = subprocess.run(train_cmd(small_corpus, mnt, "--resume", "--max_steps", 4, "--eval_val_every", 0,
                                          "--tensorboard", "false", "--hidden_size", 16), capture_output=True, text=True, timeout=180)
        assert second.returncode == 1
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert lines[-1].startswith("error: No space left on device") and "Traceback" not in second.stderr
        assert ckpt_lib.read_pointer(str(mnt), "latest") == good
        ckpt_lib.load_checkpoint(good)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# --- fuzzing the command-line parsers -----------------------------------------------------------

FLAG_WORDS = ["--train_data", "--seq_length", "--batch_size", "--hidden_size", "--rnn_size", "--num_layers", "--model", "--dropout",
              "--learning_rate", "--grad_clip", "--print_every", "--eval_val_every", "--checkpoint_dir", "--init_from", "--seed",
              "--gpu", "--cpu", "--layout", "--stride", "--val_frac", "--max_epochs", "--time_budget", "--fused", "--strategy",
              "--length", "--temperature", "--top_k", "--top_p", "--prime", "--greedy", "--num_samples", "-x", "--"]
VALUES = st.one_of(st.sampled_from(["0", "-1", "1e9", "nan", "inf", "lstm", "gru", "abc", "", "1.5", "true", "stream"]), st.text(max_size=12))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FLAG_WORDS), VALUES), max_size=8))
def test_train_parser_never_tracebacks(argv):
    from tfcharrnn.cli.flags import train_parser
    from tfcharrnn.cli.train import train_config

    try:
        train_config(train_parser().parse_args(argv)).validate()
    except UserError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FLAG_WORDS), VALUES), max_size=8))
def test_sample_parser_never_tracebacks(argv):
    from tfcharrnn.cli.flags import sample_parser
    from tfcharrnn.sample_settings import check_sample_settings

    try:
        args = sample_parser().parse_args(["ckpt", *argv])
        check_sample_settings(65, length=args.length, num_samples=args.num_samples, temperature=args.temperature,
                              greedy=args.greedy, top_k=args.top_k, top_p=args.top_p)
    except UserError:
        pass


def test_help_exits_zero():
    proc = subprocess.run([sys.executable, TRAIN, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--hidden_size" in proc.stdout and "reporting and checkpoints" in proc.stdout


# --- the exported signature under abuse (called in-process, not through a server) ----------------


def test_served_model_survives_abuse(tiny_checkpoint, tmp_path):
    """serving_default and generate, loaded in a fresh process without tfcharrnn and called directly (not through a server):
    odd and hostile requests, then 8 threads of that process calling it at once."""
    from tfcharrnn.export import export_checkpoint

    info = export_checkpoint(tiny_checkpoint, "abuse", base_dir=str(tmp_path), tflite=False, warmup=False)
    helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "abuse_signatures.py")
    proc = subprocess.run([sys.executable, helper, info["path"], "8"], capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(next(line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")))
    cases = out["cases"]
    must_work = ["empty prompt", "10,000-character prompt", "temperature 1e-6", "temperature 1e6", "temperature 0 (greedy)",
                 "max_new_chars 10,000 (the cap)", "top_k 1e6", "batch of 256", "still serving", "stop: empty (none)",
                 "stop: 64 characters (the cap)", "stop: batch of 256"]
    for name in must_work:
        assert cases[name]["ok"], (name, cases[name])
    assert cases["batch of 256"]["rows"] == 256 and cases["max_new_chars 10,000 (the cap)"]["chars"] == [10_000]
    assert cases["stop: batch of 256"]["rows"] == 256 and cases["stop: empty (none)"]["finish_reason"] == ["length"]
    must_refuse = ["unknown characters", "temperature -1", "temperature nan", "max_new_chars -5", "max_new_chars 1e9 (over the cap)",
                   "top_k -3", "top_p 0", "top_p 7", "stop: 65 characters", "stop: unknown characters", "stop: 10,000 characters"]
    for name in must_refuse:
        assert not cases[name]["ok"] and cases[name]["error"] == "InvalidArgument" and cases[name]["message"], (name, cases[name])
    assert "\u6708" in cases["unknown characters"]["message"] or "U+6708" in cases["unknown characters"]["message"]
    assert out["errors"] == [] and out["concurrent"]["other"] == 0
    assert out["concurrent"]["ok"] > 8 and out["concurrent"]["invalid"] > 0
    assert out["rss_after_mb"] - out["rss_before_mb"] < 500  # bounded: no growth per request
