"""Measure the grain: from how many bytes of output per thread a second thread pays.

    python tools/grain.py [--threads 2] [--rounds 30]

For each size, float32 forward into a warm ``out=`` (the pool's overhead with
nothing else in the way), times one thread against ``--threads`` threads split
at any size, interleaved call by call (A, B, A, B, ...), best of the rounds per
side.  Prints the speed-up per size and the smallest per-thread output from
which it stays above 1.05.  The result goes into leaky_c/_threads.py's
DEFAULT_GRAIN_BYTES and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import leaky_c
from leaky_c import _threads


def best_pair(fn_a, fn_b, rounds: int, min_time: float = 0.02) -> tuple[float, float]:
    """Best per-call time of a and b, timed interleaved in batches of ~min_time."""
    reps = 1
    while True:
        start = time.perf_counter()
        for _ in range(reps):
            fn_a()
        if time.perf_counter() - start > min_time / 4:
            break
        reps *= 2
    best_a = best_b = float("inf")
    for _ in range(rounds):
        for fn, which in ((fn_a, 0), (fn_b, 1)):
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            elapsed = (time.perf_counter() - start) / reps
            if which == 0:
                best_a = min(best_a, elapsed)
            else:
                best_b = min(best_b, elapsed)
    return best_a, best_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    previous = (leaky_c.get_num_threads(), _threads.grain_bytes())
    rows = []
    try:
        for n in (2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 10**6):
            x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
            out = np.empty_like(x)

            def serial() -> None:
                _threads.configure(grain=1 << 62)
                leaky_c.leaky_relu(x, 0.01, out=out)

            def split() -> None:
                _threads.configure(grain=1)
                leaky_c.leaky_relu(x, 0.01, out=out)

            leaky_c.set_num_threads(args.threads)
            one, many = best_pair(serial, split, args.rounds)
            rows.append((n, one, many))
            print(f"n={n:>8}  {n * 4 // args.threads:>8} B/thread  1 thread {one * 1e6:8.2f} us"
                  f"  {args.threads} threads {many * 1e6:8.2f} us  speed-up {one / many:5.2f}",
                  flush=True)
    finally:
        leaky_c.set_num_threads(previous[0])
        _threads.configure(grain=previous[1])
    paying = [n for n, one, many in rows if one / many > 1.05]
    first = next((n for n in paying if all(one / many > 1.05 for m, one, many in rows if m >= n)),
                 None)
    if first is None:
        print("a second thread never paid")
    else:
        print(f"a second thread pays from n={first}: {first * 4 // args.threads} bytes of output "
              "per thread")


if __name__ == "__main__":
    main()
