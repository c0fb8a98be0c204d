#!/bin/bash
# one 3-minute run per line of /tmp/q/q3.txt (NAME flags...), one at a time
cd /work/main; . .venv/bin/activate
while true; do
  line=$(head -1 /tmp/q/q3.txt 2>/dev/null)
  if [ -z "$line" ]; then [ -f /tmp/q/q3.stop ] && exit 0; sleep 15; continue; fi
  sed -i 1d /tmp/q/q3.txt
  name=$(echo $line | cut -d' ' -f1); flags=$(echo $line | cut -d' ' -f2-)
  echo "$(date +%T) start $line" >> /tmp/q/q3.log
  if [[ $name == torch* ]]; then eval "$flags" > /tmp/q/logs/$name.log 2>&1
  else rm -rf /tmp/q/runs/$name; python scripts/train.py --time_budget 3 --patience 0 --sample_every 0 --tensorboard false --checkpoint_dir /tmp/q/runs/$name $flags > /tmp/q/logs/$name.log 2>&1; fi
  echo "$(date +%T) end $name rc=$? $(tail -2 /tmp/q/logs/$name.log | tr '\n' ' ' | cut -c1-400)" >> /tmp/q/q3.log
done
