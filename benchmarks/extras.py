"""Beyond the elementwise sweep: PReLU, the PyTorch module, and the 16-bit floats.

Each comparison is leaky_c against one peer on the same arrays, timed with the
same harness as the sweep (timing.py: warm-up, autoscaled calls, interleaved
repeats, best and median), and each peer's result is checked against
leaky_c's before its time counts:

- PReLU on a (64, 64, 56, 56) float32 batch, forward and backward, against
  ``torch.nn.functional.prelu`` and its autograd backward (grad_input bit for
  bit; grad_weight, a sum, to a relative 1e-4).
- ``leaky_c.torch.LeakyReLU`` forward + backward against ``torch.nn.LeakyReLU``
  (bit for bit), on a (64, 4096) and a (64, 64, 56, 56) float32 batch.
- float16 and bfloat16 Leaky ReLU on 10^6 elements, forward and backward,
  against PyTorch's CPU kernels and leaky_c's own NumPy reference (bit for bit,
  NaN compared as NaN).

PyTorch is needed for all but the reference rows; without it those rows are
skipped with a note.  bfloat16 needs ml_dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

import leaky_c
from leaky_c import _reference
from leaky_c._api import BFLOAT16

from . import timing
from .peers import optional_module

PRELU_SHAPE = (64, 64, 56, 56)
MODULE_SHAPES = ((64, 4096), PRELU_SHAPE)
HALF_N = 10 ** 6
SLOPE = 0.01


@dataclass
class Comparison:
    """leaky_c's call and one peer's, with the check that the peer agrees."""

    title: str
    ours: Callable[[], Any]
    peer_name: str
    peer: Optional[Callable[[], Any]]
    agrees: Callable[[Any, Any], bool]
    note: str = ""


def _same_bits(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.itemsize != b.dtype.itemsize:
        return False
    nan = np.isnan(a.astype(np.float32)) & np.isnan(b.astype(np.float32))
    width = f"u{a.dtype.itemsize}"
    return bool(((a.view(width) == b.view(width)) | nan).all())


def _numpy(t: Any) -> np.ndarray:
    return t.detach().numpy()


def _prelu(torch: Any, rng: np.random.Generator) -> list[Comparison]:
    x = rng.standard_normal(PRELU_SHAPE, dtype=np.float32)
    g = rng.standard_normal(PRELU_SHAPE, dtype=np.float32)
    w = np.linspace(0.0, 0.5, PRELU_SHAPE[1], dtype=np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w.copy()).requires_grad_()
    ty = torch.nn.functional.prelu(tx, tw)
    tg = torch.from_numpy(g)

    def grads_agree(ours: Any, theirs: Any) -> bool:
        (gi, gw), (tgi, tgw) = ours, theirs
        return _same_bits(gi, _numpy(tgi)) and np.allclose(gw, _numpy(tgw), rtol=1e-4, atol=0)

    return [
        Comparison("PReLU forward, (64, 64, 56, 56) float32", lambda: leaky_c.prelu(x, w),
                   "F.prelu", lambda: torch.nn.functional.prelu(tx.detach(), tw.detach()),
                   lambda a, b: _same_bits(a, _numpy(b))),
        Comparison("PReLU backward, (64, 64, 56, 56) float32",
                   lambda: leaky_c.prelu_backward(g, x, w),
                   "autograd of F.prelu",
                   lambda: torch.autograd.grad(ty, (tx, tw), tg, retain_graph=True),
                   grads_agree),
    ]


def _module(torch: Any, rng: np.random.Generator) -> list[Comparison]:
    from leaky_c.torch import LeakyReLU

    comparisons = []
    for shape in MODULE_SHAPES:
        x = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))
        g = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))

        def step(module: Any, x: Any = x, g: Any = g) -> tuple[Any, Any]:
            leaf = x.detach().requires_grad_()
            y = module(leaf)
            y.backward(g)
            return y.detach(), leaf.grad

        ours, theirs = LeakyReLU(SLOPE), torch.nn.LeakyReLU(SLOPE)
        comparisons.append(Comparison(
            f"module forward + backward, {shape} float32",
            lambda ours=ours, step=step: step(ours), "torch.nn.LeakyReLU",
            lambda theirs=theirs, step=step: step(theirs),
            lambda a, b: all(_same_bits(_numpy(p), _numpy(q)) for p, q in zip(a, b))))
    return comparisons


def _half(torch: Any, rng: np.random.Generator) -> list[Comparison]:
    comparisons = []
    for name, dtype in (("float16", np.dtype(np.float16)), ("bfloat16", BFLOAT16)):
        if dtype is None:
            continue
        x = rng.standard_normal(HALF_N, dtype=np.float32).astype(dtype)
        g = rng.standard_normal(HALF_N, dtype=np.float32).astype(dtype)
        comparisons += [
            Comparison(f"{name} forward, n = 10^6", lambda x=x: leaky_c.leaky_relu(x, SLOPE),
                       "NumPy reference", lambda x=x: _reference.leaky_relu(x, SLOPE), _same_bits),
            Comparison(f"{name} backward, n = 10^6",
                       lambda x=x, g=g: leaky_c.leaky_relu_backward(g, x, SLOPE),
                       "NumPy reference",
                       lambda x=x, g=g: _reference.leaky_relu_backward(g, x, SLOPE), _same_bits),
        ]
        if torch is None:
            continue
        tdtype = torch.float16 if name == "float16" else torch.bfloat16
        tx = torch.from_numpy(x.view(np.int16)).view(tdtype)
        tg = torch.from_numpy(g.view(np.int16)).view(tdtype)

        def as_numpy(t: Any, dtype: np.dtype = dtype) -> np.ndarray:
            return t.view(torch.int16).numpy().view(dtype)

        comparisons += [
            Comparison(f"{name} forward, n = 10^6", lambda x=x: leaky_c.leaky_relu(x, SLOPE),
                       "F.leaky_relu", lambda tx=tx: torch.nn.functional.leaky_relu(tx, SLOPE),
                       lambda a, b, f=as_numpy: _same_bits(a, f(b))),
            Comparison(f"{name} backward, n = 10^6",
                       lambda x=x, g=g: leaky_c.leaky_relu_backward(g, x, SLOPE),
                       "aten.leaky_relu_backward",
                       lambda tx=tx, tg=tg: torch.ops.aten.leaky_relu_backward(tg, tx, SLOPE, False),
                       lambda a, b, f=as_numpy: _same_bits(a, f(b))),
        ]
    return comparisons


def comparisons(seed: int = 0) -> tuple[list[Comparison], list[str]]:
    """Every comparison this installation can run, and notes on what was skipped."""
    rng = np.random.default_rng(seed)
    torch, note = optional_module("torch")
    notes = [f"PReLU and module rows {note}"] if torch is None else []
    if BFLOAT16 is None:
        notes.append("bfloat16 rows skipped: ml_dtypes not installed")
    found = _half(torch, rng)
    if torch is not None:
        found = _prelu(torch, rng) + _module(torch, rng) + found
    return found, notes


def run(threads: int, min_time: float, repeat: int, seed: int = 0) -> dict[str, Any]:
    """Time every comparison at one thread count: rows of microseconds and ratios."""
    found, notes = comparisons(seed)
    overhead = timing.timer_overhead()
    rows = []
    with timing.peer_threads(threads):
        for c in found:
            verified = bool(c.agrees(c.ours(), c.peer()))
            plans = [timing.Plan([c.ours]), timing.Plan([c.peer])]
            for plan in plans:
                timing.calibrate(plan, min_time, overhead)
            timing.measure(plans, repeat, overhead)
            ours, peer = (min(p.times) * 1e6 for p in plans)
            rows.append({"title": c.title, "peer": c.peer_name, "threads": threads,
                         "leaky_c_us": ours, "peer_us": peer, "ratio": peer / ours,
                         "verified": verified,
                         "leaky_c_median_us": float(np.median(plans[0].times)) * 1e6,
                         "peer_median_us": float(np.median(plans[1].times)) * 1e6})
    return {"rows": rows, "notes": notes}


def format_table(result: dict[str, Any]) -> str:
    """A markdown table: one row per comparison; ratio above 1 means leaky_c is faster."""
    lines = ["| case | peer | threads | leaky_c us | peer us | peer / leaky_c | verified |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['title']} | {r['peer']} | {r['threads']} | {r['leaky_c_us']:.1f} | "
                     f"{r['peer_us']:.1f} | {r['ratio']:.2f} | {'yes' if r['verified'] else 'NO'} |")
    lines += [f"\n{note}" for note in result["notes"]]
    return "\n".join(lines)
