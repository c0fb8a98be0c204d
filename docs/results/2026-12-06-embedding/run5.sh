#!/bin/bash
# bench --only train before (b8a51da, /tmp/exp/wt-a) and after (main), then the 3-minute race on the Chinese text at main. One at a time.
cd /work/main && . .venv/bin/activate
for side in a:/tmp/exp/wt-a b:/work/main; do
  name=${side%%:*}; wt=${side#*:}
  { echo "\$ PYTHONPATH=$wt python $wt/scripts/bench.py --only train --train-peers tfcharrnn,tfcharrnn-step-groups,torch --configs small,medium --out /tmp/q/train-$name"; date; git -C $wt log --oneline -1;
    cd $wt && PYTHONPATH=$wt python $wt/scripts/bench.py --only train --train-peers tfcharrnn,tfcharrnn-step-groups,torch --configs small,medium --out /tmp/q/train-$name; } > /tmp/exp/e/train-$name.log 2>&1
done
cd /work/main
{ echo "\$ python scripts/bench.py --only quality --quality-minutes 3 --quality-corpora chinese --quality-peers tfcharrnn,torch,transformer --tmp-dir /tmp/exp/corpora --out /tmp/q/zh-3"; date; git log --oneline -1; uptime;
  python scripts/bench.py --only quality --quality-minutes 3 --quality-corpora chinese --quality-peers tfcharrnn,torch,transformer --tmp-dir /tmp/exp/corpora --out /tmp/q/zh-3; uptime; } > /tmp/exp/e/race-zh.log 2>&1
echo done > /tmp/exp/e/run5.done
