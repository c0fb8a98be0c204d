"""The benchmark (benchmarks/, run by scripts/bench.py) keeps working: its --quick smoke mode
writes the JSON and the markdown table; the quality race's grid, peers, corpora and the
transformer's sliding-window scorer do what they say.

No timing assertions: speed is measured by running the benchmark itself (docs/performance.md).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.common import torch_available
from benchmarks.train_peers import matmul_params, train_flops_per_char

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "scripts", "bench.py")


def run_bench(tmp_path, *flags, timeout=240):
    out = tmp_path / "out"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, BENCH, "--quick", "--out", str(out), "--tmp-dir", str(tmp_path), *flags],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    with open(out / "bench.json") as f:
        results = json.load(f)
    return results, (out / "bench.md").read_text()


def test_flops_formula_counts_six_times_the_matmul_parameters():
    # 2x128 LSTM on 64-wide embeddings, 65 characters: 4H(E+H) + 4H(2H) + H*V
    assert matmul_params("lstm", 128, 2) == 4 * 128 * (64 + 128) + 4 * 128 * 256 + 128 * 65
    assert matmul_params("gru", 512, 1) == 3 * 512 * (64 + 512) + 512 * 65
    assert train_flops_per_char("lstm", 128, 2) == 6 * matmul_params("lstm", 128, 2)


def test_quality_is_asked_for_by_name():
    from benchmarks.command import bench_parser as build_parser

    assert build_parser().parse_args([]).only == "train,peak,generate,prep"  # a quality run trains for minutes


def test_quick_run_writes_json_and_markdown(tmp_path, tiny_checkpoint):
    # every section but web (tests/test_web.py drives the page) and the quality ones (below), one run
    results, md = run_bench(tmp_path, "--only", "train,peak,generate,prep,quantization", "--checkpoints", tiny_checkpoint)
    assert {"started", "command", "settings", "machine", "load_before", "load_after", "notes", "total_s"} <= set(results)
    assert results["settings"]["quick"] is True
    assert results["machine"]["cpu_count"] >= 1
    assert not [n for n in results["notes"] if n.startswith("section ")], results["notes"]  # no section failed

    assert results["peak"]["gflops"] > 0 and "tf" in results["peak"]["by_library"]

    (entry,) = results["train"].values()
    assert {"model", "hidden_size", "num_layers", "batch_size", "seq_length", "flops_per_char", "peers"} <= set(entry)
    expected = {"tfcharrnn", "keras-fit"} | ({"torch"} if torch_available() else set())
    assert expected <= set(entry["peers"])
    for peer in entry["peers"].values():
        assert peer["chars_per_s"] > 0 and peer["gflops"] > 0 and len(peer["rounds"]) == results["settings"]["repeats"]
    assert entry["tfcharrnn_vs_keras-fit"] > 0
    if "torch" in entry["peers"]:
        assert entry["pytorch_reference"] == "torch" and entry["tfcharrnn_vs_pytorch"] > 0

    (gen,) = results["generate"].values()
    assert {"tfcharrnn", "onestep", "savedmodel", "tflite"} <= set(gen["peers"])  # the serving and LiteRT rows run too
    assert sum(name.startswith("tflite") for name in gen["peers"]) == 5  # the LiteRT settings an app chooses
    for name, peer in gen["peers"].items():
        for b in gen["batches"] if not name.startswith("tflite") else [1]:
            assert peer[f"batch{b}_chars_per_s"] > 0
    assert gen["serving_2000"]["speedup_vs_onestep"] > 0 and gen["serving_2000"]["batch_cost"] > 0
    assert not [n for n in results["notes"] if "failed" in n], results["notes"]

    prep = results["prep"]
    assert prep["first_run"]["chars"] == prep["cached_run"]["chars"] > 1_000_000
    assert prep["first_run"]["dtype"] == "uint8"  # compact ids
    for key in ("first_step_s", "trainer_init_s", "first_step_from_process_start_s", "peak_rss_mb"):
        assert prep["train_cached"][key] > 0
    assert str(tmp_path) in prep["corpus"]["path"]  # the corpus goes to --tmp-dir, never into the repo

    (quantized,) = results["quantization"].values()
    assert quantized["dynamic"]["size_bytes"] < quantized["float16"]["size_bytes"] < quantized["none"]["size_bytes"]
    assert abs(quantized["none"]["loss_cost"]) < 1e-3 and abs(quantized["dynamic"]["loss_cost"]) < 0.1

    assert md.startswith("## Performance")
    for heading in ("### Training", "### Generation", "### Corpus preparation", "| config | peer | chars/s | vs PyTorch | vs model.fit |",
                    "| SavedModel serving_default", "| LiteRT sampler", "### LiteRT: file size"):
        assert heading in md
    assert "python scripts/bench.py --quick" in md  # the command to reproduce


def test_only_selects_sections(tmp_path):
    results, md = run_bench(tmp_path, "--only", "peak", timeout=120)
    assert results["settings"]["sections"] == ["peak"]
    assert "peak" in results and not {"train", "generate", "prep"} & set(results)
    assert "### Training" not in md


def test_unknown_section_is_refused(tmp_path):
    p = subprocess.run([sys.executable, BENCH, "--only", "trian", "--out", str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode != 0 and "trian" in p.stderr


@pytest.mark.slow  # the --quick run above covers the serving rows; this calls the function on its own
def test_bench_serving_smoke():
    from benchmarks.serving import bench_serving

    result = bench_serving(num_layers=1, hidden_size=16, num_chars=40, batch=4, repeats=1, log=lambda *a: None)
    assert result["serving_s"] > 0 and result["speedup_vs_onestep"] > 0 and result["batch_cost"] > 0


# --- the quality race ----------------------------------------------------------------------------


def test_a_training_run_killed_by_a_signal_is_run_again_and_said(tmp_path, monkeypatch, small_corpus):
    """The race's train.py run: a first process that dies of a segmentation fault leaves its output in
    LOG-crash.log and is run once more; the figures are the second run's and the note says why."""
    from benchmarks import quality

    real_run, calls = subprocess.run, []

    def crash_first(argv, **kwargs):
        calls.append(argv)
        if len(calls) == 1:  # a real process, really killed by SIGSEGV
            argv = [sys.executable, "-c", "import os, signal; print('partial output'); os.kill(os.getpid(), signal.SIGSEGV)"]
        return real_run(argv, **kwargs)

    monkeypatch.setattr(quality.subprocess, "run", crash_first)
    log = tmp_path / "run.log"
    r = quality.run_train_script(["--max_steps", "2", "--hidden_size", "16", "--train_data", small_corpus, "--sample_length", "0"],
                                 str(tmp_path / "run"), str(log), threads=0, timeout=300)
    assert len(calls) == 2 and calls[0] == calls[1]
    assert r["steps"] == 2 and r["rerun_after"].startswith("signal 11 after") and "run-crash.log" in r["rerun_after"]
    assert "partial output" in (tmp_path / "run-crash.log").read_text() and "done: step 2" in log.read_text()
    notes = []
    quality._note_rerun(r, notes)
    assert len(notes) == 1 and r["command"] in notes[0] and "second run" in notes[0]


def test_quick_quality_grid_then_race(tmp_path):
    from tfcharrnn.checkpoint import load_checkpoint

    grid_path = tmp_path / "grid.json"
    results, md = run_bench(tmp_path, "--only", "quality-grid,quality", "--quality-corpora", "code", "--quality-grid-file", str(grid_path),
                            "--quality-peers", "tfcharrnn,torch,torch-emb64,transformer,tfcharrnn-noflag", timeout=900)
    assert not [n for n in results["notes"] if n.startswith("section ")], results["notes"]
    race, with_torch = results["quality"], torch_available()
    code = race["corpora"]["code"]
    assert code["chars"] == 30_000 and str(tmp_path) in code["path"]  # --quick: a slice, under --tmp-dir
    assert [r["peer"] for r in race["runs"]] == ["tfcharrnn"] + (["torch", "torch-emb64", "transformer"] if with_torch else []) + ["tfcharrnn-noflag"]
    runs = {r["peer"]: r for r in race["runs"]}
    for r in race["runs"]:
        assert 0 < r["val_loss"] < 10 and r["steps"] >= 1 and r["process_wall_s"] > 0 and (tmp_path / "out" / "logs" / r["log"]).exists()

    tf = runs["tfcharrnn"]  # the user's command, nothing added; scored by the checkpoint best.json points at
    assert tf["command"] == f"python scripts/train.py --time_budget 0.02 --train_data {code['path']} --checkpoint_dir {tf['run_dir']}"
    assert tf["val_loss"] == load_checkpoint(tf["run_dir"], with_optimizer=False).train_state["val_loss"]
    noflag = runs["tfcharrnn-noflag"]  # --quick caps the bare command at 2 steps and says so
    assert noflag["command"] == f"python scripts/train.py --max_steps 2 --checkpoint_dir {noflag['run_dir']}" and noflag["corpus"] == "shakespeare"
    assert "### Quality in a time budget" in md and ("### Quality grid" in md) == with_torch

    if with_torch:
        grid = json.loads(grid_path.read_text())
        for peer in ("torch", "transformer"):
            entry = grid[peer]["0.02"]["code"]  # --quick: each grid's first and last point
            assert len(entry["tried"]) == 2 and entry["val_loss"] == min(t["val_loss"] for t in entry["tried"])
            assert runs[peer]["settings_source"].startswith("grid: best of 2")
            assert {k: runs[peer]["settings"][k] for k in entry["best"]} == entry["best"]
            assert runs[peer]["val_chars"] == 2_999  # the whole validation text: its last 3,000 characters
        sizes, config = runs["torch"]["settings"], tf["config"]  # the LSTM copies the tfcharrnn run's sizes
        assert all(sizes[k] == config[k] for k in ("model", "hidden_size", "num_layers", "embedding_size", "dropout"))
        assert sizes["optimizer"] == tf["train_config"]["optimizer"] in ("adam", "muon")  # and its optimizer (the recipe's)
        assert ("Muon + Adam" in runs["torch"]["label"]) == (sizes["optimizer"] == "muon")
        assert config["embedding_size"] != 64 and runs["torch-emb64"]["settings"] == dict(sizes, embedding_size=64)  # the same LSTM, 64 wide
        assert "embedding 64" in runs["torch-emb64"]["label"] and runs["torch-emb64"]["settings_source"] == runs["torch"]["settings_source"]


def test_the_lstm_peer_splits_its_weights_between_muon_and_adam_as_tfcharrnn_does():
    torch = pytest.importorskip("torch")
    from benchmarks.lstm_peer import SIZES, lstm_net, optimizers

    net = lstm_net("lstm", 65, 16, 32, 2, 0.0)
    names = {id(p): n for n, p in net.named_parameters()}
    for optimizer, want in (("adam", {"AdamW": set(names.values())}),
                            ("muon", {"Muon": {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1"}})):
        got = {}
        for opt, _ in optimizers(net, {**SIZES, "learning_rate": 5e-3, "optimizer": optimizer}):
            got[type(opt).__name__] = {names[id(p)] for group in opt.param_groups for p in group["params"]}
        assert {k: got[k] for k in want} == want
        assert set().union(*got.values()) == set(names.values()) and sum(map(len, got.values())) == len(names)
    assert isinstance(torch.optim.Muon, type)


def test_the_race_reads_the_grid_and_says_where_settings_come_from():
    from benchmarks.quality import grid_entry

    grid = {"torch": {"3": {"shakespeare": {"best": {"learning_rate": 0.01, "batch_size": 32}, "tried": [{}, {}, {}]}}}}
    entry, source = grid_entry(grid, "torch", 3.0, "shakespeare")
    assert entry["best"] == {"learning_rate": 0.01, "batch_size": 32} and source == "grid: best of 3 at 3 min"
    entry, source = grid_entry(grid, "torch", 3, "code")  # no grid on this corpus: the shakespeare one, said so
    assert entry["best"]["learning_rate"] == 0.01 and "no grid on code" in source
    # no grid at 15 minutes: the LSTM's learning rate and batch come from the nearest budget, said so
    entry, source = grid_entry(grid, "torch", 15, "shakespeare")
    assert entry["best"]["learning_rate"] == 0.01 and source == "grid: best of 3 at 3 min (no grid at 15 min)"
    grid["torch"]["30"] = {"shakespeare": {"best": {"learning_rate": 0.002, "batch_size": 64}, "tried": [{}]}}
    assert grid_entry(grid, "torch", 20, "shakespeare")[0]["best"]["learning_rate"] == 0.002  # 30 is nearer to 20 than 3
    grid["transformer"] = {"3": grid["torch"]["3"]}  # the transformer's sizes depend on the budget: no fallback
    assert grid_entry(grid, "transformer", 15, "shakespeare") == (None, "defaults: no grid run for transformer at 15 min")
    assert grid_entry({}, "torch", 3, "shakespeare")[0] is None


def test_a_tfcharrnn_run_is_read_as_sample_and_export_would_use_it(tmp_path):
    from benchmarks.quality import LSTM_MUON_RATE, lstm_sizes, read_run

    config = {"model": "lstm", "hidden_size": 384, "num_layers": 3, "embedding_size": 48, "dropout": 0.25, "weight_drop": 0.1, "vocab_size": 65}
    for name, val in (("early", 1.50), ("late", 1.60)):  # validation rose: best.json and latest.json part
        (tmp_path / name).mkdir()
        state = {"step": 100 if name == "early" else 200, "epoch": 1.0, "val_loss": val, "train_config": {"seq_length": 64}}
        (tmp_path / name / "meta.json").write_text(json.dumps({"config": config, "train_state": state}))
    (tmp_path / "best.json").write_text(json.dumps({"checkpoint": "early"}))
    (tmp_path / "latest.json").write_text(json.dumps({"checkpoint": "late", "step": 200, "epoch": 2.0}))
    end = {"kind": "end", "step": 210, "epoch": 2.1, "elapsed_s": 60.0, "chars_seen": 600_000, "params": 1000, "stop_reason": "patience",
           "raw_val_loss": 1.51}
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"kind": "val", "step": 200}) + "\n" + json.dumps(end) + "\n")
    r = read_run(str(tmp_path))
    assert (r["val_loss"], r["best_step"], r["steps"], r["epochs"], r["chars_per_s"], r["raw_val_loss"]) == (1.50, 100, 210, 2.1, 10_000.0, 1.51)
    assert lstm_sizes(r) == {"model": "lstm", "hidden_size": 384, "num_layers": 3, "embedding_size": 48, "dropout": 0.25, "seq_length": 64,
                             "weight_decay": 0.0, "adam_beta2": 0.99,  # a run before --adam_beta2 and --lr_schedule wsd: today's defaults
                             "optimizer": "adam",  # before --optimizer: the Adam it trained with
                             "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3}
    # the peer gets the run's optimiser settings
    r["train_config"].update(weight_decay=0.05, adam_beta2=0.999, lr_schedule="cosine", min_lr_frac=0.1, optimizer="muon")
    sizes = lstm_sizes(r)
    got = (sizes["weight_decay"], sizes["adam_beta2"], sizes["lr_schedule"], sizes["min_lr_frac"], sizes["optimizer"])
    assert got == (0.05, 0.999, "cosine", 0.1, "muon")
    assert sizes["learning_rate"] == LSTM_MUON_RATE  # under Muon its own best rate (the grid ran Adam), not the run's
    r["train_config"]["optimizer"] = "adam"
    assert "learning_rate" not in lstm_sizes(r)  # under Adam the grid's best


def test_a_race_without_a_tfcharrnn_run_gives_the_lstm_the_recipes_choice():
    """`bench.py --quality-peers torch-emb64` alone: the peer copies what `train.py --time_budget M` would pick on
    the corpus (2x384, Muon, dropout 0.1, decay 0.3 at 15 minutes on Tiny Shakespeare), not the 3-minute fallback."""
    from benchmarks.lstm_peer import SIZES
    from benchmarks.quality import LSTM_MUON_RATE, recipe_sizes
    from conftest import SHAKESPEARE

    at15, at3 = recipe_sizes(15, SHAKESPEARE), recipe_sizes(3, SHAKESPEARE)
    assert {key: at15[key] for key in ("hidden_size", "embedding_size", "dropout", "weight_decay", "optimizer")} == {
        "hidden_size": 384, "embedding_size": 256, "dropout": 0.1, "weight_decay": 0.3, "optimizer": "muon"}
    assert (at3["hidden_size"], at3["optimizer"], at3["weight_decay"]) == (256, "adam", 0.1)
    assert set(at15) == set(SIZES) | {"learning_rate"} and at15["lr_schedule"] == "wsd"
    assert at15["learning_rate"] == LSTM_MUON_RATE and set(at3) == set(SIZES)  # the LSTM's best under Muon; under Adam the grid's


def test_quality_flags_are_checked():
    from benchmarks.command import bench_parser
    from tfcharrnn.errors import UserError

    args = bench_parser().parse_args(["--quality-minutes", "3,15", "--quality-corpora", "code,chinese"])
    assert args.quality_minutes == [3.0, 15.0] and args.quality_corpora == ["code", "chinese"]
    assert bench_parser().parse_args([]).quality_peers == ["tfcharrnn", "torch", "torch-emb64", "transformer"]
    for flags in (["--quality-corpora", "klingon"], ["--quality-peers", "torch,gpt4"], ["--quality-minutes", "three"]):
        with pytest.raises(UserError):
            bench_parser().parse_args(flags)


def test_corpora_are_deterministic(tmp_path, monkeypatch):
    from benchmarks import corpora
    from tfcharrnn.data import BUNDLED
    from tfcharrnn.errors import UserError

    code = corpora.code_text()
    assert code == corpora.code_text() and 2_000_000 <= len(code) < 2_300_000  # whole files until about 2 M characters
    files = re.findall(r"^# ===== (\S+\.py) =====$", code, re.M)
    assert len(files) > 10 and files == sorted(files)
    chinese = corpora.chinese_text()
    assert chinese == corpora.chinese_text() and "\x1b" not in chinese and len(set(chinese)) > 5_000
    assert "[34;1m" not in chinese and "Debian" in chinese  # escapes gone, the rest kept
    path = corpora.corpus_file("chinese", str(tmp_path), max_chars=1_000)
    with open(path, encoding="utf-8") as f:
        assert f.read() == chinese[:1_000]
    assert corpora.corpus_file("chinese", str(tmp_path), max_chars=1_000) == path and corpora.corpus_file("shakespeare", str(tmp_path)) == BUNDLED
    monkeypatch.setattr(corpora, "FORTUNES_ZH", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="apt-get install fortunes-zh"):
        corpora.check_available(["shakespeare", "chinese"])


def test_sliding_windows_score_every_position_once_with_half_a_block_of_context():
    from benchmarks.transformer_peer import sliding_windows

    for n in (1, 7, 8, 9, 16, 17, 40, 101):
        for block in (4, 8, 9):
            counts = np.zeros(n, int)
            for i, (start, a, b) in enumerate(sliding_windows(n, block)):
                assert 0 <= start <= a < b <= start + min(block, n)
                assert i == 0 or a - start >= block // 2  # after the first window: half a block of context at least
                counts[a:b] += 1
            assert (counts == 1).all(), (n, block)


@pytest.mark.skipif(not torch_available(), reason="PyTorch is the bench extra: pip install -e .[bench]")
def test_transformer_score_is_the_mean_loss_of_every_character_in_its_window():
    import torch

    from benchmarks.transformer_peer import gpt, score, sliding_windows

    torch.manual_seed(0)
    model = gpt(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.1)
    ids = np.random.default_rng(0).integers(0, 11, 42)
    x, y = torch.from_numpy(ids[:-1]), torch.from_numpy(ids[1:])
    model.eval()
    with torch.no_grad():
        # each character on its own, from its window's start: the model reads nothing after it
        direct = [float(torch.nn.functional.cross_entropy(model(x[start:p + 1][None])[0, -1:], y[p:p + 1]))
                  for start, a, b in sliding_windows(len(x), 8) for p in range(a, b)]
        short = torch.nn.functional.cross_entropy(model(x[None, :7])[0], y[:7])  # a text shorter than a block: one window
    assert len(direct) == len(x)
    assert score(model, ids, block_size=8, batch=3) == pytest.approx(np.mean(direct), rel=1e-5)
    assert score(model, ids[:8], block_size=8) == pytest.approx(float(short), rel=1e-5)
