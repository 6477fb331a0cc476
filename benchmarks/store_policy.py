"""Streaming (non-temporal) against ordinary stores: `python -m leaky_c.benchmarks.store_policy`.

The question behind leaky_c's store policy (csrc/elementwise.c): does a large
float32 forward pay for non-temporal stores, (a) into a freshly allocated
output (np.empty or torch.empty just before the call: its pages are not mapped
yet, so the first touch faults) and (b) into a warm output (written before,
pages mapped)?  Both store kinds are timed interleaved on the same arrays, at
1 and 2 threads, best of the repeats, and the ratio ordinary / streaming is
printed (> 1: streaming is faster).  Fresh outputs also get the shipped
policy (fresh flag: stream only if the pages are mapped already), and, last,
with glibc, fresh outputs that malloc recycles (mallopt raises the mmap
threshold, so a freed buffer is handed back with its pages mapped).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util

import numpy as np

from leaky_c import _threads
from leaky_c._backend import ffi, lib

from .timing import peer_threads
from .pool_targets import best

SLOPE = 0.01
NEVER = 1 << 62


def _forward(x: np.ndarray, out: np.ndarray, stream: bool, fresh: bool = False) -> None:
    """The float32 kernel with streaming forced on or off; fresh: the shipped
    policy for a fresh output (stream only into mapped pages)."""
    _threads.configure(stream_threshold=0 if stream or fresh else NEVER)
    lib.leaky_fwd_f32(ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", out, True),
                      x.size, SLOPE, lib.LEAKY_FRESH_OUTPUT if fresh else 0)


def _fresh_rows(n: int, x: np.ndarray, allocators: dict, repeat: int, label: str = "fresh") -> None:
    for name, alloc in allocators.items():
        t = best({"plain": lambda: _forward(x, alloc(), False),
                  "stream": lambda: _forward(x, alloc(), True),
                  "policy": lambda: _forward(x, alloc(), False, fresh=True)},
                 min_time=0.0, repeat=repeat)
        print(f"n={n:>10} {x.nbytes >> 20:>5} MiB {lib.leaky_get_num_threads()} thr, {label} "
              f"({name:11}): plain {t['plain'] * 1e3:8.2f} ms  stream "
              f"{t['stream'] * 1e3:8.2f} ms  plain/stream {t['plain'] / t['stream']:5.2f}"
              f"  plain/policy {t['plain'] / t['policy']:5.2f}", flush=True)


def _recycle_large_allocations() -> bool:
    """glibc: serve large allocations from the heap, so freed pages come back mapped."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt and mallopt(M_MMAP_THRESHOLD, 2**31 - 1) and mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m leaky_c.benchmarks.store_policy",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64 * 64 * 56 * 56, 1 << 28])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    previous = _threads.stream_threshold_bytes()
    try:
        for n in args.sizes:
            x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
            warm = np.ones_like(x)
            allocators = {"np.empty": lambda: np.empty(n, np.float32)}
            if torch is not None:
                allocators["torch.empty"] = lambda: torch.empty(n).numpy()
            for threads in (1, 2):
                with peer_threads(threads):
                    _fresh_rows(n, x, allocators, args.repeat)
                    t = best({"plain": lambda: _forward(x, warm, False),
                              "stream": lambda: _forward(x, warm, True)},
                             min_time=0.0, repeat=args.repeat)
                    print(f"n={n:>10} {x.nbytes >> 20:>5} MiB {threads} thr, warm out=           "
                          f": plain {t['plain'] * 1e3:8.2f} ms  stream {t['stream'] * 1e3:8.2f}"
                          f" ms  plain/stream {t['plain'] / t['stream']:5.2f}", flush=True)
        if _recycle_large_allocations():
            for n in args.sizes:
                x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
                for threads in (1, 2):
                    with peer_threads(threads):
                        _fresh_rows(n, x, {"np.empty": lambda: np.empty(n, np.float32)},
                                    args.repeat, label="recycled")
    finally:
        _threads.configure(stream_threshold=previous)


if __name__ == "__main__":
    main()
