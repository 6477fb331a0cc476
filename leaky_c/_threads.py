"""Threads and memory thresholds for the C kernels.

Why a Python thread pool rather than OpenMP or a C pthread pool: cffi releases
the GIL for every call into the C module, so plain Python threads run the
kernels truly in parallel.  That keeps the C free of any threading runtime (no
second OpenMP runtime beside PyTorch's, no libgomp, whose worker threads do not
survive fork), makes fork safety one ``os.register_at_fork`` hook, and costs a
few microseconds per parallel call, which only calls above the grain pay.

Oversubscription: only one call at a time uses the pool.  A call that finds it
busy (another Python thread is running a parallel kernel) runs on its own
thread, so N caller threads never start more than N + threads - 1 workers.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

#: Bytes of output each thread must get before a call is split.  Measured on the
#: 2-core development machine (float32 into out=, best of 5, 1 vs 2 threads):
#: below 32 MiB of output two threads were slower (4 MiB: 111 vs 198 us;
#: 16 MiB: 0.94 vs 1.13 ms; the pool hand-off and moving cache lines between
#: cores cost more than the second core saves while the data is in cache), even
#: at 32 MiB (1.77 vs 1.74 ms), and faster beyond the cache (1 GiB: 65 vs 44 ms).
#: LEAKY_C_GRAIN_BYTES overrides it.
DEFAULT_GRAIN_BYTES = 1 << 24
#: Thread chunks start on 64-byte boundaries (a cache line, one AVX-512 vector).
CHUNK_ALIGN_BYTES = 64


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImportError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ImportError(f"{name}={value} must be at least {minimum}")
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


_num_threads = _env_int("LEAKY_C_NUM_THREADS", available_cores(), 1)
#: Outputs of at least this many bytes are written with non-temporal stores.
stream_threshold_bytes = _env_int("LEAKY_C_STREAM_THRESHOLD", last_level_cache_bytes(), 0)
grain_bytes = _env_int("LEAKY_C_GRAIN_BYTES", DEFAULT_GRAIN_BYTES, 1)

#: Outputs below this many bytes need neither threads nor streaming stores, so
#: the API calls the kernel directly, skipping run(): derived, see _derive().
serial_bytes = 0

_pool: ThreadPoolExecutor | None = None
_pool_busy = threading.Lock()


def _derive() -> None:
    global serial_bytes
    threaded_from = 2 * grain_bytes if _num_threads > 1 else stream_threshold_bytes
    serial_bytes = min(threaded_from, stream_threshold_bytes)


def configure(grain: int | None = None, stream_threshold: int | None = None) -> None:
    """Set the grain and the streaming-store threshold, in bytes of output (for tests)."""
    global grain_bytes, stream_threshold_bytes
    if grain is not None:
        grain_bytes = grain
    if stream_threshold is not None:
        stream_threshold_bytes = stream_threshold
    _derive()


_derive()


def get_num_threads() -> int:
    """The number of threads a large call uses (LEAKY_C_NUM_THREADS, else the cores)."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (>= 1) for large calls from now on."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    with _pool_busy:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
        _num_threads = n
        _derive()


def _after_fork_in_child() -> None:
    # The pool's threads do not exist in a forked child; start afresh lazily.
    global _pool, _pool_busy
    _pool = None
    _pool_busy = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run(kernel: Callable[..., None], n: int, itemsize: int, arrays: tuple[Any, ...],
        *args: Any) -> None:
    """Run ``kernel(*arrays, n, *args, stream)`` over n elements, threaded if large.

    ``arrays`` are typed cffi arrays of n elements each; chunks are offsets
    into them.  The caller keeps them (and so the buffers) alive.  ``stream``
    asks for non-temporal stores when the whole output exceeds the threshold.
    """
    nbytes = n * itemsize
    stream = int(nbytes >= stream_threshold_bytes)
    threads = min(_num_threads, nbytes // grain_bytes)
    if threads < 2 or not _pool_busy.acquire(blocking=False):
        kernel(*arrays, n, *args, stream)
        return
    global _pool
    try:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_num_threads - 1,
                                       thread_name_prefix="leaky_c")
        align = CHUNK_ALIGN_BYTES // itemsize
        step = -(-n // threads // align) * align
        bounds = [(start, min(step, n - start)) for start in range(0, n, step)]
        futures = [_pool.submit(kernel, *(a + start for a in arrays), count, *args, stream)
                   for start, count in bounds[1:]]
        kernel(*arrays, bounds[0][1], *args, stream)
        for future in futures:
            future.result()
    finally:
        _pool_busy.release()
