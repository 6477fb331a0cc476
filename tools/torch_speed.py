"""leaky_c.torch's modules against PyTorch's: forward plus backward, eager, per path.

    python tools/torch_speed.py                 # the issue-15 cases, 1 and 2 threads
    python tools/torch_speed.py --rounds 5 --threads 1 --dtype float64

Each step is ``y = m(x); y.backward(g)`` on a fresh leaf ``x`` (the work of one
activation in a training step).  Implementations run interleaved, round after
round, on the same tensors; each keeps its best round (the least disturbed by
other processes), and the ratio is PyTorch's time divided by leaky_c's, so
above 1 means leaky_c is faster.  Paths: ``direct`` (the default eager path,
leaky_c's kernels called from Python) and ``op`` (every call dispatched
through ``torch.ops.leaky_c``, as under ``torch.compile``;
``leaky_c.torch.use_direct_path(False)``).  Thread counts apply to both
PyTorch (``torch.set_num_threads``) and leaky_c (``leaky_c.set_num_threads``).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

import leaky_c
import leaky_c.torch as lt

CASES = {
    "leaky_relu-64x64x56x56": ("leaky_relu", (64, 64, 56, 56)),
    "leaky_relu-64x4096": ("leaky_relu", (64, 4096)),
    "prelu-16x64x56x56": ("prelu", (16, 64, 56, 56)),
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def step_fn(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor,
            direct: bool) -> Callable[[], None]:
    def step() -> None:
        lt.use_direct_path(direct)
        leaf = x.detach().requires_grad_(True)
        module(leaf).backward(grad)
    return step


def modules(kind: str, dtype: torch.dtype) -> tuple[torch.nn.Module, torch.nn.Module]:
    if kind == "leaky_relu":
        return torch.nn.LeakyReLU(0.01), lt.LeakyReLU(0.01)
    theirs = torch.nn.PReLU(64, dtype=dtype)
    ours = lt.PReLU(64, dtype=dtype)
    return theirs, ours


def best_times(steps: dict, rounds: int, min_time: float) -> dict:
    """Seconds per step, best round of each, run interleaved."""
    reps = {}
    for name, step in steps.items():  # warm up and size a round to ~min_time
        step()
        start = time.perf_counter()
        step()
        reps[name] = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(reps[name]):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / reps[name])
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds per round per implementation (default 0.05)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args(argv)
    dtype = DTYPES[args.dtype]
    print(f"torch {torch.__version__}, leaky_c {leaky_c.__version__} ({leaky_c.backend}), "
          f"{args.dtype}, best of {args.rounds} interleaved rounds of ~{args.min_time} s; "
          "ratio = torch time / leaky_c time")
    print(f"{'case':24} {'threads':>7} {'torch us':>10} {'direct us':>10} {'op us':>10} "
          f"{'direct':>7} {'op':>7}")
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            leaky_c.set_num_threads(threads)
            for case in args.cases:
                kind, shape = CASES[case]
                generator = torch.Generator().manual_seed(0)
                x = torch.randn(shape, generator=generator, dtype=dtype)
                grad = torch.randn(shape, generator=generator, dtype=dtype)
                theirs, ours = modules(kind, dtype)
                t = best_times({"torch": step_fn(theirs, x, grad, True),
                                "direct": step_fn(ours, x, grad, True),
                                "op": step_fn(ours, x, grad, False)},
                               args.rounds, args.min_time)
                print(f"{case:24} {threads:>7} {t['torch'] * 1e6:>10.1f} "
                      f"{t['direct'] * 1e6:>10.1f} {t['op'] * 1e6:>10.1f} "
                      f"{t['torch'] / t['direct']:>6.2f}x {t['torch'] / t['op']:>6.2f}x",
                      flush=True)
    finally:
        lt.use_direct_path(True)


if __name__ == "__main__":
    main()
