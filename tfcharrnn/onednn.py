"""Whether TensorFlow runs its oneDNN kernels (TF_ENABLE_ONEDNN_OPTS), decided before TensorFlow is imported.

    from tfcharrnn import onednn
    onednn.apply()           # before `import tensorflow`: sets TF_ENABLE_ONEDNN_OPTS where tfcharrnn decides it
    onednn.in_force()        # "oneDNN on (TensorFlow's default on this CPU)": what the trainer's start-up line says
    onednn.enabled()         # True / False (TensorFlow's own answer once it is imported); None: not known
    onednn.decide(info, env, entry)   # the rule itself, on injected facts: tests give it an AVX2-only CPU anywhere

TensorFlow's x86 Linux builds turn their oneDNN kernels (matmul among them) on by default only on
CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (DEFAULT_ON_FLAGS; TensorFlow's
tensorflow/core/util/port.cc, docs/performance.md). On an AVX2-only CPU they are off unless
TF_ENABLE_ONEDNN_OPTS=1, and there they can be faster. TensorFlow reads the variable once, when it
is imported, so the choice has to be made before. The rule, first match wins:

1. TensorFlow is already imported: it has read the variable; report what it runs, change nothing.
2. The user's own TF_ENABLE_ONEDNN_OPTS (0, 1, true, false) wins.
3. TensorFlow's default is on here (or this is not an x86 Linux CPU): its default; nothing to decide.
4. Otherwise (TensorFlow's default off): the decision measured on this machine (CPU model and
   flags, cores, TensorFlow version), cached in CACHE_FILE under machine.cache_dir().
5. None yet: measure it (``apply(measure=True)``). Two child processes (tfcharrnn.onednn_probe),
   one with oneDNN off and one on, time the training step's large matmuls (the 2x128 and 2x512
   LSTMs' input projection and its two gradients) and a batch-1 generation loop, in interleaved
   rounds; oneDNN goes on when it is at least MARGIN faster (geometric mean of the workloads).
   10-30 seconds (two TensorFlow start-ups), once per machine; cached like 4 (delete the file to
   measure again; an entry measured while other processes kept the cores busy is measured again
   once the machine is quiet).

`import tfcharrnn` applies 1-4 (cheap: never measures, never imports TensorFlow); the front ends
(tfcharrnn.cli) and the Trainer apply all five before they import TensorFlow. The value tfcharrnn
sets is also written to SET_BY_US, so a child process that inherits it does not take it for the
user's. Only the probe itself needs a machine of its kind; the rule runs anywhere with injected CPU
flags (tests/test_onednn.py covers the AVX2-only case on an AVX-512 machine).
"""

from __future__ import annotations

import json
import math
import os
import platform
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import tfcharrnn.machine as machine

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
SET_BY_US = "TFCHARRNN_ONEDNN_SET"  # the value tfcharrnn gave VARIABLE (inherited by child processes): not the user's
CACHE_FILE = "onednn.json"
# port.cc's DefaultOneDnnPolicy on Linux: any of these turns oneDNN on by default
DEFAULT_ON_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
X86 = ("x86_64", "amd64", "i386", "i686")
MARGIN = 1.03  # oneDNN must be this much faster to replace TensorFlow's default (off)
ROUNDS = 3
PROBE_TIMEOUT_S = 180.0
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly", "tf-nightly-cpu")


@dataclass(frozen=True)
class Decision:
    enabled: bool | None  # None: TensorFlow's own default, not known before it is imported
    why: str
    setting: str | None = None  # what tfcharrnn sets VARIABLE to ("1" / "0"); None: leave the environment alone

    def describe(self) -> str:
        state = "as TensorFlow decides" if self.enabled is None else "on" if self.enabled else "off"
        return f"oneDNN {state} ({self.why})"


def parse(value: str | None) -> bool | None:
    """VARIABLE's value as TensorFlow reads it (0, 1, true, false in any case); None for anything else."""
    text = (value or "").lower()
    return True if text in ("1", "true") else False if text in ("0", "false") else None


def tf_default(info: dict, system: tuple | None = None) -> bool | None:
    """TensorFlow's own default on this CPU (port.cc); None where this module does not decide
    (not x86 Linux: other builds have other rules). ``system``: (sys.platform, platform.machine())."""
    os_name, arch = system or (sys.platform, platform.machine())
    if not os_name.startswith("linux") or arch.lower() not in X86:
        return None
    return bool(set(info["flags"]) & set(DEFAULT_ON_FLAGS))


def user_setting(env) -> str | None:
    """VARIABLE as the user set it; None when unset or set by tfcharrnn (here or in a parent process)."""
    value = env.get(VARIABLE)
    return None if value is None or env.get(SET_BY_US) == value else value


def decide(info: dict, env, entry: dict | None, tf_enabled: bool | None = None, system: tuple | None = None,
           load: float | None = None, fresh: bool = False) -> Decision | None:
    """The setting for a process from injected facts: the CPU (machine.cpu_info()), the
    environment, the cached entry for this machine (or None), TensorFlow's own answer when it is
    already imported, and the load (machine.busy_load(); an entry measured on a busy machine is
    not used on a quiet one). None: nothing decides it yet, measure (``probe``) and ask again."""
    user = user_setting(env)
    if tf_enabled is not None:  # TensorFlow has read the variable: report what it runs, never what a decision would say
        if parse(env.get(VARIABLE)) == tf_enabled:
            why = f"{VARIABLE}={env[VARIABLE]}" + ("" if user is not None else ", set by tfcharrnn before TensorFlow's import")
        elif env.get(VARIABLE) is None and tf_default(info, system) == tf_enabled:
            why = "TensorFlow's default on this CPU"
        else:
            why = "as TensorFlow runs it: it was imported before this was decided"
        return Decision(tf_enabled, why)
    if user is not None:
        if parse(user) is None:
            return Decision(tf_default(info, system), f"{VARIABLE}={user!r} is not 0, 1, true or false: TensorFlow uses its default")
        return Decision(parse(user), f"{VARIABLE}={user}")
    default = tf_default(info, system)
    if default is None:
        return Decision(None, "not an x86 Linux CPU: TensorFlow's default")
    if default:
        return Decision(True, "TensorFlow's default on this CPU")
    if usable(entry, load):
        return from_entry(entry, fresh)
    if parse(env.get(VARIABLE)) is not None:  # set by tfcharrnn in a parent process, whose cache this one cannot read
        return Decision(parse(env[VARIABLE]), "decided by the parent process", env[VARIABLE])
    return None


def usable(entry, load: float | None) -> bool:
    if not isinstance(entry, dict) or not (isinstance(entry.get("enabled"), bool) or entry.get("failed")):
        return False
    return entry.get("busy_load") is None or load is not None  # measured busy, quiet now: measure again


def from_entry(entry: dict, fresh: bool = False) -> Decision:
    where = "measured now" if fresh else "measured on this machine earlier"
    if entry.get("failed"):
        return Decision(False, f"TensorFlow's default on this CPU; measuring failed ({str(entry['failed'])[:160]}); "
                               f"delete {CACHE_FILE} to measure again")
    on, speedup = entry["enabled"], entry.get("speedup", float("nan"))
    verdict = f"{speedup:.2f}x faster with it" if on else f"{speedup:.2f}x with it, not faster"
    return Decision(on, f"{where}: {verdict}; TensorFlow's default here is off", "1" if on else "0")


# ---------------------------------------------------------------------------------------------
# this process


_applied: Decision | None = None  # the last decision apply() made (the start-up line reports it)


def tensorflow_enabled() -> bool | None:
    """TensorFlow's own answer once it is imported (it read VARIABLE then); None before. Never imports it."""
    if "tensorflow" not in sys.modules:
        return None
    port = sys.modules.get("tensorflow.python.util._pywrap_util_port")
    if port is not None:
        return bool(port.IsMklEnabled())
    value = parse(os.environ.get(VARIABLE))  # a TensorFlow without that module: what it read
    return value if value is not None else tf_default(machine.cpu_info())


def apply(measure: bool = True, log=None) -> Decision:
    """Decide for this process and, before TensorFlow is imported, set VARIABLE accordingly.
    ``measure`` False (``import tfcharrnn``) never runs the probe: without a cached decision
    TensorFlow's default stands for now. ``log`` hears the one line said before measuring
    (default: stderr)."""
    global _applied
    info, env = machine.cpu_info(), os.environ
    tf_now = tensorflow_enabled()
    if tf_now is not None:
        if _applied is None or _applied.enabled != tf_now:
            _applied = decide(info, env, None, tf_enabled=tf_now)
        return _applied
    load, key, entry, cache = machine.busy_load(), None, None, Cache()
    if user_setting(env) is None and tf_default(info) is False:
        key = cache_key(info)
        entry = cache.get(key)
    decision = decide(info, env, entry, load=load)
    if decision is None and measure:
        (log or _stderr)(f"oneDNN: TensorFlow's default here is off; timing its matmuls with oneDNN off and on "
                         f"(once for this machine, 10-30 s; {VARIABLE}=0 or 1 skips this)")
        entry = dict(probe(), busy_load=load, measured_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        cache.put(key, entry)
        decision = decide(info, env, entry, load=load, fresh=True)
    if decision is None:
        decision = Decision(False, "TensorFlow's default on this CPU; not measured yet")
    if decision.setting is not None:
        os.environ[VARIABLE] = os.environ[SET_BY_US] = decision.setting
    _applied = decision
    return decision


def in_force() -> str:
    """What runs: "oneDNN on (why)"; TensorFlow's own answer once it is imported."""
    return apply(measure=False).describe()


def enabled() -> bool | None:
    """Whether oneDNN runs (TensorFlow's answer once imported, else the decision); None: not known."""
    tf_now = tensorflow_enabled()
    return tf_now if tf_now is not None else apply(measure=False).enabled


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the cache: one decision per machine


def tensorflow_version() -> str:
    """The installed TensorFlow's version, read without importing it."""
    import importlib.metadata as metadata

    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def cache_key(info: dict) -> str:
    return Cache.key({**info, "tensorflow": tensorflow_version()})


class Cache(machine.JsonCache):
    """CACHE_FILE: machine key -> the measured decision (enabled, speedup, seconds per workload)."""

    def __init__(self, directory: str | None = None):
        super().__init__(CACHE_FILE, directory)


# ---------------------------------------------------------------------------------------------
# the measurement: tfcharrnn.onednn_probe in two child processes, oneDNN off and on


class _Child:
    """One probe process under ``setting``: JSON lines out, one per "go" line in."""

    def __init__(self, setting: str):
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {k: v for k, v in os.environ.items() if k != SET_BY_US}
        env.update({VARIABLE: setting, "TF_CPP_MIN_LOG_LEVEL": "3",
                    "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)})
        self.setting, self.errors = setting, tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "tfcharrnn.onednn_probe"], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errors, text=True)

    def read(self, deadline: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = self.proc.stdout.readline() if ready else None
        if not line:
            self.errors.seek(0)
            tail = " ".join(self.errors.read().split())[-300:]
            raise RuntimeError(f"the probe with {VARIABLE}={self.setting} {'timed out' if ready == [] else 'stopped'}: {tail}")
        return json.loads(line)

    def ask(self, deadline: float) -> dict:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self.read(deadline)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


def probe(rounds: int = ROUNDS, timeout: float = PROBE_TIMEOUT_S) -> dict:
    """Time tfcharrnn.onednn_probe's workloads with oneDNN off and on, each setting in its own
    process, the rounds interleaved (off, on, on, off, ...) so that a busy neighbour slows both
    alike; each workload keeps its fastest round. The cache entry: enabled, speedup (geometric
    mean of off / on over the workloads), seconds; or failed (why)."""
    t0, deadline, children = time.perf_counter(), time.monotonic() + timeout, {}
    try:
        for setting in ("0", "1"):
            children[setting] = _Child(setting)
        runs = {s: child.read(deadline)["onednn"] for s, child in children.items()}  # each reports TensorFlow's answer when ready
        if runs != {"0": False, "1": True}:
            return {"failed": f"{VARIABLE}=0 / 1 gave oneDNN {runs['0']} / {runs['1']} in this TensorFlow: nothing to choose"}
        seconds = {"0": {}, "1": {}}
        for r in range(rounds):
            for s in ("0", "1") if r % 2 == 0 else ("1", "0"):
                for name, t in children[s].ask(deadline).items():
                    seconds[s][name] = min(t, seconds[s].get(name, math.inf))
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        return {"failed": str(e)[:400]}
    finally:
        for child in children.values():
            child.close()
    on, speedup = verdict(seconds["0"], seconds["1"])
    return {"enabled": on, "speedup": round(speedup, 4), "seconds": {"off": seconds["0"], "on": seconds["1"]},
            "probe_s": round(time.perf_counter() - t0, 1)}


def verdict(off: dict, on: dict) -> tuple[bool, float]:
    """(oneDNN on?, speedup) from seconds per workload with it off and on: on when the geometric
    mean of off / on over the workloads is at least MARGIN."""
    ratios = [off[name] / on[name] for name in on]
    speedup = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return speedup >= MARGIN, speedup
