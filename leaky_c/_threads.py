"""Thread count, grain and store policy: the Python face of csrc/threadpool.c.

The pool itself is native (csrc/threadpool.c): persistent workers, started at
the first parallel call, the caller taking a share, idle workers sleeping after
a short spin, one caller at a time (a call that finds the pool busy runs on its
own thread), a fresh pool in a forked child.  Here: the settings, read once
from the environment at import, and the threadpoolctl controller.

``LEAKY_C_NUM_THREADS``
    Threads for large calls (default: the cores this process may run on).
``LEAKY_C_GRAIN_BYTES``
    Bytes of output each thread must get before a call is split (default
    DEFAULT_GRAIN_BYTES, measured in benchmarks/RESULTS.md).
``LEAKY_C_STREAM_THRESHOLD``
    Outputs of at least this many bytes that already exist get non-temporal
    stores (default: the last-level cache size).
``LEAKY_C_OPENMP``
    1 (the default): large calls from the main thread run on PyTorch's OpenMP
    team while its workers are awake, right after PyTorch's parallel ops
    (csrc/openmp.c); 0: always on leaky_c's pool.
"""

from __future__ import annotations

import os
from typing import Any, SupportsIndex

import numpy as np

from ._backend import lib
from ._validate import integer

#: From this many bytes of output per thread, a second thread pays: measured
#: with `python tools/grain.py` (benchmarks/RESULTS.md, "Grain").
DEFAULT_GRAIN_BYTES = 1 << 15

#: The largest values the C settings hold (csrc/leaky_c_api.h): the thread
#: count is a C int, the grain and the streaming threshold are size_t bytes.
MAX_THREADS = int(np.iinfo(np.intc).max)
MAX_BYTES = int(np.iinfo(np.uintp).max)


def _check_range(value: int, minimum: int, maximum: int, name: str, error: type) -> None:
    if not minimum <= value <= maximum:
        raise error(f"{name}={value} must be at least {minimum} and at most {maximum}")


def _env_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImportError(f"{name}={raw!r} is not an integer") from None
    _check_range(value, minimum, maximum, name, ImportError)
    return value


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def last_level_cache_bytes() -> int:
    """Size of the largest CPU cache, from sysconf or sysfs (32 MiB if unknown)."""
    for name in ("SC_LEVEL4_CACHE_SIZE", "SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            size = os.sysconf(name)
        except (ValueError, OSError, AttributeError):
            continue
        if size > 0:
            return size
    sizes = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            sizes.append(int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        pass
    return max(sizes, default=32 << 20)


class _NumpySettings:
    """The C settings' stand-in on the NumPy backend (show_config reports them):
    the compiled module's getters and setters, so that each setting lives in
    one place, the C when there is one."""

    def __init__(self) -> None:
        self.threads, self.grain, self.stream, self.openmp = 1, DEFAULT_GRAIN_BYTES, 0, 1

    def leaky_get_num_threads(self) -> int: return self.threads
    def leaky_set_num_threads(self, n: int) -> None: self.threads = n
    def leaky_get_grain_bytes(self) -> int: return self.grain
    def leaky_set_grain_bytes(self, n: int) -> None: self.grain = n
    def leaky_get_stream_threshold(self) -> int: return self.stream
    def leaky_set_stream_threshold(self, n: int) -> None: self.stream = n
    def leaky_pool_workers(self) -> int: return 0
    def leaky_set_openmp(self, allow: int) -> None: self.openmp = allow
    def leaky_get_openmp(self) -> int: return self.openmp
    def leaky_openmp_status(self) -> int: return 0
    def leaky_openmp_calls(self) -> int: return 0


_settings: Any = lib if lib is not None else _NumpySettings()


def get_num_threads() -> int:
    """The number of threads a large call uses (LEAKY_C_NUM_THREADS, else the cores)."""
    return int(_settings.leaky_get_num_threads())


def set_num_threads(n: SupportsIndex) -> None:
    """Use ``n`` threads (an integer >= 1) for large calls from now on.

    Safe while other threads compute: calls already running keep their
    threads, later ones use n.  Workers beyond n - 1 are stopped."""
    n = integer(n, "n")
    _check_range(n, 1, MAX_THREADS, "n", ValueError)
    _settings.leaky_set_num_threads(n)


def grain_bytes() -> int:
    return int(_settings.leaky_get_grain_bytes())


def stream_threshold_bytes() -> int:
    return int(_settings.leaky_get_stream_threshold())


def configure(grain: int | None = None, stream_threshold: int | None = None) -> None:
    """Set the grain and the streaming-store threshold, in bytes of output."""
    if grain is not None:
        _settings.leaky_set_grain_bytes(grain)
    if stream_threshold is not None:
        _settings.leaky_set_stream_threshold(stream_threshold)


def pool_workers() -> int:
    """Worker threads the native pool has started (0 on the NumPy backend)."""
    return int(_settings.leaky_pool_workers())


#: leaky_openmp_status's answers (csrc/leaky_c_api.h), as show_config prints them.
OPENMP_STATUS = ("off", "allowed; PyTorch's libgomp not loaded",
                 "PyTorch's, while its workers are awake (no worker found yet)",
                 "PyTorch's, while its workers are awake")


def openmp_status() -> str:
    """Whether large calls may run on PyTorch's OpenMP team (LEAKY_C_OPENMP)."""
    return OPENMP_STATUS[_settings.leaky_openmp_status()]


def allow_openmp(allow: bool) -> None:
    """Let large calls run on PyTorch's OpenMP team while it is awake, or never."""
    _settings.leaky_set_openmp(int(bool(allow)))


def openmp_allowed() -> bool:
    return bool(_settings.leaky_get_openmp())


def openmp_calls() -> int:
    """Calls that ran on PyTorch's OpenMP team so far (0 on the NumPy backend)."""
    return int(_settings.leaky_openmp_calls())


set_num_threads(_env_int("LEAKY_C_NUM_THREADS", available_cores(), 1, MAX_THREADS))
configure(_env_int("LEAKY_C_GRAIN_BYTES", DEFAULT_GRAIN_BYTES, 1, MAX_BYTES),
          _env_int("LEAKY_C_STREAM_THRESHOLD", last_level_cache_bytes(), 0, MAX_BYTES))
allow_openmp(bool(_env_int("LEAKY_C_OPENMP", 1, 0, 1)))


def _register_threadpoolctl() -> Any:
    """Let threadpoolctl's threadpool_limits() limit leaky_c as it limits BLAS."""
    try:
        import threadpoolctl  # untyped: pyproject.toml's [tool.mypy] makes it Any
    except ImportError:
        return None
    if not hasattr(threadpoolctl, "register"):  # before 3.5
        return None

    class LeakyCController(threadpoolctl.LibController):  # type: ignore[misc]  # Any base
        user_api = "leaky_c"
        internal_api = "leaky_c"
        filename_prefixes = ("_leaky_c",)
        check_symbols = ("leaky_get_num_threads", "leaky_set_num_threads")

        def get_num_threads(self) -> int:
            return get_num_threads()

        def set_num_threads(self, num_threads: int) -> None:
            set_num_threads(num_threads)

        def get_version(self) -> str:
            from . import __version__
            return __version__

    threadpoolctl.register(LeakyCController)
    return LeakyCController


THREADPOOLCTL_CONTROLLER = _register_threadpoolctl() if lib is not None else None
