"""The machine at hand, described once: its CPU, whether it multiplies bfloat16 natively, how busy
it is, and where tfcharrnn keeps its caches.

    from tfcharrnn import machine
    machine.cpu_info()          # {"cpu": "AMD EPYC ...", "flags": ["avx2", "fma", ...], "cores": 2}
    machine.native_bfloat16()   # True on AVX512_BF16 / AMX / Arm BF16 CPUs
    machine.busy_load()         # the 1-minute load average when other work keeps the cores busy, else None
    machine.cache_dir()         # ~/.cache/tfcharrnn, or $TFCHARRNN_CACHE

The encoded-corpus cache (tfcharrnn.data) and the training-path cache
(tfcharrnn.training.train_path) both live under cache_dir().
"""

from __future__ import annotations

import os
import platform

# CPU flags that change which kernels (oneDNN, XNNPACK, Eigen) run fastest
RELEVANT_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16",
                  "asimd", "sve", "bf16", "i8mm")


def cache_dir() -> str:
    return os.environ.get("TFCHARRNN_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "tfcharrnn"))


def cpu_info() -> dict:
    """The CPU model and its relevant feature flags (Linux /proc/cpuinfo; elsewhere the platform's name)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and value.strip():
                    name = value.strip()
                elif key in ("flags", "features"):
                    flags |= set(value.split())
    except OSError:
        pass
    return {"cpu": name, "flags": sorted(flags & set(RELEVANT_FLAGS)), "cores": os.cpu_count() or 1}


def native_bfloat16(info: dict | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512_BF16, AMX, or Arm's BF16)."""
    flags = set((info or cpu_info())["flags"])
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def busy_load() -> float | None:
    """The 1-minute load average when other processes keep the cores busy (over half of them), else None."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    return load if load > 0.5 * (os.cpu_count() or 1) else None


class JsonCache:
    """A small JSON file of measurements in cache_dir(): key -> entry. A missing or damaged file
    reads as empty (measure again); a write that fails (a read-only home) is skipped, since a
    cache must never stop a run. Written atomically, so a crash leaves the old file or the new."""

    def __init__(self, filename: str, directory: str | None = None):
        self.path = os.path.join(directory or cache_dir(), filename)

    @staticmethod
    def key(description: dict) -> str:
        """The entry key of what a measurement depends on (machine, versions, shape): a short hash."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]

    def read(self) -> dict:
        import json

        try:
            with open(self.path, encoding="utf-8") as f:
                entries = json.load(f)
            return entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> dict | None:
        entry = self.read().get(key)
        return entry if isinstance(entry, dict) else None

    def put(self, key: str, entry: dict) -> None:
        import json

        from tfcharrnn.files import atomic_write_bytes

        entries = self.read()
        entries[key] = entry
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write_bytes(self.path, json.dumps(entries, indent=1, sort_keys=True).encode("utf-8"))
        except OSError:
            pass
