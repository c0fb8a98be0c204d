while [ ! -f /tmp/p/race.done ]; do sleep 10; done
cd /work/main && .venv/bin/python scripts/bench.py --only quality --quality-minutes 15 --quality-corpora shakespeare --quality-peers tfcharrnn-noflag --tmp-dir /tmp/exp/corpora --out /tmp/p/noflagamd > /tmp/p/noflagamd.out 2>&1
touch /tmp/p/noflag.done
