"""What the benchmark records about the machine: CPU, cores, caches, memory, load."""

from __future__ import annotations

import os
import platform
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator, Optional


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpus_for(threads: int) -> Optional[set[int]]:
    """The CPUs a process measuring ``threads`` threads is held to: the first ``threads``
    of this process's, or None (no limit) when it has no more than that or the system
    cannot say.  JAX sizes its pool from the CPUs it may use, whatever XLA_FLAGS say: at
    1 thread it ran on 1.7-1.8 cores of 2 (benchmarks/RESULTS.md, "Two passes, the
    autoscaling's first call, and peers held to their cores")."""
    try:
        mine = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    return set(mine[:threads]) if threads < len(mine) else None


@contextmanager
def started_on(cpus: Optional[set[int]]) -> Iterator[None]:
    """Processes started inside run on ``cpus`` (a child inherits the CPUs of the thread
    that starts it); this thread's own are restored after."""
    mine = os.sched_getaffinity(0) if cpus is not None else None
    try:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
    except OSError:  # not allowed here (a cpuset changed under us): no limit, as the
        mine = None  # process's own record of its cores shows
    try:
        yield
    finally:
        if mine is not None:
            os.sched_setaffinity(0, mine)


def proc_field(path: str, key: str) -> Optional[str]:
    """The value of ``key:`` in a /proc file such as /proc/cpuinfo, or None."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


@lru_cache(maxsize=None)
def caches() -> tuple[dict[str, Any], ...]:
    """CPU 0's caches from sysfs: level, type and bytes of each (empty if unknown)."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    found = []
    try:
        for entry in sorted(os.listdir(base)):
            if not entry.startswith("index"):
                continue

            def read(name: str, entry: str = entry) -> str:
                with open(os.path.join(base, entry, name)) as f:
                    return f.read().strip()
            found.append({"level": int(read("level")), "type": read("type"),
                          "size_bytes": _size(read("size"))})
    except (OSError, ValueError):
        return ()
    return tuple(found)


def stream_threshold_bytes() -> int:
    """Outputs of this many bytes or more get non-temporal stores in the C copy bound.

    The largest cache: an output that does not fit in it is written to memory
    anyway, and a non-temporal store skips reading the line first.  Without
    sysfs, 32 MiB.
    """
    return max((cache["size_bytes"] for cache in caches()), default=32 << 20)


def memory_bytes(key: str = "MemTotal") -> Optional[int]:
    value = proc_field("/proc/meminfo", key)
    return int(value.split()[0]) * 1024 if value else None


def load_average() -> Optional[list[float]]:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (OSError, AttributeError):  # AttributeError: Windows has none
        return None


def describe() -> dict[str, Any]:
    """The ``machine`` object of the JSON (see benchmarks/README.md)."""
    return {
        "cpu_model": proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": available_cores(),
        "logical_cpus": os.cpu_count(),
        "caches": list(caches()),
        "memory_bytes": memory_bytes(),
        "platform": platform.platform(),
    }


def cpu_sample() -> dict[str, Optional[float]]:
    """CPU seconds used so far: by the whole machine (every core, and time the hypervisor
    stole), by this process and its waited-for children, and the wall clock."""
    import time
    busy = None
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        busy = (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        own = sum(getattr(resource.getrusage(who), field) for who in
                  (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for field in ("ru_utime", "ru_stime"))
    except ImportError:  # Windows: this process only; busy is None there anyway
        own = time.process_time()
    return {"machine_busy_s": busy, "own_s": own, "wall_s": time.monotonic()}


def cpu_use(before: dict[str, Optional[float]], after: dict[str, Optional[float]]
            ) -> dict[str, Optional[float]]:
    """The ``cpu`` object of the JSON: how busy the machine was with other work during the run."""
    wall = after["wall_s"] - before["wall_s"]  # type: ignore[operator]
    own = after["own_s"] - before["own_s"]  # type: ignore[operator]
    others = None
    if before["machine_busy_s"] is not None and after["machine_busy_s"] is not None and wall > 0:
        busy = after["machine_busy_s"] - before["machine_busy_s"]
        others = round(max(busy - own, 0.0) / wall, 2)
    return {"wall_s": round(wall, 1), "own_cpu_s": round(own, 1), "other_cores_busy": others}
