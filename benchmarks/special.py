"""The special-values check: where each peer computes other numbers than leaky_c.

leaky_c computes PyTorch's CPU results bit for bit (its tests prove it).  Other
runtimes differ on zeros, subnormals and NaN: JAX's ``leaky_relu`` takes
``x >= 0`` and flushes subnormals, TensorFlow flushes subnormal inputs and
outputs.  Before anything is timed, every peer of every case runs on a small
array of such values, one category at a time, and each category whose bits
differ from leaky_c's is recorded (the JSON's ``semantics``) and listed under
the headline, whose table marks those peers.

The values are the benchmark's own (it does not import the tests): for the
forward pass inputs x, for the backward pairs (g, x); each category names what
is special about it.  ``special_mask`` marks the same kinds of values in the
timing arrays (make_inputs puts +-0.0 in x): a peer that differs from leaky_c
there and nowhere else is still timed, and marked.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np

import leaky_c
from leaky_c import _reference

from . import peers
from .peers import CASES, Workload


#: Ordinary values whose product with a slope rounds differently when the slope is
#: rounded to a narrower type first (float16 arithmetic, a float32 attribute).
ORDINARY_NEGATIVE = [-0.3, -0.55, -0.7, -3.3, -7.7, -55.5, -1234.5, -0.123, -9.87]


def forward_categories(dtype: np.dtype) -> list[tuple[str, list[float]]]:
    """(category, inputs x) for the forward pass."""
    info = np.finfo(dtype)
    sub, tiny, big = float(info.smallest_subnormal), float(info.smallest_normal), float(info.max)
    return [
        ("x = +-0", [0.0, -0.0]),
        ("x = +-inf", [np.inf, -np.inf]),
        ("x = NaN", [np.nan, -np.nan]),
        ("subnormal x", [sub, -sub, 3 * sub, -3 * sub]),
        ("tiny negative x (a*x subnormal)", [-tiny, -4 * tiny, -16 * tiny]),
        ("ordinary", [1.0, -1.0, 2.5, -2.5, big, -big] + ORDINARY_NEGATIVE),
    ]


def backward_categories(dtype: np.dtype) -> list[tuple[str, list[float], list[float]]]:
    """(category, gradients g, inputs x) for the backward pass."""
    info = np.finfo(dtype)
    sub, tiny, big = float(info.smallest_subnormal), float(info.smallest_normal), float(info.max)
    nan, inf = np.nan, np.inf
    return [
        ("x = +-0 (the gradient at zero)", [1.0, 1.0, -2.0, -2.0], [0.0, -0.0, 0.0, -0.0]),
        ("g = +-0", [0.0, -0.0, 0.0, -0.0], [1.0, 1.0, -1.0, -1.0]),
        ("subnormal x", [1.0, 1.0, 1.0, 1.0], [sub, -sub, 3 * sub, -3 * sub]),
        ("subnormal g", [sub, -sub, 3 * sub, -3 * sub], [1.0, -1.0, 1.0, -1.0]),
        ("tiny g (a*g subnormal)", [tiny, -tiny, 16 * tiny], [-1.0, -1.0, -1.0]),
        ("NaN or inf", [nan, nan, inf, -inf, 1.0, 1.0, 1.0], [1.0, -1.0, -1.0, -1.0, nan, inf, -inf]),
        ("ordinary", [1.5, -1.5, big, -big] + ORDINARY_NEGATIVE,
         [1.0, -1.0, 2.0, -2.0] + [-1.0] * len(ORDINARY_NEGATIVE)),
    ]


def _arrays(op: str, dtype: np.dtype) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The category of each element, x and g."""
    labels: list[str] = []
    xs: list[float] = []
    gs: list[float] = []
    if op == "forward":
        for name, x in forward_categories(dtype):
            labels += [name] * len(x)
            xs += x
        gs = [1.0] * len(xs)
    else:
        for name, g, x in backward_categories(dtype):
            labels += [name] * len(x)
            xs += x
            gs += g
    with np.errstate(over="ignore"):
        return labels, np.array(xs, dtype), np.array(gs, dtype)


def special_mask(x: np.ndarray, g: np.ndarray, slope: float, op: str) -> np.ndarray:
    """Elements where runtimes are known to differ: zeros and subnormals (inputs or products)."""
    tiny = np.finfo(x.dtype).smallest_normal
    a = x.dtype.type(slope)

    def subnormal(v: np.ndarray) -> np.ndarray:
        return (v != 0) & (np.abs(v) < tiny)
    with np.errstate(over="ignore", invalid="ignore"):
        mask = (x == 0) | subnormal(x) | subnormal(a * x)
        if op == "backward":
            mask |= (g == 0) | subnormal(g) | subnormal(a * g)
    return mask


def _hex(value: Any) -> str:
    arr = np.asarray(value)
    return f"{arr.item()!r} (0x{int(arr.view(f'u{arr.dtype.itemsize}')):0{2 * arr.dtype.itemsize}x})"


def check_case(case_name: str, dtype: np.dtype, slope: float, threads: int,
               families: tuple[str, ...]) -> list[dict[str, Any]]:
    """One record per peer of one case: the categories whose bits differ from leaky_c's."""
    case = CASES[case_name]
    labels, x, g = _arrays(case.op, dtype)
    if case.op == "forward":
        expected, oracle = leaky_c.leaky_relu(x, slope), _reference.leaky_relu(x, slope)
    else:
        expected = leaky_c.leaky_relu_backward(g, x, slope)
        oracle = _reference.leaky_relu_backward(g, x, slope)
    w = Workload(case, x, g, expected, oracle, slope, threads)
    records = []
    for impl in peers.implementations(w, families):
        if impl.role != "peer" or impl.bind is None:
            continue
        record: dict[str, Any] = {"impl": impl.impl, "family": impl.family, "case": case_name,
                                  "dtype": str(dtype), "status": "agrees", "differs": [],
                                  "examples": {}}
        records.append(record)
        try:
            target = x.copy() if case.mode == "inplace" else x
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # NaN and inf are the point here
                value = impl.bind(target)()
            got = target if case.mode == "inplace" else peers.as_numpy(impl.result_of(value))
        except Exception as exc:  # reported, as in the sweep
            record.update(status="failed", note=f"{type(exc).__name__}: {exc}")
            continue
        record.update(differs_in(labels, got, expected, x, g if case.op == "backward" else None,
                                 impl.float16_tolerance))
    return records


def differs_in(labels: list[str], got: np.ndarray, expected: np.ndarray, x: np.ndarray,
               g: Optional[np.ndarray], float16_tolerance: bool) -> dict[str, Any]:
    """The categories where ``got`` differs from ``expected``, with the first example of each."""
    differs: list[str] = []
    examples: dict[str, str] = {}
    for name in dict.fromkeys(labels):
        where = np.array([label == name for label in labels])
        ok, _ = peers.check(got[where], expected[where], float16_tolerance)
        if ok:
            continue
        differs.append(name)
        bits = f"u{got.dtype.itemsize}"
        i = int(np.flatnonzero(where & (got.view(bits) != expected.view(bits)))[0])
        inputs = f"x = {_hex(x[i])}" + ("" if g is None else f", g = {_hex(g[i])}")
        examples[name] = f"{inputs}: {_hex(got[i])}, leaky_c {_hex(expected[i])}"
    return {"status": "differs" if differs else "agrees", "differs": differs,
            "examples": examples}


def check(cases: tuple[str, ...], dtypes: tuple[str, ...], slope: float, threads: int,
          families: tuple[str, ...]) -> list[dict[str, Any]]:
    """The special-values check of every peer, case and dtype."""
    return [record for dtype in dtypes for case in cases
            for record in check_case(case, np.dtype(dtype), slope, threads, families)]


def differing(semantics: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """(impl, op) -> the categories it differs in, over every case and dtype of that op."""
    found: dict[tuple[str, str], dict[str, None]] = {}
    for record in semantics:
        if record["status"] == "differs":
            key = (record["impl"], CASES[record["case"]].op)
            dtype = "" if record["dtype"] == "float32" else f" ({record['dtype']})"
            found.setdefault(key, {}).update(dict.fromkeys(
                category + dtype for category in record["differs"]))
    return {key: list(categories) for key, categories in found.items()}
