#!/bin/bash
# After run5: bench --only train, the small config again, before / after / before / after (run5's pair differed by 7% on small, medium level).
while [ ! -f /tmp/exp/e/run5.done ]; do sleep 5; done
cd /work/main && . .venv/bin/activate
for side in a1:/tmp/exp/wt-a b1:/work/main a2:/tmp/exp/wt-a b2:/work/main; do
  name=${side%%:*}; wt=${side#*:}
  { echo "\$ PYTHONPATH=$wt python $wt/scripts/bench.py --only train --train-peers tfcharrnn,tfcharrnn-step-groups,torch --configs small --out /tmp/q/small-$name"; date; git -C $wt log --oneline -1; uptime;
    cd $wt && PYTHONPATH=$wt python $wt/scripts/bench.py --only train --train-peers tfcharrnn,tfcharrnn-step-groups,torch --configs small --out /tmp/q/small-$name; } > /tmp/exp/e/small-$name.log 2>&1
done
echo done > /tmp/exp/e/run6.done
