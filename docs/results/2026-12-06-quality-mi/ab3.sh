# 3-minute pairs: the recipe's default (multiplicative integration) against --multiplicative_integration false, one run at a time
cd /work/main
S=tfcharrnn/assets/tinyshakespeare.txt
C=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
for run in "shakespeare-mi $S" "shakespeare-plain $S --multiplicative_integration false" "code-mi $C" "code-plain $C --multiplicative_integration false"; do
  set -- $run; name=$1; data=$2; shift 2
  echo "$ python scripts/train.py --time_budget 3 --train_data $data $*" > /tmp/p/ab3/$name.log
  .venv/bin/python scripts/train.py --time_budget 3 --train_data $data "$@" --checkpoint_dir /tmp/p/ab3/$name >> /tmp/p/ab3/$name.log 2>&1
done
touch /tmp/p/ab3.done
