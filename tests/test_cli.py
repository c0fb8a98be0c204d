"""The command-line tools end to end, in fresh processes, on a slice of Tiny Shakespeare."""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from tfcharrnn.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# A name that runs commands if a path is ever pasted into a shell: each would create a pwned* file in
# the working directory. The corpus, the run directory and the exports of these tests live under it.
SHELL_NAME = "it's \"odd\" $(touch pwned1); touch pwned2 `touch pwned3` >pwned4 &"


def run(script, *args, timeout=300, cwd=ROOT, **env_vars):
    """scripts/SCRIPT with ARGS in a fresh process; env_vars set (a value None: unset) in its environment."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(env_vars)
    env = {k: v for k, v in env.items() if v is not None}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    return proc


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, small_corpus):
    """A run trained by scripts/train.py on a corpus and into a run directory whose paths hold SHELL_NAME."""
    odd = tmp_path_factory.mktemp("cli") / SHELL_NAME
    odd.mkdir()
    corpus = odd / f"{SHELL_NAME}.txt"
    shutil.copyfile(small_corpus, corpus)
    run_dir = odd / f"cv {SHELL_NAME}"
    proc = run("train.py", "--train_data", corpus, "--hidden_size", 32, "--num_layers", 2, "--batch_size", 8,
               "--seq_length", 32, "--max_steps", 40, "--iters_to_report", 10, "--eval_val_every", 20,
               "--sample_every", 20, "--sample_length", 40, "--checkpoint_dir", run_dir, cwd=odd.parent)
    assert proc.returncode == 0, proc.stderr
    return str(run_dir), proc


def test_train_reports_and_checkpoints(trained_run):
    run_dir, proc = trained_run
    out = proc.stdout
    assert "parameters" in out and "chars/s" in out and "it/s" in out and "lr " in out and "smooth" in out
    assert "validation:" in out and "bits/char" in out and "---- sample ----" in out
    assert "done: step 40" in out
    assert os.path.exists(os.path.join(run_dir, "latest.json")) and os.path.exists(os.path.join(run_dir, "best.json"))
    assert "Traceback" not in proc.stderr


TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\])")


def test_sample_same_seed_same_text_and_tensorflow_start_up_lines_only_when_asked_for(trained_run):
    """The same command twice: the same text. TF_CPP_MIN_LOG_LEVEL=0 makes TensorFlow log at start-up on
    any machine: those lines reach stderr with TFCHARRNN_TF_LOGS=1 and are filtered out without it."""
    run_dir, _ = trained_run
    args = ("sample.py", run_dir, "--length", 80, "--seed", 5, "--prime", "ROMEO:", "--temperature", 0.8)
    a = run(*args, TF_CPP_MIN_LOG_LEVEL="0", TFCHARRNN_TF_LOGS="1")
    b = run(*args, TF_CPP_MIN_LOG_LEVEL="0", TFCHARRNN_TF_LOGS=None)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("ROMEO:")
    assert len(a.stdout.rstrip("\n")) >= 80
    assert [line for line in a.stderr.splitlines() if TF_LOG_LINE.match(line)], a.stderr[-2000:]
    assert not [line for line in b.stderr.splitlines() if TF_LOG_LINE.match(line)], b.stderr[-2000:]


def test_sample_strategies_and_batches(trained_run):
    run_dir, _ = trained_run
    p = run("sample.py", run_dir, "--length", 30, "--num_samples", 3, "--top_k", 5, "--top_p", 0.9, "--seed", 1)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("==== sample") == 3
    g = run("sample.py", run_dir, "--length", 30, "--greedy", "--prime", "the ")
    assert g.returncode == 0 and g.stdout.startswith("the ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "-1"], "--temperature must be a finite number >= 0 (0 = greedy), got -1"),
        (["--stop", "\\q"], "argument --stop: unknown escape \\q"),
        (["--stop", "ebra\u6708"], "the stop string 'ebra\u6708' has 1 character(s) the model never saw: '\u6708'; the model could never"),
        (["--top_k", "-1"], "--top_k"),
        (["--top_k", "1000"], "--top_k"),
        (["--top_p", "1.5"], "--top_p"),
        (["--top_p", "0"], "--top_p"),
        (["--length", "-3"], "--length"),
        (["--prime", "Zebra\u00e9\u6708"], "never saw"),
        (["--bogus"], "unrecognized"),
    ],
)
def test_sample_bad_input_is_one_line(trained_run, args, message):
    run_dir, _ = trained_run
    p = run("sample.py", run_dir, *args)
    assert p.returncode == 2
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], p.stderr


def test_paths_with_shell_characters_work_end_to_end_and_run_nothing(trained_run, tmp_path):
    """The corpus and run directory of trained_run (trained and sampled by the tests above), and here an
    export and its .tflite, all under SHELL_NAME: every tool takes them as they are (they are never
    pasted into a shell command), and none of the commands hidden in the name ever ran."""
    run_dir, _ = trained_run
    odd = os.path.dirname(run_dir)
    base = os.path.join(odd, f"models {SHELL_NAME}")
    exported = run("export.py", run_dir, "--name", "odd", "--base_dir", base, "--no_warmup", cwd=odd)
    assert exported.returncode == 0, exported.stderr[-2000:]
    tflite = os.path.join(base, "odd", "1", "assets.extra", "odd.tflite")
    assert f"TFLite:     {tflite}" in exported.stdout
    from_tflite = run("sample.py", tflite, "--length", 40, "--seed", 3, "--prime", "ROMEO:", cwd=odd)
    assert from_tflite.returncode == 0, from_tflite.stderr
    assert from_tflite.stdout.startswith("ROMEO:") and len(from_tflite.stdout) == len("ROMEO:") + 40 + 1
    ran = [p for d in (os.path.dirname(odd), odd, ROOT) for p in glob.glob(os.path.join(glob.escape(d), "pwned*"))]
    assert ran == []


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: ["--train_data", str(d / "missing.txt")], "does not exist"),
        (lambda d: ["--train_data", str(d)], "no text files"),
        (lambda d: (d / "e.txt").write_text("") or ["--train_data", str(d / "e.txt")], "empty"),
        (lambda d: (d / "s.txt").write_text("short text") and ["--train_data", str(d / "s.txt")], "shorter than one window"),
        (lambda d: (d / "v.txt").write_text("abcdefgh" * 20) and ["--train_data", str(d / "v.txt"), "--seq_length", "8", "--batch_size", "2",
                                                                  "--val_frac", "0.001"], "too short to leave a validation split"),
        (lambda d: ["--learning_rate", "0"], "--learning_rate"),
        (lambda d: ["--batch_size", "0"], "--batch_size"),
        (lambda d: ["--val_frac", "1.5"], "--val_frac"),
        (lambda d: ["--seq_length", "abc"], "expected an integer"),
        (lambda d: ["--matmul_dtype", "fp8"], "--matmul_dtype"),
        (lambda d: ["--weight_drop", "1"], "--weight_drop"),
        (lambda d: ["--weight_decay", "-1"], "--weight_decay"),
    ],
)
def test_train_bad_input_is_one_line(tmp_path, make, message):
    p = run("train.py", *make(tmp_path), "--checkpoint_dir", tmp_path / "cv", "--max_steps", 1)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], p.stderr
    assert not (tmp_path / "cv").exists() or not any((tmp_path / "cv").iterdir())


def test_sample_missing_checkpoint(tmp_path):
    p = run("sample.py", tmp_path / "nowhere")
    assert p.returncode == 2 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    p = run("sample.py", tmp_path)
    assert p.returncode == 2 and "no tfcharrnn checkpoint" in p.stderr


@pytest.mark.parametrize("argv, epochs, minutes", [
    ([], 0.0, 12.0),                                       # no stop flag: the default budget of 12 minutes
    (["--time_budget", "15"], 0.0, 15.0),                  # a time budget alone: train for that long
    (["--time_budget", "15", "--max_epochs", "2"], 2.0, 15.0),  # both given: both apply
    (["--max_epochs", "3"], 3.0, 0.0),                     # any stop flag replaces the default budget
    (["--max_epochs", "0", "--max_steps", "5"], 0.0, 0.0),
])
def test_a_stop_flag_replaces_the_default_budget(argv, epochs, minutes):
    from tfcharrnn.cli.flags import train_parser
    from tfcharrnn.cli.train import train_config

    cfg = train_config(train_parser().parse_args(argv))
    cfg.validate()
    assert (cfg.epoch_limit, cfg.minutes_limit) == (epochs, minutes)


# --- --length 0: an empty sample, exit 0 --------------------------------------------------------


def test_length_zero_is_an_empty_sample_from_a_checkpoint(tiny_checkpoint, capsys):
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.cli.sample import main as sample_main
    from tfcharrnn.sampling import Generator

    ckpt = load_checkpoint(tiny_checkpoint, with_optimizer=False)
    assert Generator(ckpt.model, ckpt.vocab).sample_text("", 0, seed=3, num_samples=2) == ["", ""]
    assert sample_main([tiny_checkpoint, "--length", "0", "--prime", "ROMEO:"]) == 0
    assert capsys.readouterr().out == "ROMEO:\n"  # the prime, then nothing
    assert sample_main([tiny_checkpoint, "--length", "0", "--num_samples", "2", "--print_prime", "false"]) == 0
    assert capsys.readouterr().out == "==== sample 1 (seed 123) ====\n\n==== sample 2 (seed 124) ====\n\n"
    with pytest.raises(UserError, match="never saw"):  # the prime is still checked
        sample_main([tiny_checkpoint, "--length", "0", "--prime", "\u2603"])


def test_length_zero_is_an_empty_sample_from_a_tflite(tiny_saved_model):
    """scripts/sample.py itself (a process: exit status and stdout) on the exported .tflite."""
    script = os.path.join(ROOT, "scripts", "sample.py")
    proc = subprocess.run([sys.executable, script, tiny_saved_model["tflite"], "--length", "0", "--prime", "ROMEO:"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "ROMEO:\n"
    proc = subprocess.run([sys.executable, script, tiny_saved_model["tflite"], "--length", "0", "--num_samples", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "==== sample 1 (seed 123) ====\n\n==== sample 2 (seed 124) ====\n\n"


# --- the filter of TensorFlow's log lines ---------------------------------------------------------

FILTER_PROGRAM = r"""
import os, sys, traceback, warnings
sys.path.insert(0, sys.argv[1])
from tfcharrnn.errors import run_cli

TF = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
      b"I0000 00:00:1796328368.533458    8008 port.cc:153] oneDNN custom operations are on.",
      b"E0000 00:00:1796328373.725625    8008 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)",
      b"W0000 00:00:1796328373.725625    8008 gpu_device.cc:2342] Cannot dlopen some GPU libraries."]
OURS = ["note: --seq_length 64 differs from the checkpoint's 100; the data position restarts at the epoch start",
        "I0 is a line of ours that starts like a log line", "E: ours too", "WARNING: ours, not absl's"]

def main(argv):
    for tf_line, ours in zip(TF, OURS):
        os.write(2, tf_line + b"\n")  # from C++: straight to file descriptor 2
        print(ours, file=sys.stderr, flush=True)
    warnings.warn("a Python warning")
    sys.stderr.flush()
    try:
        raise ValueError("caught and printed")
    except ValueError:
        traceback.print_exc()
    sys.stderr.flush()
    os.write(2, TF[1])  # a last line without its newline
    raise RuntimeError("a bug: the traceback must reach the user")

run_cli(main)
"""


@pytest.mark.parametrize("shown", [False, True])
def test_the_log_filter_never_eats_our_lines_or_a_traceback(shown):
    """run_cli's filter drops exactly TensorFlow's log lines written to file descriptor 2; our own lines, a
    Python warning and tracebacks (printed while it runs, or on the way out) all reach the user, in order."""
    env = dict(os.environ)
    env.pop("TFCHARRNN_TF_LOGS", None)
    if shown:
        env["TFCHARRNN_TF_LOGS"] = "1"
    proc = subprocess.run([sys.executable, "-c", FILTER_PROGRAM, ROOT], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    ours = [line for line in lines if not TF_LOG_LINE.match(line)]
    assert [line for line in ours if line.startswith(("note:", "I0 ", "E: ", "WARNING: ours"))] == [
        "note: --seq_length 64 differs from the checkpoint's 100; the data position restarts at the epoch start",
        "I0 is a line of ours that starts like a log line", "E: ours too", "WARNING: ours, not absl's"]
    assert any("UserWarning: a Python warning" in line for line in ours)
    text = "\n".join(ours)
    assert text.index("ValueError: caught and printed") < text.index("RuntimeError: a bug: the traceback must reach the user")
    assert proc.stderr.count("Traceback (most recent call last):") == 2  # unfiltered, the first may follow the last TF line
    assert len(lines) - len(ours) == (5 if shown else 0), proc.stderr


CRASH_PROGRAM = r"""
import ctypes, sys
sys.path.insert(0, sys.argv[1])
from tfcharrnn.errors import run_cli

def crash_in_native_code(argv):
    ctypes.string_at(0)  # reads address 0: a segmentation fault, as a crash inside TensorFlow would be

run_cli(crash_in_native_code)
"""


@pytest.mark.parametrize("shown", [False, True])
def test_a_crash_in_native_code_says_where(shown):
    """A segmentation fault under run_cli still ends with Python's stack on stderr (the fault handler
    writes past the filter's pipe, which dies with the process), and the exit status is the signal's."""
    env = {k: v for k, v in os.environ.items() if k not in ("TFCHARRNN_TF_LOGS", "PYTHONFAULTHANDLER")}
    if shown:
        env["TFCHARRNN_TF_LOGS"] = "1"
    proc = subprocess.run([sys.executable, "-c", CRASH_PROGRAM, ROOT], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == -11, (proc.returncode, proc.stderr)
    assert "Fatal Python error: Segmentation fault" in proc.stderr and "in crash_in_native_code" in proc.stderr, proc.stderr
