while [ ! -f /tmp/p/noflag.done ]; do sleep 10; done
cd /work/main && .venv/bin/python scripts/bench.py --only quality --quality-minutes 15 --quality-corpora shakespeare --quality-peers torch-emb64 --tmp-dir /tmp/exp/corpora --out /tmp/p/emb64amd > /tmp/p/emb64amd.out 2>&1
touch /tmp/p/emb64.done
