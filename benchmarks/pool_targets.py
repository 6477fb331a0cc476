"""The native thread pool's targets, measured: `python -m leaky_c.benchmarks.pool_targets`.

Each line is a ratio of two implementations timed side by side, interleaved
(benchmarks/timing.py), best of the repeats:

- PyTorch against leaky_c at the same thread count (forward into out=, the
  allocating forward and backward; float32 at 10^5 to 10^7, float16 at 10^6);
- leaky_c's own speed-up from 1 to N threads (the 1-thread side never splits),
  for the forward into out=, a transposed view into a contiguous out and the
  PReLU forward and backward;
- in cache, 1 thread: the forward into an out off a 64-byte boundary against
  np.copyto of the same bytes;
- n = 100: leaky_c's allocating forward against F.leaky_relu;
- 1 GiB: the forward into out= against the streaming copy at the same thread
  count, and the allocating forward and backward against PyTorch.

``--quick`` skips the 1 GiB cases.  ``--table 1 2 4 8 16`` prints instead the
many-core table: torch/leaky_c for the float32 forward into out= (and the
allocating forward) at each thread count and at 10^5, 10^6, 10^7 and 2^28
elements, with both times; ``tools/many_cores.sh`` runs it on a lent machine.
The figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

import leaky_c
from leaky_c import _threads

from . import _bounds_build
from .timing import Plan, calibrate, measure, peer_threads, timer_overhead

SLOPE = 0.01


def best(fns: dict[str, Callable[[], Any]], min_time: float, repeat: int) -> dict[str, float]:
    """Best seconds per call of each function, timed interleaved."""
    overhead = timer_overhead()
    plans = {name: Plan([fn]) for name, fn in fns.items()}
    for plan in plans.values():
        plan.calls[0]()  # warm up: faults in the pages, starts the pool
        calibrate(plan, min_time, overhead)
    measure(list(plans.values()), repeat, overhead)
    return {name: min(plan.times) for name, plan in plans.items()}


def serial(fn: Callable[[], Any]) -> Callable[[], Any]:
    """fn on one thread: a grain no call reaches."""
    grain = _threads.grain_bytes()

    def run() -> Any:
        _threads.configure(grain=1 << 62)
        try:
            return fn()
        finally:
            _threads.configure(grain=grain)
    return run


def line(label: str, ratio: float, target: str) -> None:
    print(f"{label:<62} {ratio:6.2f}   (target {target})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m leaky_c.benchmarks.pool_targets",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="skip the 1 GiB cases")
    parser.add_argument("--big-only", action="store_true", help="only the 1 GiB cases")
    parser.add_argument("--table", type=int, nargs="+", metavar="T",
                        help="only the many-core table, at these thread counts")
    args = parser.parse_args(argv)
    import torch
    rng = np.random.default_rng(0)
    T, kw = args.threads, dict(min_time=args.min_time, repeat=args.repeat)
    print(f"leaky_c {leaky_c.__version__}, torch {torch.__version__}, {T} threads, "
          f"target {leaky_c._backend.active_target()}, grain {_threads.grain_bytes()} B")

    if args.table:
        table(args.table, rng, args.repeat)
        return
    if not args.big_only:
        mid_sizes(T, rng, kw)
    if not args.quick:
        big(T, rng)


def mid_sizes(T: int, rng: np.random.Generator, kw: dict) -> None:
    import torch
    F = torch.nn.functional
    with peer_threads(T):
        for dtype, sizes in ((np.float32, (10**5, 3 * 10**5, 10**6, 3 * 10**6, 10**7)),
                             (np.float16, (10**6,))):
            for n in sizes:
                x = rng.standard_normal(n).astype(dtype)
                g = rng.standard_normal(n).astype(dtype)
                out, tout = np.empty_like(x), torch.empty(n, dtype=torch.from_numpy(x).dtype)
                tx, tg = torch.from_numpy(x), torch.from_numpy(g)
                cases = {"forward out=": (lambda: leaky_c.leaky_relu(x, SLOPE, out=out),
                                          lambda: torch._C._nn.leaky_relu(tx, SLOPE, out=tout)),
                         "forward allocating": (lambda: leaky_c.leaky_relu(x, SLOPE),
                                                lambda: F.leaky_relu(tx, SLOPE)),
                         "backward allocating": (
                             lambda: leaky_c.leaky_relu_backward(g, x, SLOPE),
                             lambda: torch.ops.aten.leaky_relu_backward(tg, tx, SLOPE, False))}
                if dtype == np.float16:
                    cases = {"forward allocating": cases["forward allocating"]}
                for case, (ours, theirs) in cases.items():
                    t = best({"leaky_c": ours, "torch": theirs}, **kw)
                    line(f"torch/leaky_c {np.dtype(dtype)} {case} n={n:.0e}",
                         t["torch"] / t["leaky_c"], ">= 1.0")

        x = rng.standard_normal(10**6).astype(np.float32)
        out = np.empty_like(x)
        fwd = lambda: leaky_c.leaky_relu(x, SLOPE, out=out)  # noqa: E731
        t = best({"1": serial(fwd), "T": fwd}, **kw)
        line(f"speed-up 1->{T} threads, forward out= n=1e6", t["1"] / t["T"], ">= 1.6")
        square = rng.standard_normal((2048, 2048)).astype(np.float32)
        out2 = np.empty((2048, 2048), np.float32)
        transposed = lambda: leaky_c.leaky_relu(square.T, SLOPE, out=out2)  # noqa: E731
        t = best({"1": serial(transposed), "T": transposed}, **kw)
        line(f"speed-up 1->{T} threads, transposed 2048x2048 -> contiguous out",
             t["1"] / t["T"], ">= 1.6")
        xp = rng.standard_normal((16, 64, 56, 56)).astype(np.float32)
        gp = rng.standard_normal(xp.shape).astype(np.float32)
        w = np.linspace(0.1, 0.3, 64).astype(np.float32)
        pfwd = lambda: leaky_c.prelu(xp, w)  # noqa: E731
        pbwd = lambda: leaky_c.prelu_backward(gp, xp, w)  # noqa: E731
        for name, fn in (("PReLU forward", pfwd), ("PReLU backward", pbwd)):
            t = best({"1": serial(fn), "T": fn}, **kw)
            line(f"speed-up 1->{T} threads, {name} (16,64,56,56)", t["1"] / t["T"], ">= 1.5")

    with peer_threads(1):
        for n in (10**5, 3 * 10**5):
            base = rng.standard_normal(n + 16).astype(np.float32)
            x = base[:n]
            dst = np.empty(n + 16, np.float32)
            off = (-(dst.ctypes.data // 4) + 1) % 16  # one float past a 64-byte boundary
            out = dst[off:off + n]
            assert out.ctypes.data % 64 == 4
            t = best({"leaky_c": lambda: leaky_c.leaky_relu(x, SLOPE, out=out),
                      "copyto": lambda: np.copyto(out, x)}, **kw)
            line(f"1 thread, forward out= off 64 B, n={n:.0e}: leaky_c/np.copyto",
                 t["leaky_c"] / t["copyto"], "<= 1.15")
        x = rng.standard_normal(100).astype(np.float32)
        tx = torch.from_numpy(x)
        t = best({"leaky_c": lambda: leaky_c.leaky_relu(x, SLOPE),
                  "torch": lambda: F.leaky_relu(tx, SLOPE)}, **kw)
        line("n=100 allocating forward: leaky_c/torch", t["leaky_c"] / t["torch"], "<= 0.9")



TABLE_SIZES = (10**5, 10**6, 10**7, 1 << 28)


def table(thread_counts: list[int], rng: np.random.Generator, repeat: int) -> None:
    """torch/leaky_c at each thread count and size: a markdown table, row by row."""
    import torch
    F = torch.nn.functional
    print("| case | n | threads | leaky_c | PyTorch | torch/leaky_c |")
    print("|---|---|---|---|---|---|", flush=True)
    for n in TABLE_SIZES:
        x = rng.standard_normal(n, dtype=np.float32)
        out, tout = np.empty_like(x), torch.empty(n)
        tx = torch.from_numpy(x)
        cases = {"forward out=": (lambda: leaky_c.leaky_relu(x, SLOPE, out=out),
                                  lambda: torch._C._nn.leaky_relu(tx, SLOPE, out=tout)),
                 "forward allocating": (lambda: leaky_c.leaky_relu(x, SLOPE),
                                        lambda: F.leaky_relu(tx, SLOPE))}
        min_time = 0.05 if n < 1 << 24 else 0.0
        for T in thread_counts:
            with peer_threads(T):
                for case, (ours, theirs) in cases.items():
                    t = best({"leaky_c": ours, "torch": theirs}, min_time, repeat)
                    ratio = t["torch"] / t["leaky_c"]
                    print(f"| {case} | {n:,} | {T} | {t['leaky_c'] * 1e6:,.0f} us "
                          f"| {t['torch'] * 1e6:,.0f} us | {ratio:.2f}{'' if ratio >= 1 else ' (<1)'} |",
                          flush=True)
        del x, out, tout, tx


def big(T: int, rng: np.random.Generator) -> None:
    import torch
    F = torch.nn.functional
    bounds, note = _bounds_build.load()
    n = 1 << 28
    x = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    out = np.empty_like(x)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    for threads in (1, T):
        with peer_threads(threads):
            fns = {"leaky_c": lambda: leaky_c.leaky_relu(x, SLOPE, out=out)}
            if bounds is not None:
                src = bounds.ffi.from_buffer(x)
                dst = bounds.ffi.from_buffer(out, require_writable=True)
                fns["copy"] = lambda: bounds.lib.bounds_copy(src, dst, x.nbytes, 1, threads)
            t = best(fns, min_time=0.0, repeat=5)
            if bounds is not None:
                line(f"1 GiB forward out= at {threads} threads: leaky_c/streaming copy",
                     t["leaky_c"] / t["copy"], "<= 1.1")
            else:
                print(f"1 GiB: no copy bound ({note})")
    with peer_threads(T):
        for case, ours, theirs in (
                ("forward", lambda: leaky_c.leaky_relu(x, SLOPE), lambda: F.leaky_relu(tx, SLOPE)),
                ("backward", lambda: leaky_c.leaky_relu_backward(g, x, SLOPE),
                 lambda: torch.ops.aten.leaky_relu_backward(tg, tx, SLOPE, False))):
            t = best({"leaky_c": ours, "torch": theirs}, min_time=0.0, repeat=5)
            line(f"1 GiB allocating {case} at {T} threads: leaky_c/torch",
                 t["leaky_c"] / t["torch"], "<= 0.5")


if __name__ == "__main__":
    main()
