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
- A small CNN block (conv 3x3, Leaky ReLU, conv 3x3) forward + backward, with
  ``leaky_c.torch.LeakyReLU`` against ``torch.nn.LeakyReLU``, eager and under
  ``torch.compile`` (output and input gradient bit for bit).  A block that
  fails to compile is recorded as a failed row with the error, not raised.

PyTorch is needed for all but the reference rows; without it those rows are
skipped with a note.  bfloat16 needs ml_dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

import leaky_c
from leaky_c import _reference

from . import timing
from .peers import optional_module

try:
    from ml_dtypes import bfloat16 as _bfloat16
    BFLOAT16: Optional[np.dtype] = np.dtype(_bfloat16)
except ImportError:
    BFLOAT16 = None

PRELU_SHAPE = (64, 64, 56, 56)
MODULE_SHAPES = ((64, 4096), PRELU_SHAPE)
HALF_N = 10 ** 6
SLOPE = 0.01
#: The CNN block's input (batch, channels, height, width); both convolutions keep the shape.
CNN_SHAPE = (16, 32, 28, 28)


@dataclass
class Comparison:
    """leaky_c's call and one peer's, with the check that the peer agrees."""

    title: str
    ours: Callable[[], Any]
    peer_name: str
    peer: Optional[Callable[[], Any]]
    agrees: Callable[[Any, Any], bool]
    note: str = ""
    failed: str = ""  # why this comparison cannot run (e.g. torch.compile failed)


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


def _cnn_block(torch: Any, activation: Any) -> Any:
    torch.manual_seed(0)  # the same weights for both activations
    channels = CNN_SHAPE[1]
    return torch.nn.Sequential(
        torch.nn.Conv2d(channels, channels, 3, padding=1), activation,
        torch.nn.Conv2d(channels, channels, 3, padding=1))


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


def _cnn(torch: Any, rng: np.random.Generator) -> list[Comparison]:
    """The block forward + backward, eager and compiled; a compile failure becomes a row."""
    from leaky_c.torch import LeakyReLU

    x = torch.from_numpy(rng.standard_normal(CNN_SHAPE, dtype=np.float32))
    g = torch.from_numpy(rng.standard_normal(CNN_SHAPE, dtype=np.float32))
    ours = _cnn_block(torch, LeakyReLU(SLOPE))
    theirs = _cnn_block(torch, torch.nn.LeakyReLU(SLOPE))

    def step(block: Any) -> Callable[[], tuple[Any, Any]]:
        def call() -> tuple[Any, Any]:
            leaf = x.detach().requires_grad_()
            y = block(leaf)
            y.backward(g)
            return y.detach(), leaf.grad
        return call

    def agree(a: Any, b: Any) -> bool:
        return all(_same_bits(_numpy(p), _numpy(q)) for p, q in zip(a, b))

    found = []
    for mode in ("eager", "torch.compile"):
        title = f"CNN block conv-leaky-conv fwd+bwd, {CNN_SHAPE}, {mode}"
        failed, calls = "", []
        for block in (ours, theirs):
            call = step(block if mode == "eager" else torch.compile(block))
            try:
                call()  # compiles on the first call
            except Exception as exc:  # recorded per case, never fatal
                who = "leaky_c.torch.LeakyReLU" if block is ours else "torch.nn.LeakyReLU"
                failed = failed or f"{who} under {mode} failed: {_error(exc)}"
            calls.append(call)
        found.append(Comparison(title, calls[0], "torch.nn.LeakyReLU", calls[1], agree,
                                failed=failed))
    return found


def comparisons(seed: int = 0, cnn: bool = False, others: bool = True
                ) -> tuple[list[Comparison], list[str]]:
    """The comparisons this installation can run (the CNN block if asked), and skip notes."""
    rng = np.random.default_rng(seed)
    torch, note = optional_module("torch")
    notes = []
    if torch is None:
        notes.append(f"PReLU, module and CNN rows {note}")
    if BFLOAT16 is None and others:
        notes.append("bfloat16 rows skipped: ml_dtypes not installed")
    found = _half(torch, rng) if others else []
    if torch is not None:
        found = (_prelu(torch, rng) + _module(torch, rng) if others else []) + found
        if cnn:
            found += _cnn(torch, rng)
    return found, notes


def run(threads: int, min_time: float, repeat: int, seed: int = 0, cnn: bool = False,
        others: bool = True, progress: Any = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Time every comparison at one thread count: rows (seconds, ratio) and skip notes."""
    with timing.peer_threads(threads):
        found, notes = comparisons(seed, cnn, others)
        overhead = timing.timer_overhead()
        rows = []
        for c in found:
            if progress is not None:
                progress.set_description_str(f"{c.title[:40]} {threads}T")
            row: dict[str, Any] = {"title": c.title, "peer": c.peer_name, "threads": threads,
                                   "status": "ok", "note": c.failed or None, "verified": False,
                                   "leaky_c_s": None, "peer_s": None, "ratio": None,
                                   "leaky_c_times_s": [], "peer_times_s": []}
            rows.append(row)
            if c.failed:
                row["status"] = "failed"
                if progress is not None:
                    progress.update(1)
                continue
            row["verified"] = bool(c.agrees(c.ours(), c.peer()))
            plans = [timing.Plan([c.ours]), timing.Plan([c.peer])]
            for plan in plans:
                timing.calibrate(plan, min_time, overhead)
            timing.measure(plans, repeat, overhead)
            ours, peer = (min(p.times) for p in plans)
            row.update(leaky_c_s=ours, peer_s=peer, ratio=peer / ours,
                       leaky_c_times_s=plans[0].times, peer_times_s=plans[1].times,
                       leaky_c_median_s=float(np.median(plans[0].times)),
                       peer_median_s=float(np.median(plans[1].times)))
            if progress is not None:
                progress.update(1)
    return rows, notes


def count(cnn: bool, others: bool) -> int:
    """Comparisons per thread count at most (for a progress bar)."""
    return (10 if others else 0) + (2 if cnn else 0)
