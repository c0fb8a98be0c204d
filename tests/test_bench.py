"""The benchmark (benchmarks/, run by scripts/bench.py) keeps working: its --quick smoke mode
writes the JSON and the markdown table.

No timing assertions: speed is measured by running the benchmark itself (docs/performance.md).
"""

import json
import os
import subprocess
import sys

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
    # every section but web (tests/test_web.py drives the page), one run
    results, md = run_bench(tmp_path, "--only", "train,peak,generate,prep,quality,quantization", "--checkpoints", tiny_checkpoint)
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

    quality = results["quality"]
    assert 0 < quality["minutes"] < 0.2  # --quick: seconds
    assert set(quality["peers"]) == {"tfcharrnn"} | ({"torch"} if torch_available() else set())
    for peer in quality["peers"].values():
        assert 0 < peer["val_loss"] < 10 and peer["steps"] >= 1 and peer["label"]

    (quantized,) = results["quantization"].values()
    assert quantized["dynamic"]["size_bytes"] < quantized["float16"]["size_bytes"] < quantized["none"]["size_bytes"]
    assert abs(quantized["none"]["loss_cost"]) < 1e-3 and abs(quantized["dynamic"]["loss_cost"]) < 0.1

    assert md.startswith("## Performance")
    for heading in ("### Training", "### Generation", "### Corpus preparation", "### Quality in", "| config | peer | chars/s | vs PyTorch | vs model.fit |",
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
