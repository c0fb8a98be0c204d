#!/bin/bash
# After CI: the bench quick test on the edited peer choice, then 2x512 in the recipe's Muon class at 15 minutes
# (the recipe's 15-minute width was chosen in the Adam era: 2x384 1.4183 against 2x512 1.4256). One at a time.
while [ ! -f /tmp/s9/ci.rc ]; do sleep 5; done
cd /work/main && . .venv/bin/activate
python -m pytest -q -x tests/test_bench.py -k "quick_quality or race_reads or quality_flags" > /tmp/s9/quicktest.log 2>&1; echo "quicktest rc=$? $(date +%T)" >> /tmp/s9/after.done
cd /tmp/s9/wtr
name=x1-15-2x512; rm -rf /tmp/s9/$name
echo "$ python scripts/train.py --time_budget 15 --train_data tfcharrnn/assets/tinyshakespeare.txt --hidden_size 512 --optimizer muon --dropout 0.1 --weight_drop 0 --weight_decay 0.3" > /tmp/s9/$name.log
{ date; cat /proc/loadavg; } >> /tmp/s9/$name.log
PYTHONPATH=/tmp/s9/wtr python scripts/train.py --time_budget 15 --train_data tfcharrnn/assets/tinyshakespeare.txt --hidden_size 512 --optimizer muon --dropout 0.1 --weight_drop 0 --weight_decay 0.3 --checkpoint_dir /tmp/s9/$name >> /tmp/s9/$name.log 2>&1
echo "$name rc=$? $(date +%T)" >> /tmp/s9/after.done
echo ALL >> /tmp/s9/after.done
