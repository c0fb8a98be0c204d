#!/bin/bash
# runs lines of /tmp/q/queue.txt one at a time (removing each as it starts)
cd /work/main; . .venv/bin/activate; export TFC_ROOT=/work/wt/exp
while true; do
  line=$(head -1 /tmp/q/queue.txt 2>/dev/null)
  if [ -z "$line" ]; then sleep 20; [ -f /tmp/q/queue.stop ] && exit 0; continue; fi
  sed -i 1d /tmp/q/queue.txt
  name=$(echo $line | cut -d' ' -f1)
  echo "$(date +%T) start $line" >> /tmp/q/queue.log
  python /tmp/q/exp.py $line > /tmp/q/logs/$name.log 2>&1
  echo "$(date +%T) end $name rc=$? $(grep RESULT /tmp/q/logs/$name.log | cut -c1-300)" >> /tmp/q/queue.log
done
