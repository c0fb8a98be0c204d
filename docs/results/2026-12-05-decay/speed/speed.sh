#!/bin/bash
# the default training step before (339635c) and after (9d99245: skip connections in the model) , A B A, one at a time
while pgrep -f "ci/run" >/dev/null; do sleep 5; done
. /work/main/.venv/bin/activate
for tag in A1:/tmp/wtA B:/tmp/wt2 A2:/tmp/wtA; do
  name=${tag%%:*}; wt=${tag#*:}
  cd $wt && echo "$ (at $(git rev-parse --short HEAD)) python scripts/bench.py --only train --configs small --train-peers tfcharrnn --repeats 5 --out /tmp/exp/speed-$name" > /tmp/exp/speed-$name.log
  PYTHONPATH=$wt timeout 900 python scripts/bench.py --only train --configs small --train-peers tfcharrnn --repeats 5 --out /tmp/exp/speed-$name >> /tmp/exp/speed-$name.log 2>&1
done
