while [ ! -f /tmp/p/ab3.done ]; do sleep 5; done
cd /work/main && .venv/bin/python scripts/bench.py --only quality --quality-minutes 15 --quality-corpora shakespeare --quality-peers tfcharrnn,torch,torch-emb64,tfcharrnn-noflag --tmp-dir /tmp/exp/corpora --out /tmp/p/race15 > /tmp/p/race15.out 2>&1
touch /tmp/p/race15.done
