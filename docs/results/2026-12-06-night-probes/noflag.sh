#!/bin/bash
# the bare command at today's defaults (12 minutes; the Muon class: rate 0.01, average 0.99), on 27f7da6
cd /work/main && . .venv/bin/activate
python scripts/train.py --checkpoint_dir /tmp/s13/noflag > /tmp/s13/noflag.log 2>&1
touch /tmp/s13/noflag.done
