"""What is timed: the cases, every implementation of each, and the check of its result.

An implementation is bound to the array ``x`` it reads (and, in place,
writes) and becomes a zero-argument closure around the exact call a user
writes, so the harness costs every implementation the same (~0.03 us).
Not ``functools.partial``: with keywords (``out=``) it costs a Python function
such as leaky_c's ~0.45 us more per call than a C function such as PyTorch's.

Each result is compared with leaky_c's before its time counts: bit for bit,
except float16 NumPy forms, which round the slope to float16 (0.01 becomes
0.010002) and compute in float16, where leaky_c and PyTorch round the slope to
float32 and round the product once.  Those are accepted within
``FLOAT16_RTOL`` relative plus ``FLOAT16_ATOL`` absolute (the smallest float16
subnormal), with the same sign bit everywhere.  leaky_c itself is compared
with its NumPy reference (``leaky_c._reference``, the oracle of its tests).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any, Callable, Optional

import numpy as np

import leaky_c
from leaky_c import _extras

from . import _bounds_build, machine

#: float16 peers that round the slope to float16 agree with leaky_c within this.
FLOAT16_RTOL = 2.0 ** -9
FLOAT16_ATOL = 2.0 ** -24


@dataclass(frozen=True)
class Case:
    """One way of calling the operation: forward or backward, and where the result goes."""

    name: str
    title: str
    op: str  # "forward" or "backward"
    mode: str  # "alloc", "out" or "inplace"

    @property
    def streams(self) -> int:
        """Arrays of n elements the operation reads or writes (forward 2, backward 3)."""
        return 2 if self.op == "forward" else 3


CASES: dict[str, Case] = {case.name: case for case in (
    Case("forward-alloc", "forward, allocating", "forward", "alloc"),
    Case("forward-out", "forward into out=", "forward", "out"),
    Case("forward-inplace", "forward in place", "forward", "inplace"),
    Case("backward-alloc", "backward, allocating", "backward", "alloc"),
    Case("backward-out", "backward into out=", "backward", "out"),
)}
DTYPES = ("float32", "float64", "float16")
#: Groups of implementations that --peers selects; leaky_c itself always runs.
FAMILIES = ("numpy", "numexpr", "numba", "torch", "onnxruntime", "jax", "tensorflow", "bounds")
#: The Python modules of the optional peers, and how to install each.
OPTIONAL_MODULES = {
    "numexpr": _extras.hint("bench"),
    "numba": _extras.hint("bench"),
    "torch": _extras.TORCH,
    "onnxruntime": _extras.hint("bench-peers"),
    "jax": _extras.hint("bench-peers"),
    "tensorflow": "pip install tensorflow-cpu",
}


#: The modules each optional family imports: what a measuring process imports before
#: any process times (onnx builds ONNX Runtime's models).
FAMILY_MODULES = {**{name: (name,) for name in OPTIONAL_MODULES},
                  "onnxruntime": ("onnxruntime", "onnx")}


#: Modules whose import raised something else than ImportError, and the note saying so.
_BROKEN: dict[str, str] = {}


def optional_module(name: str) -> tuple[Optional[ModuleType], Optional[str]]:
    """The module, or None and the note that says why it is skipped.  A broken install
    (its import raised something else than ImportError) is tried once per process, not
    imported a second time half set up."""
    if name in _BROKEN:
        return None, _BROKEN[name]
    try:
        return importlib.import_module(name), None
    except ImportError:
        install = OPTIONAL_MODULES.get(name, _extras.hint("bench-peers"))
        return None, f"skipped: {name} not installed ({install})"
    except Exception as exc:  # a broken install is a skip too, never an error
        _BROKEN[name] = f"skipped: {name} failed to import ({type(exc).__name__}: {exc})"
        return None, _BROKEN[name]


def preload(families: tuple[str, ...]) -> list[str]:
    """Import these families' modules now; the names of those that imported."""
    return [name for family in families for name in FAMILY_MODULES.get(family, ())
            if optional_module(name)[0] is not None]


def make_inputs(dtype: np.dtype, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x and grad_output: standard normal values, with some +0.0 and -0.0 in x."""
    rng = np.random.default_rng(seed)
    compute = np.float64 if dtype == np.float64 else np.float32
    x = rng.standard_normal(n, dtype=compute).astype(dtype, copy=False)
    grad = rng.standard_normal(n, dtype=compute).astype(dtype, copy=False)
    x[::101] = 0.0
    x[50::101] = -0.0
    return x, grad


class Workload:
    """The arrays of one timed group, shared by every implementation in it."""

    def __init__(self, case: Case, x: np.ndarray, grad: np.ndarray, expected: np.ndarray,
                 oracle: np.ndarray, slope: float, threads: int) -> None:
        self.case = case
        self.x = x  # never written: in-place calls work on restored copies
        self.grad = grad
        self.expected = expected  # leaky_c's result: what every peer must compute
        self.oracle = oracle  # leaky_c._reference's result: what leaky_c must compute
        self.slope = slope
        self.threads = threads
        self._rows: Optional[np.ndarray] = None

    @cached_property
    def out(self) -> np.ndarray:
        return np.empty_like(self.x)

    @cached_property
    def tmp(self) -> np.ndarray:
        return np.empty_like(self.x)

    @cached_property
    def special(self) -> np.ndarray:
        """Where runtimes are known to differ from leaky_c (zeros, subnormals): special.py."""
        from .special import special_mask
        return special_mask(self.x, self.grad, self.slope, self.case.op)

    @cached_property
    def mask(self) -> np.ndarray:
        return np.empty(self.x.shape, dtype=bool)

    def uint(self, arr: np.ndarray) -> np.ndarray:
        """The bits of arr as unsigned integers of the same width."""
        return arr.view(f"u{arr.itemsize}")

    @cached_property
    def bits_or(self) -> np.ndarray:
        """grad | x, bit by bit: what the two-input copy bound writes."""
        return np.bitwise_or(self.uint(self.grad), self.uint(self.x))

    def inplace_rows(self, k: int) -> np.ndarray:
        """k scratch copies of x's shape for in-place calls (grown on demand, shared)."""
        if self._rows is None or len(self._rows) < k:
            self._rows = np.empty((k,) + self.x.shape, self.x.dtype)
        return self._rows[:k]


Bind = Callable[[np.ndarray], Callable[[], Any]]
#: How each mode's call names its destination, in labels.
DESTINATION_LABEL = {"alloc": "", "out": ", out=out", "inplace": ", out=x"}


def destination(w: Workload, x: np.ndarray) -> Optional[np.ndarray]:
    """Where a call on x writes: None (it allocates), the preallocated out, or x itself."""
    if w.case.mode == "alloc":
        return None
    return x if w.case.mode == "inplace" else w.out


@dataclass
class Impl:
    """One implementation of one case, or the note that says why it is skipped."""

    impl: str  # stable id across cases: "leaky_c", "numpy.where", "torch", "bound.nt", ...
    family: str  # "leaky_c", "bounds" or one of FAMILIES
    label: str  # the call, as shown in tables
    role: str  # "leaky_c", "peer" or "bound"
    threads_used: int
    bind: Optional[Bind] = None  # None: skipped
    note: Optional[str] = None
    expected: Optional[np.ndarray] = None  # None: the workload's (leaky_c's result)
    result_of: Callable[[Any], Any] = lambda value: value  # the array a call's return value names
    float16_tolerance: bool = False


def _skip(impl: str, family: str, label: str, role: str, note: str) -> Impl:
    return Impl(impl, family, label, role, 0, note=note)


def _leaky_c(w: Workload) -> list[Impl]:
    a, g, fwd, bwd = w.slope, w.grad, leaky_c.leaky_relu, leaky_c.leaky_relu_backward
    forward = w.case.op == "forward"

    def bind(x: np.ndarray) -> Callable[[], Any]:
        out = destination(w, x)
        if forward:
            return (lambda: fwd(x, a)) if out is None else (lambda: fwd(x, a, out=out))
        return (lambda: bwd(g, x, a)) if out is None else (lambda: bwd(g, x, a, out=out))
    call = "leaky_relu(x, a" if forward else "leaky_relu_backward(g, x, a"
    label = f"leaky_c.{call}{DESTINATION_LABEL[w.case.mode]})"
    return [Impl("leaky_c", "leaky_c", label, "leaky_c", w.threads, bind,
                 note=f"backend {leaky_c.backend}", expected=w.oracle)]


def _numpy(w: Workload) -> list[Impl]:
    a, g, case = w.slope, w.grad, w.case
    f16 = w.x.dtype == np.float16
    if case.name == "forward-alloc":
        impls = [Impl("numpy.where", "numpy", "np.where(x > 0, x, a*x)", "peer", 1,
                      lambda x: lambda: np.where(x > 0, x, a * x), float16_tolerance=f16)]
        if 0.0 <= a <= 1.0:
            impls.append(Impl("numpy.maximum", "numpy", "np.maximum(x, a*x)", "peer", 1,
                              lambda x: lambda: np.maximum(x, a * x), float16_tolerance=f16))
        else:
            impls.append(_skip("numpy.maximum", "numpy", "np.maximum(x, a*x)", "peer",
                               f"skipped: np.maximum(x, a*x) is wrong for negative_slope={a} "
                               "(correct only for 0 <= a <= 1)"))
        return impls
    if case.name == "backward-alloc":
        return [Impl("numpy.where", "numpy", "np.where(x > 0, g, a*g)", "peer", 1,
                     lambda x: lambda: np.where(x > 0, g, a * g), float16_tolerance=f16)]
    if case.op == "backward":
        def bind_backward(x: np.ndarray) -> Callable[[], Any]:
            mask, out = w.mask, w.out

            def call() -> np.ndarray:
                np.greater(x, 0, out=mask)
                np.multiply(g, a, out=out)
                np.copyto(out, g, where=mask)
                return out
            return call
        return [Impl("numpy.ufuncs", "numpy",
                     "np.greater(x, 0, out=m); np.multiply(g, a, out=out); "
                     "np.copyto(out, g, where=m)", "peer", 1, bind_backward,
                     float16_tolerance=f16)]
    target = "x" if case.mode == "inplace" else "out"
    label = f"np.multiply(x, a, out=tmp); np.maximum(x, tmp, out={target})"
    if not 0.0 <= a <= 1.0:
        return [_skip("numpy.ufuncs", "numpy", label, "peer",
                      f"skipped: np.maximum(x, a*x) is wrong for negative_slope={a}")]

    def bind_forward(x: np.ndarray) -> Callable[[], Any]:
        tmp, out = w.tmp, (x if case.mode == "inplace" else w.out)

        def call() -> np.ndarray:
            np.multiply(x, a, out=tmp)
            return np.maximum(x, tmp, out=out)
        return call
    return [Impl("numpy.ufuncs", "numpy", label, "peer", 1, bind_forward,
                 float16_tolerance=f16)]


def _numexpr(w: Workload) -> list[Impl]:
    ne, note = optional_module("numexpr")
    forward = w.case.op == "forward"
    expr = "where(x > 0, x, x * a)" if forward else "where(x > 0, g, g * a)"
    label = f"ne.evaluate('{expr}'{DESTINATION_LABEL[w.case.mode]})"
    if ne is None:
        return [_skip("numexpr", "numexpr", label, "peer", note or "")]
    if w.x.dtype == np.float16:
        return [_skip("numexpr", "numexpr", label, "peer", "skipped: numexpr has no float16")]
    # A slope of the array's dtype: a Python float would make numexpr compute
    # and return float64.
    a = w.x.dtype.type(w.slope)

    def bind(x: np.ndarray) -> Callable[[], Any]:
        names = {"x": x, "a": a} if forward else {"x": x, "g": w.grad, "a": a}
        out, evaluate = destination(w, x), ne.evaluate
        return lambda: evaluate(expr, local_dict=names, out=out)
    return [Impl("numexpr", "numexpr", label, "peer", w.threads, bind)]


_NUMBA_UFUNCS: dict[str, Any] = {}


def _numba_ufunc(numba: ModuleType, op: str) -> Any:
    """The @vectorize ufunc for op, compiled once.

    Target "cpu" (one thread), like NumPy: numba's "parallel" target was
    measured and left out.  With its OpenMP layer, once PyTorch's OpenMP
    runtime has run in the same process, a call on 100 elements went from 2 us
    to 500+ us on the 2-core development machine (two runtimes' threads
    fighting for the cores), and its workqueue layer costs 60-100 us a call.
    """
    if op not in _NUMBA_UFUNCS:
        if op == "forward":
            def forward(x: float, a: float) -> float:
                return x if x > 0 else a * x
            signatures = ["float32(float32, float32)", "float64(float64, float64)"]
            _NUMBA_UFUNCS[op] = numba.vectorize(signatures)(forward)
        else:
            def backward(g: float, x: float, a: float) -> float:
                return g if x > 0 else a * g
            signatures = ["float32(float32, float32, float32)",
                          "float64(float64, float64, float64)"]
            _NUMBA_UFUNCS[op] = numba.vectorize(signatures)(backward)
    return _NUMBA_UFUNCS[op]


def _numba(w: Workload) -> list[Impl]:
    numba, note = optional_module("numba")
    forward = w.case.op == "forward"
    args = "x, a" if forward else "g, x, a"
    label = f"numba @vectorize f({args}{DESTINATION_LABEL[w.case.mode]})"
    if numba is None:
        return [_skip("numba", "numba", label, "peer", note or "")]
    if w.x.dtype == np.float16:
        return [_skip("numba", "numba", label, "peer",
                      "skipped: numba @vectorize has no float16 on the CPU")]
    f, a, g = _numba_ufunc(numba, w.case.op), w.x.dtype.type(w.slope), w.grad

    def bind(x: np.ndarray) -> Callable[[], Any]:
        out = destination(w, x)
        if forward:
            return (lambda: f(x, a)) if out is None else (lambda: f(x, a, out=out))
        return (lambda: f(g, x, a)) if out is None else (lambda: f(g, x, a, out=out))
    return [Impl("numba", "numba", label, "peer", 1, bind)]


def _torch(w: Workload) -> list[Impl]:
    torch, note = optional_module("torch")
    labels = {
        "forward-alloc": "F.leaky_relu(x, a)",
        "forward-out": "torch._C._nn.leaky_relu(x, a, out=out)",
        "forward-inplace": "F.leaky_relu_(x, a)",
        "backward-alloc": "aten.leaky_relu_backward(g, x, a, False)",
        "backward-out": "aten.leaky_relu_backward.grad_input(g, x, a, False, grad_input=out)",
    }
    label = f"torch {labels[w.case.name]}"
    if torch is None:
        return [_skip("torch", "torch", label, "peer", note or "")]
    a, g = w.slope, torch.from_numpy(w.grad)
    functional, aten = torch.nn.functional, torch.ops.aten
    # Looked up once, as leaky_c's functions are in _leaky_c.
    forward, forward_, forward_out = (functional.leaky_relu, functional.leaky_relu_,
                                      torch._C._nn.leaky_relu)
    backward, backward_out = aten.leaky_relu_backward, aten.leaky_relu_backward.grad_input

    def bind(x: np.ndarray) -> Callable[[], Any]:
        t = torch.from_numpy(x)
        if w.case.name == "forward-alloc":
            return lambda: forward(t, a)
        if w.case.name == "forward-inplace":
            return lambda: forward_(t, a)
        if w.case.name == "backward-alloc":
            return lambda: backward(g, t, a, False)
        out = torch.from_numpy(w.out)
        if w.case.name == "forward-out":
            return lambda: forward_out(t, a, out=out)
        return lambda: backward_out(g, t, a, False, grad_input=out)
    return [Impl("torch", "torch", label, "peer", w.threads, bind)]


def _bounds(w: Workload) -> list[Impl]:
    """Moving the same bytes with nothing computed: NumPy (1 thread) and the C copy."""
    forward, alloc = w.case.op == "forward", w.case.mode == "alloc"
    g, out = w.grad, (None if alloc else w.out)
    # A copy into out returns None (or a view): the array to check is out.
    result_of: Callable[[Any], Any] = (lambda value: value) if alloc else (lambda _: out)
    numpy_bind: Bind
    if forward:
        expected = w.x
        numpy_label = ("np.copy(x) [alloc + memcpy" if alloc
                       else "np.copyto(out, x) [memcpy") + ", 1 thread]"

        def numpy_bind(x: np.ndarray) -> Callable[[], Any]:
            return (lambda: x.copy()) if alloc else (lambda: np.copyto(out, x))
    else:
        expected = w.bits_or
        numpy_label = f"np.bitwise_or(g, x{'' if alloc else ', out=out'}) [2 inputs, 1 thread]"
        g_bits, out_bits = w.uint(g), (None if alloc else w.uint(out))

        def numpy_bind(x: np.ndarray) -> Callable[[], Any]:
            x_bits = w.uint(x)
            return (lambda: np.bitwise_or(g_bits, x_bits)) if alloc \
                else (lambda: np.bitwise_or(g_bits, x_bits, out=out_bits))
    nt_label = (f"copy{'' if forward else '2'} bound (C, {w.threads} thread"
                f"{'s' if w.threads > 1 else ''}){' + alloc' if alloc else ''}")
    impls = [Impl("bound.numpy", "bounds", numpy_label, "bound", 1, numpy_bind,
                  expected=expected, result_of=result_of)]
    module, how = _bounds_build.load()
    if module is None:
        impls.append(_skip("bound.nt", "bounds", nt_label, "bound", how))
        return impls
    ffi, lib, threads = module.ffi, module.lib, w.threads
    stream = int(w.x.nbytes >= machine.stream_threshold_bytes())
    copy = lib.bounds_copy if forward else lib.bounds_copy2

    def nt_bind(x: np.ndarray) -> Callable[[], Any]:
        nbytes, empty_like = x.nbytes, np.empty_like
        sources = (ffi.from_buffer(x),) if forward else (ffi.from_buffer(g), ffi.from_buffer(x))
        if alloc:
            def call() -> np.ndarray:
                dst = empty_like(x)
                copy(*sources, ffi.from_buffer(dst, require_writable=True), nbytes, stream,
                     threads)
                return dst
            return call
        buffers = (*sources, ffi.from_buffer(out, require_writable=True))
        return lambda: copy(*buffers, nbytes, stream, threads)
    note = (f"benchmarks/bounds.c, {'non-temporal' if stream and lib.bounds_streaming() else 'plain'}"
            f" stores ({how})")
    impls.append(Impl("bound.nt", "bounds", nt_label, "bound", threads, nt_bind,
                      note=note, expected=expected, result_of=result_of))
    if alloc:  # the same copy into an output that exists: what the copy-bound column uses
        dst = w.out

        def into_bind(x: np.ndarray) -> Callable[[], Any]:
            buffers = ((ffi.from_buffer(x),) if forward else (ffi.from_buffer(g), ffi.from_buffer(x))) \
                + (ffi.from_buffer(dst, require_writable=True),)
            return lambda: copy(*buffers, x.nbytes, stream, threads)
        impls.append(Impl("bound.nt.out", "bounds", nt_label.replace(" + alloc", " into out"),
                          "bound", threads, into_bind, note=note, expected=expected,
                          result_of=lambda _: dst))
    return impls


def _providers() -> dict[str, Callable[[Workload], list[Impl]]]:
    from . import ml_peers  # it imports this module
    return {"bounds": _bounds, "numpy": _numpy, "numexpr": _numexpr, "numba": _numba,
            "torch": _torch, "onnxruntime": ml_peers.onnxruntime, "jax": ml_peers.jax_peer,
            "tensorflow": ml_peers.tensorflow}


def implementations(w: Workload, families: tuple[str, ...]) -> list[Impl]:
    """leaky_c, then the bounds and peers of the chosen families, for one workload."""
    impls = _leaky_c(w)
    for family, provider in _providers().items():
        if family in families:
            impls.extend(provider(w))
    return impls


def agrees_outside(value: Any, expected: np.ndarray, allowed: np.ndarray,
                   float16_tolerance: bool) -> bool:
    """Whether a result equals the expected one (as check() compares) outside ``allowed``."""
    got = as_numpy(value)
    if got.shape != expected.shape or got.dtype.itemsize != expected.dtype.itemsize:
        return False
    return check(got[~allowed], expected[~allowed], float16_tolerance)[0]


def as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy"):  # a CPU torch tensor, sharing memory
        return value.numpy()
    return np.asarray(value)


def check(value: Any, expected: np.ndarray, float16_tolerance: bool) -> tuple[bool, str]:
    """Whether a result equals the expected one, and how it was compared (or how it differs)."""
    got = as_numpy(value)
    if got.shape != expected.shape or got.dtype.itemsize != expected.dtype.itemsize:
        return False, (f"result has shape {got.shape} and dtype {got.dtype}, expected "
                       f"{expected.shape} and {expected.dtype}")
    bits = f"u{got.dtype.itemsize}"
    got_bits, expected_bits = got.view(bits), expected.view(bits)
    if np.array_equal(got_bits, expected_bits):
        return True, "bitwise"
    differ = np.flatnonzero(got_bits != expected_bits)
    first = int(differ[0])
    if float16_tolerance and got.dtype == np.float16:
        g64, e64 = got.astype(np.float64), expected.astype(np.float64)
        with np.errstate(invalid="ignore"):
            close = np.abs(g64 - e64) <= FLOAT16_RTOL * np.abs(e64) + FLOAT16_ATOL
        both_nan = np.isnan(got) & np.isnan(expected)
        same = (np.signbit(got) == np.signbit(expected)) & (close | both_nan)
        if same.all():
            return True, (f"float16 within rtol 2^-9, atol 2^-24 ({differ.size} of {got.size} "
                          "elements differ in the last bits: the slope is rounded to float16)")
    return False, (f"differs from leaky_c at {differ.size} of {got.size} elements, first at "
                   f"index {first}: {got.flat[first]!r}, expected {expected.flat[first]!r}")
