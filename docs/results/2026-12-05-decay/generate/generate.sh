#!/bin/bash
# generation before (339635c) and after (dd9f479: the stepper reads every layer), A B A, one at a time, nothing else running
. /work/main/.venv/bin/activate
for tag in A1:/tmp/wtA B:/tmp/wtB A2:/tmp/wtA; do
  name=${tag%%:*}; wt=${tag#*:}
  cd $wt && echo "$ (at $(git rev-parse --short HEAD)) python scripts/bench.py --only generate --out /tmp/exp/gen-$name" > /tmp/exp/gen-$name.log
  PYTHONPATH=$wt timeout 600 python scripts/bench.py --only generate --out /tmp/exp/gen-$name >> /tmp/exp/gen-$name.log 2>&1
done
