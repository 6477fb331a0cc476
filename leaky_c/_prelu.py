"""PReLU and its gradients over the C kernels (csrc/prelu.c)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _layout, _reference
from ._api import result
from ._backend import ffi, lib
from ._kernels import KERNELS
from ._validate import check_out, gradient_pair, prelu_args, promote


def _geometry(x: np.ndarray, w: np.ndarray, axis: int) -> tuple[int, int, int]:
    """(outer, channels, inner) of C-contiguous x for the PReLU kernels."""
    if w.size == 1:
        return 1, 1, x.size
    return (int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:])))


def _buffer(arr: np.ndarray, writable: bool = False) -> Any:
    return ffi.from_buffer(arr, require_writable=writable)


def prelu(x: ArrayLike, weight: ArrayLike, *, axis: int = 1,
          out: Optional[np.ndarray] = None) -> Any:
    """PReLU, a Leaky ReLU whose slope is learned per channel.

    ``x`` where ``x > 0``, else ``weight[c] * x``, with c the index of the
    element along ``axis`` (``torch.nn.functional.prelu`` uses axis 1).

    Parameters
    ----------
    x : array_like
        Real input, as for leaky_relu.
    weight : array_like
        A scalar (one slope for every element) or a 1-D array of length
        ``x.shape[axis]``; cast to x's dtype (float32 rounds it, as slopes are).
    axis : int, default 1
        The channel axis; negative values count from the end.  Checked against
        x's dimensions whatever the weight (a 0-d x has none to check).
    out : ndarray, optional
        Where to write the result: exactly x's shape and result dtype; may
        overlap x in any way.

    Raises
    ------
    TypeError
        Unsupported dtypes, a non-integer axis, a bad ``out``.
    ValueError
        A weight of the wrong shape, an axis out of bounds, a bad ``out`` shape.
    """
    xc, w, axis = prelu_args(x, weight, axis)
    if out is not None:
        check_out(out, xc.shape, xc.dtype, "x")
    kernels = KERNELS.get(xc.dtype)
    if kernels is None:
        return result(_reference.prelu(xc, w, axis, out), xc.ndim == 0 and out is None)
    src = np.ascontiguousarray(xc)
    target = None if out is None else _layout.writable_target(out)
    if target is not None and target.flags.c_contiguous and _layout.direct_output(target) \
            and (_layout.same_view(target, src) or not np.may_share_memory(target, src)):
        dst = target
    else:
        dst = np.empty(xc.shape, xc.dtype)
    lib.leaky_prelu_fwd(kernels.code, _buffer(src), _buffer(w), _buffer(dst, True),
                        *_geometry(src, w, axis))
    if target is None:
        return result(dst, xc.ndim == 0)
    if dst is not target:
        np.copyto(target, dst)
    return out


def prelu_backward(grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike, *,
                   axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of PReLU: ``(grad_input, grad_weight)``.

    ``grad_input`` is ``grad_output`` where ``x > 0``, else
    ``weight[c] * grad_output`` (bit-exact with PyTorch's autograd).
    ``grad_weight`` has the weight's shape and x's dtype: per channel, the sum
    of ``x * grad_output`` over the elements with ``x <= 0``.  The products
    are formed in float64 (exact for 16- and 32-bit inputs) and summed in
    float64 before one final rounding, so it is at least as accurate as
    PyTorch's float32 sum.  The sum runs over fixed blocks of the array whose
    boundaries depend on the shape only, added in order, so its bits are the
    same at any thread count; its order differs from PyTorch's, so it matches
    PyTorch to floating-point summation tolerance, not bit for bit.
    """
    g, xa = gradient_pair(grad_output, x)
    xc, w, axis = prelu_args(xa, weight, axis)
    g = promote(g)
    weight_shape = np.shape(weight)
    kernels = KERNELS.get(xc.dtype)
    if kernels is None:
        grad_input, grad_weight = _reference.prelu_backward(g, xc, w, axis)
    else:
        gs, xs = np.ascontiguousarray(g), np.ascontiguousarray(xc)
        grad_input = np.empty(xc.shape, xc.dtype)
        outer, channels, inner = _geometry(xs, w, axis)
        partials = np.empty((lib.leaky_prelu_blocks(outer, channels, inner), channels))
        sums = np.empty(channels)
        lib.leaky_prelu_bwd(kernels.code, _buffer(gs), _buffer(xs), _buffer(w),
                            _buffer(grad_input, True), ffi.from_buffer("double[]", partials, True),
                            ffi.from_buffer("double[]", sums, True), outer, channels, inner)
        with np.errstate(over="ignore"):  # a float16 sum may round to inf: IEEE
            grad_weight = sums.astype(xc.dtype)
    return result(grad_input, xc.ndim == 0), np.asarray(grad_weight).reshape(weight_shape)
