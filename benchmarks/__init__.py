"""Benchmark tfcharrnn against its peers on this machine, in one run: JSON + a markdown table.

    python scripts/bench.py                          # full run (about 10-15 min on 2 cores)
    python scripts/bench.py --quick                  # tiny sizes, seconds: the smoke test of tests/test_bench.py
    python scripts/bench.py --only train,peak --repeats 7 --out bench_results
    python scripts/bench.py --only quality-grid,quality   # the PyTorch peers' grid, then the 3-minute race

Sections (``--only``, comma separated; default train, peak, generate, prep):
  train     training chars/s in steady state: tfcharrnn's Trainer.train_step (the code path
            scripts/train.py runs, on real batches of the bundled Tiny Shakespeare), the Keras
            ``model.fit`` approach of the TensorFlow text-generation tutorial, PyTorch ``nn.LSTM`` /
            ``nn.GRU`` with Adam (when torch is installed: ``pip install -e .[bench]``), plus
            achieved GFLOP/s (6 x parameters-in-matmuls per character)
  peak      this machine's float32 matmul GFLOP/s (TensorFlow and, if present, PyTorch; the best counts)
  generate  generation chars/s at batch 1 and 32: tfcharrnn's compiled loop, the tutorial's OneStep
            per-character loop, a PyTorch per-character loop, and when their modules are present the
            SavedModel ``serving_default`` (benchmarks.serving) and the LiteRT sampler
            (benchmarks.litert)
  prep      corpus preparation of a 100 MB UTF-8 corpus (real text, repeated and mixed; written
            under /tmp): seconds and peak RSS of a first and a cached run, and the time to the first
            training step and peak RSS of a short Trainer run on it
  quality-grid  the PyTorch peers' learning rate, batch and size, tried on a small grid before the
            race (M minutes per point) and written to a file the race reads
  quality   validation nats/char after M minutes of training (``--quality-minutes 3,15``) on each
            corpus (``--quality-corpora shakespeare,code,chinese``): the user's command
            (scripts/train.py --time_budget M), a PyTorch nn.LSTM of the same sizes and a
            character-level transformer of nanoGPT's design, one after the other, scored the same way
  quantization  size and validation cost of the LiteRT file's quantized weights, on trained
            checkpoints (``--checkpoints``)
  web       the browser page's generation chars/s against the Python LiteRT sampler (Chromium)

How it measures on a shared, noisy machine: every peer lives in its own worker process (so
thread pools never fight inside one process), is built and warmed up first, and then the peers
are measured interleaved, round after round (A, B, C, A, B, C, ...); the table reports the
median of the rounds, and the ratios compare medians from the same run. The JSON keeps every
round, the CPU seconds used, and the load average before and after.

The benchmark lives beside scripts/, outside the installed package: run it from a checkout
(scripts/bench.py puts the repository root on the path; its child processes run
``python -m benchmarks.MODULE`` from the root). Nothing in tfcharrnn/ imports it.

The modules, by concern (scripts/bench.py runs ``command``; scripts/flags_doc.py reads its parser):
  command         the command line: flags, sections in order, bench.json and bench.md written
  sections        the train, peak and generate sections: peers to processes, rounds to JSON
  workers         the worker process protocol and interleaved rounds
  train_peers     training peers (Trainer, model.fit, PyTorch), matmul peaks, FLOP counting
  generate_peers  generation peers (compiled loop, the tutorial's OneStep, PyTorch loops)
  serving         the SavedModel's serving_default against per-character loops (bench_serving)
  litert          the LiteRT sampler's speed (bench_tflite) and quantization's cost (quantization_report)
  prep            corpus preparation timing and its child processes
  quality         the race: tfcharrnn's command as a subprocess, then the PyTorch peers, per budget and corpus
  quality_grid    the grid before the race: the PyTorch peers' best settings, to a JSON file
  corpora         the race's corpora (Tiny Shakespeare, the standard library's code, Chinese fortunes)
  lstm_peer       the PyTorch nn.LSTM peer (a child process)
  transformer_peer  the nanoGPT-design transformer peer and its sliding-window scorer (a child process)
  report          machine information, the markdown tables
  common          sizes, threads, the timing loop, child processes
"""
