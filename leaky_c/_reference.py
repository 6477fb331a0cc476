"""The pure-NumPy Leaky ReLU: the fallback backend and the tests' oracle.

These functions define leaky_c's semantics.  They take arrays that
leaky_c/_api.py has already validated (a real floating dtype, native byte
order, ``out`` of the right shape and dtype or None) and follow PyTorch's CPU
kernels: a select, never max(x, a*x); the slope rounded to the compute dtype;
float16 computed in float32 and rounded once.
"""

from __future__ import annotations

import numpy as np


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype arithmetic happens in: float32 for 16-bit floats, else the dtype itself."""
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def _slope(negative_slope: float, dtype: np.dtype) -> np.floating:
    with np.errstate(over="ignore"):  # a huge slope overflows float32 to inf: IEEE, not an error
        slope: np.floating = dtype.type(negative_slope)
    return slope


def _store(result: np.ndarray, dtype: np.dtype, out: np.ndarray | None) -> np.ndarray:
    # Rounding to float16 may overflow to inf: the IEEE result, not an error.
    with np.errstate(over="ignore"):
        if out is None:
            return result.astype(dtype, copy=False)
        np.copyto(out, result, casting="unsafe")
    return out


def leaky_relu(x: np.ndarray, negative_slope: float, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    ctype = compute_dtype(x.dtype)
    xc = x.astype(ctype, copy=False)
    with np.errstate(all="ignore"):
        result = np.where(xc > 0, xc, xc * _slope(negative_slope, ctype))
    return _store(result, x.dtype, out)


def leaky_relu_backward(grad_output: np.ndarray, x: np.ndarray, negative_slope: float,
                        out: np.ndarray | None = None) -> np.ndarray:
    """``grad_output`` where ``x > 0``, else ``negative_slope * grad_output``.

    The gradient passes through untouched where ``x > 0``: for 16-bit floats
    the select happens on the stored values, so even a signalling-NaN payload
    survives; only the scaled branch is computed in float32 and rounded.
    """
    ctype = compute_dtype(x.dtype)
    gc = grad_output.astype(ctype, copy=False)
    with np.errstate(all="ignore"):
        scaled = gc * _slope(negative_slope, ctype)
        if ctype != x.dtype:
            with np.errstate(over="ignore"):
                scaled = scaled.astype(x.dtype)
        result = np.where(x > 0, grad_output, scaled)
    return _store(result, x.dtype, out)


def slopes(weight: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    """PReLU's weight viewed so that it broadcasts to an ndim-d x: the one place
    that says which of the weight's forms applies.

    - one slope (0-d, or 1-D of length 1): 0-d, whatever the axis;
    - 1-D with an axis: one slope per index of x along that axis;
    - otherwise (axis None; prelu_args sets it so for a weight of 2 or more
      dimensions): the weight itself, which broadcasts by NumPy's rules.
    """
    if weight.ndim <= 1 and weight.size == 1:
        return weight.reshape(())
    if weight.ndim == 1 and axis is not None:
        shape = [1] * ndim
        shape[axis] = weight.size
        return weight.reshape(shape)
    return weight


def broadcast_axes(weight: np.ndarray, ndim: int) -> tuple[int, ...]:
    """The axes of an ndim-d x along which a broadcasting weight repeats."""
    padded = (1,) * (ndim - weight.ndim) + weight.shape
    return tuple(d for d in range(ndim) if padded[d] == 1)


def prelu(x: np.ndarray, weight: np.ndarray, axis: int | None,
          out: np.ndarray | None = None) -> np.ndarray:
    """PReLU: ``x`` where ``x > 0``, else ``w * x``, w the weight as :func:`slopes` places it."""
    ctype = compute_dtype(x.dtype)
    xc = x.astype(ctype, copy=False)
    w = slopes(weight.astype(ctype), x.ndim, axis)
    with np.errstate(all="ignore"):
        result = np.where(xc > 0, xc, w * xc)
    return _store(result, x.dtype, out)


def prelu_backward(grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray,
                   axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(grad_input, grad_weight) of PReLU; grad_weight summed in float64 over the
    axes the weight repeats along, in the weight's shape."""
    ctype = compute_dtype(x.dtype)
    gc = grad_output.astype(ctype, copy=False)
    xc = x.astype(ctype, copy=False)
    w = slopes(weight.astype(ctype), x.ndim, axis)
    with np.errstate(all="ignore"):  # inf - inf in a sum is NaN: IEEE, not an error
        # As in leaky_relu_backward, the gradient passes through as stored.
        grad_input = np.where(x > 0, grad_output, (w * gc).astype(x.dtype))
        contribution = np.where(xc > 0, 0.0, xc.astype(np.float64) * gc.astype(np.float64))
        summed = contribution.sum(axis=broadcast_axes(w, x.ndim))
    with np.errstate(over="ignore"):
        grad_weight = np.asarray(summed).astype(weight.dtype).reshape(weight.shape)
    return _store(grad_input, x.dtype, None), grad_weight
