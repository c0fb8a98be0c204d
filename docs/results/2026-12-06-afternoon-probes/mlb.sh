while [ ! -f /tmp/p/base1000.done ]; do sleep 5; done
FLAGS="--hidden_size 384 --num_layers 2 --embedding_size 256 --dropout 0.1 --weight_drop 0 --weight_decay 0.3 --optimizer muon --max_steps 1000 --time_budget 60 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt"
cd /tmp/ml && MLSTM=1 PYTHONPATH=/tmp/ml /work/main/.venv/bin/python scripts/train.py $FLAGS --train_path keras --checkpoint_dir /tmp/p/mlb1000 > /tmp/p/mlb1000.log 2>&1
touch /tmp/p/mlb1000.done
