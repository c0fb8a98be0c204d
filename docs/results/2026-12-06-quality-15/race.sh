#!/bin/bash
# The 15-minute race at d310d0f on Tiny Shakespeare (tfcharrnn, the LSTM peer of the same sizes, the no-flag run),
# then the LSTM peer at embedding 64 (its better width on an alphabet) with the race's other settings. One at a time.
cd /tmp/s9/wtr && . /work/main/.venv/bin/activate
OUT=/tmp/s9/race15
{ date; git log --oneline -1; cat /proc/loadavg; } > $OUT.out
PYTHONPATH=/tmp/s9/wtr python scripts/bench.py --only quality --quality-minutes 15 --quality-corpora shakespeare --quality-peers tfcharrnn,torch,tfcharrnn-noflag --tmp-dir /tmp/exp/corpora --out /tmp/q/race15 >> $OUT.out 2>&1
echo "race rc=$? $(date +%T)" >> /tmp/s9/race.done
{ date; cat /proc/loadavg; } >> $OUT.out
settings=$(python - <<'PY'
import json
d = json.load(open("/tmp/q/race15/bench.json"))
r = [x for x in d["quality"]["runs"] if x["peer"] == "torch"][0]
print(json.dumps(dict(r["settings"], embedding_size=64)))
PY
)
path=$(python -c 'import json; print(json.load(open("/tmp/q/race15/bench.json"))["quality"]["corpora"]["shakespeare"]["path"])')
echo "$ python -m benchmarks.lstm_peer --corpus $path --minutes 15 --settings '$settings'" > /tmp/s9/peer64-15.log
PYTHONPATH=/tmp/s9/wtr python -m benchmarks.lstm_peer --corpus "$path" --minutes 15 --settings "$settings" >> /tmp/s9/peer64-15.log 2>&1
echo "peer64 rc=$? $(date +%T)" >> /tmp/s9/race.done
echo ALL >> /tmp/s9/race.done
