while [ ! -f /tmp/p/mi2.done ]; do sleep 5; done
FLAGS="--hidden_size 384 --num_layers 2 --embedding_size 256 --dropout 0.1 --weight_drop 0 --weight_decay 0.3 --optimizer muon --max_steps 1000 --time_budget 60 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt"
cd /work/main && .venv/bin/python scripts/train.py $FLAGS --checkpoint_dir /tmp/p/base1000 > /tmp/p/base1000.log 2>&1
touch /tmp/p/base1000.done
cd /tmp/mi && LN=1 PYTHONPATH=/tmp/mi /work/main/.venv/bin/python scripts/train.py $FLAGS --train_path keras --checkpoint_dir /tmp/p/ln1000 > /tmp/p/ln1000.log 2>&1
touch /tmp/p/ln1000.done
