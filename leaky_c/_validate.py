"""Argument checks for the public API (and leaky_c.torch).

Everything is validated before any C is called or anything is written, so the
kernels never fail and an error leaves every array untouched.  Each message
names the argument and says what was expected.
"""

from __future__ import annotations

import numbers
import operator
from decimal import Decimal
from typing import Any, Optional

import numpy as np

from . import _reference

_F64 = np.dtype(np.float64)

try:  # bfloat16 is NumPy's through ml_dtypes, an optional dependency
    import ml_dtypes  # (pyproject.toml's [tool.mypy] lets it be absent)
    BFLOAT16: Optional[np.dtype] = np.dtype(ml_dtypes.bfloat16)
except ImportError:
    BFLOAT16 = None


def negative_slope(value: Any, name: str = "negative_slope") -> float:
    """The slope as a finite Python float; TypeError or ValueError naming it otherwise."""
    given = value
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise TypeError(f"{name} must be a real number, got an array of shape {value.shape}")
        value = value[()]
    # np.timedelta64 subclasses np.signedinteger (so numbers.Real), but it is
    # a duration, not a number: NumPy ufuncs refuse to multiply floats by it.
    if isinstance(value, (bool, np.bool_, np.timedelta64)) \
            or not isinstance(value, (numbers.Real, Decimal)):
        raise TypeError(f"{name} must be a real number, got {type(given).__name__}")
    try:
        slope = float(value)
    except (OverflowError, ValueError):  # ValueError: Decimal("sNaN")
        raise ValueError(f"{name} must be finite, got {given!r}") from None
    if slope - slope != 0.0:
        raise ValueError(f"{name} must be finite, got {given!r}")
    return slope


def integer(value: Any, name: str) -> int:
    """Any operator.index-able integer (int, np.int64, ...), but not a bool."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None


def _is_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "requires_grad")


def _refuse_grad_tensor(obj: Any, name: str) -> None:
    # torch's own error ("Can't call numpy() on Tensor that requires grad") names no argument.
    if _is_tensor(obj) and obj.requires_grad is True:
        raise TypeError(
            f"{name} is a torch.Tensor that requires grad; pass {name}.detach() to compute "
            "on its values, or use leaky_c.torch for autograd")


def as_array(obj: Any, name: str) -> np.ndarray:
    """``obj`` as an ndarray of a supported dtype in native byte order."""
    _refuse_grad_tensor(obj, name)
    try:
        arr = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        if _is_tensor(obj):  # torch.bfloat16, say: "Got unsupported ScalarType BFloat16"
            raise TypeError(
                f"{name} is a torch.Tensor of dtype {obj.dtype}, which NumPy cannot hold; "
                "use leaky_c.torch for tensors (import leaky_c.torch as lt; "
                "lt.leaky_relu(t), lt.prelu(t, w))") from None
        raise ValueError(f"{name} cannot be converted to a numeric array: {exc}") from None
    if arr.dtype.kind not in "fiub" and arr.dtype != BFLOAT16:
        raise TypeError(
            f"{name} has dtype {arr.dtype}; leaky_c supports real floating-point "
            "(float16, bfloat16, float32, float64), integer and bool arrays")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def promote(arr: np.ndarray) -> np.ndarray:
    """Integer and bool arrays compute in float64, like a NumPy ufunc."""
    return arr.astype(_F64) if arr.dtype.kind in "iub" else arr


def gradient_pair(grad_output: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """grad_output and x as arrays of the same dtype and shape (no broadcasting)."""
    g = as_array(grad_output, "grad_output")
    xa = as_array(x, "x")
    if g.dtype != xa.dtype:
        raise TypeError(f"grad_output has dtype {g.dtype} but x has dtype {xa.dtype}; "
                        "they must match")
    if g.shape != xa.shape:
        raise ValueError(f"grad_output has shape {g.shape} but x has shape {xa.shape}; "
                         "they must match")
    return g, xa


def from_output(value: Any, slope: float) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"from_output must be a bool, got {type(value).__name__}")
    if value and slope < 0:
        raise ValueError(
            f"from_output=True needs negative_slope >= 0, got {slope!r}: with a negative slope "
            "the sign of the output no longer tells which branch the input took")
    return bool(value)


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, source: str) -> None:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype and out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype} (the result dtype for {source})")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape} (the shape of {source})")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def prelu_args(x: Any, weight: Any, axis: Any) -> tuple[np.ndarray, np.ndarray, Optional[int]]:
    """Validated PReLU arguments: (x, weight in x's dtype, axis).

    The returned axis is normalized, or None where the weight broadcasts to x
    by NumPy's rules (axis=None, or a weight of 2 or more dimensions, which
    then takes only the default axis, 1, or None).  Which form a weight takes:
    _reference.slopes.  An integer axis is checked whatever the weight; x with
    fewer than 2 dimensions also takes axis 1, PyTorch's channel axis, which it
    lacks (one channel, as in torch.nn.functional.prelu), and a 0-d x is
    checked as if it had one dimension."""
    xc = promote(as_array(x, "x"))
    w = as_array(weight, "weight")
    if axis is not None:
        axis = integer(axis, "axis")
        if w.ndim >= 2:
            if axis != 1:
                raise ValueError(f"axis={axis} applies to a 1-D weight only; a weight of shape "
                                 f"{w.shape} broadcasts to x (pass axis=None)")
            axis = None
    channels = 1
    if axis is not None:
        dims = max(xc.ndim, 1)
        if -dims <= axis < dims:
            axis %= dims
            channels = xc.shape[axis] if xc.ndim else 1
        elif not (xc.ndim < 2 and axis == 1):
            raise ValueError(f"axis {axis} is out of bounds for x with {xc.ndim} dimensions")
        if w.ndim == 1 and w.size not in (1, channels):
            where = (f"C = x.shape[{axis}] = {channels}" if axis < xc.ndim else
                     f"C = 1 (x has {xc.ndim} dimensions: one channel, as in torch)")
            raise ValueError(f"weight has shape {w.shape}, expected a scalar or shape (C,) "
                             f"with {where}, or axis=None to broadcast it to x")
    with np.errstate(all="ignore"):  # a weight too large for x's dtype is inf: IEEE, as a slope
        w = w.astype(xc.dtype)
    view = _reference.slopes(w, xc.ndim, axis)
    if view.ndim > xc.ndim or any(v not in (1, s) for v, s in zip(view.shape[::-1], xc.shape[::-1])):
        raise ValueError(f"weight has shape {w.shape}, which does not broadcast to x's shape "
                         f"{xc.shape} (NumPy's rules; the result keeps x's shape)")
    return xc, w, axis
