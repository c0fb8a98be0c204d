#!/bin/bash
# The 3-minute race at e3e6903 (tfcharrnn and the LSTM peer of the same sizes, three corpora), then the LSTM
# peer at embedding 64 (its own better width) with the race's other settings on English and code, then the
# 15-minute run with every default on English. One at a time, nothing else running.
cd /tmp/s8/wtr && . /work/main/.venv/bin/activate
OUT=/tmp/s8/race-emb
{ date; git log --oneline -1; cat /proc/loadavg; } > $OUT.out
PYTHONPATH=/tmp/s8/wtr python scripts/bench.py --only quality --quality-minutes 3 --quality-corpora shakespeare,code,chinese --quality-peers tfcharrnn,torch --tmp-dir /tmp/exp/corpora --out /tmp/q/race-emb >> $OUT.out 2>&1
{ date; cat /proc/loadavg; } >> $OUT.out
for corpus in shakespeare code; do
  settings=$(python - $corpus <<'PY'
import json, sys
d = json.load(open("/tmp/q/race-emb/bench.json"))
r = [x for x in d["quality"]["runs"] if x["peer"] == "torch" and x["corpus"] == sys.argv[1]][0]
print(json.dumps(dict(r["settings"], embedding_size=64)))
PY
)
  path=$(python - $corpus <<'PY'
import json, sys
d = json.load(open("/tmp/q/race-emb/bench.json"))
print(d["quality"]["corpora"][sys.argv[1]]["path"])
PY
)
  echo "$ python -m benchmarks.lstm_peer --corpus $path --minutes 3 --settings '$settings'" > /tmp/s8/peer64-$corpus.log
  PYTHONPATH=/tmp/s8/wtr python -m benchmarks.lstm_peer --corpus "$path" --minutes 3 --settings "$settings" >> /tmp/s8/peer64-$corpus.log 2>&1
  echo "peer64-$corpus rc=$? $(date +%T)" >> /tmp/s8/race.done
done
name=r15-default; rm -rf /tmp/s8/$name
echo "$ python scripts/train.py --time_budget 15 --train_data /work/shared/data/tinyshakespeare.txt" > /tmp/s8/$name.log
PYTHONPATH=/tmp/s8/wtr python scripts/train.py --time_budget 15 --train_data /work/shared/data/tinyshakespeare.txt --checkpoint_dir /tmp/s8/$name >> /tmp/s8/$name.log 2>&1
echo "$name rc=$? $(date +%T)" >> /tmp/s8/race.done
echo ALL >> /tmp/s8/race.done
