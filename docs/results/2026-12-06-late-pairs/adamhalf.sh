#!/bin/bash
# after pair42.sh: seed 7 at today's defaults, but the Adam-stepped weights (embedding, output layer, biases) at half
# the rate (Keras Muon's adam_lr_ratio 0.5: 0.005 peak) while Muon's matrices keep 0.01 (muon-knobs-probe.patch)
while [ ! -f /tmp/s14/torch-lr7-s42.done ]; do sleep 5; done
cd /tmp/s14/probe && . /work/main/.venv/bin/activate
PROBE_ADAM_LR_RATIO=0.5 PYTHONPATH=/tmp/s14/probe python scripts/train.py --time_budget 15 \
  --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 --checkpoint_dir /tmp/s14/adamhalf > /tmp/s14/adamhalf.log 2>&1
cp /tmp/s14/adamhalf/metrics.jsonl /tmp/s14/adamhalf-metrics.jsonl
touch /tmp/s14/adamhalf.done
