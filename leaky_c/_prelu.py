"""PReLU and its gradients over the C kernels (csrc/prelu.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _layout, _reference
from ._api import result
from ._backend import ffi, lib
from ._kernels import KERNELS
from ._validate import check_out, gradient_pair, prelu_args, promote

if TYPE_CHECKING:
    from ._typing import Float, IntegerScalar, Nonempty, Out


class _Geometry(NamedTuple):
    """C-contiguous x as (outer, channels, inner) for the PReLU kernels, the
    elements of row (o, c) sharing slope weight[c].  The channels span x's axes
    from the weight's first axis of more than one slope to its last; along any
    axis between them that the weight repeats on, the weight is expanded."""
    outer: int
    channels: int
    inner: int
    weight: np.ndarray          # C-contiguous, `channels` slopes
    span: tuple[int, ...]       # x's shape over the channel axes
    repeated: tuple[int, ...]   # the axes of span the weight repeats along


def _geometry(shape: tuple[int, ...], w: np.ndarray, axis: Optional[int]) -> _Geometry:
    view = _reference.slopes(w, len(shape), axis)
    padded = (1,) * (len(shape) - view.ndim) + view.shape
    full = [d for d in range(len(shape)) if padded[d] != 1]
    if not full:
        return _Geometry(1, 1, int(np.prod(shape)), w.reshape(1), (), ())
    first, last = full[0], full[-1] + 1
    span = shape[first:last]
    weight = np.ascontiguousarray(np.broadcast_to(view.reshape(padded[first:last]), span))
    return _Geometry(int(np.prod(shape[:first])), int(np.prod(span)), int(np.prod(shape[last:])),
                     weight, span, tuple(d - first for d in range(first, last) if padded[d] == 1))


def _buffer(arr: np.ndarray, writable: bool = False) -> Any:
    return ffi.from_buffer(arr, require_writable=writable)


# The result types follow leaky_relu's (leaky_c/_typing.py); the order matters.
@overload
def prelu(x: ArrayLike, weight: ArrayLike, *, axis: Optional[int] = 1, out: Out) -> Out: ...
@overload
def prelu(x: np.ndarray[Nonempty, np.dtype[Float]], weight: ArrayLike, *,
          axis: Optional[int] = 1, out: None = None) -> np.ndarray[Nonempty, np.dtype[Float]]: ...
@overload
def prelu(x: np.ndarray[Nonempty, np.dtype[IntegerScalar]], weight: ArrayLike, *,
          axis: Optional[int] = 1,
          out: None = None) -> np.ndarray[Nonempty, np.dtype[np.float64]]: ...
@overload
def prelu(x: Float | np.ndarray[tuple[()], np.dtype[Float]], weight: ArrayLike, *,
          axis: Optional[int] = 1, out: None = None) -> Float: ...
@overload
def prelu(x: float | IntegerScalar | np.ndarray[tuple[()], np.dtype[IntegerScalar]],
          weight: ArrayLike, *, axis: Optional[int] = 1, out: None = None) -> np.float64: ...
@overload
def prelu(x: ArrayLike, weight: ArrayLike, *, axis: Optional[int] = 1,
          out: None = None) -> NDArray[Any]: ...


def prelu(x: ArrayLike, weight: ArrayLike, *, axis: Optional[int] = 1,
          out: Optional[np.ndarray] = None) -> Any:
    """PReLU, a Leaky ReLU whose slope is learned per channel (or per element).

    ``x`` where ``x > 0``, else ``w * x``, with w the weight's slope for that
    element: the same for all (a scalar), ``weight[c]`` for the index c along
    ``axis`` (a 1-D weight; ``torch.nn.functional.prelu`` uses axis 1), or the
    weight broadcast to x by NumPy's rules (ONNX's PRelu, Keras' PReLU).

    Parameters
    ----------
    x : array_like
        Real input, as for leaky_relu.
    weight : array_like
        A scalar or length-1 array (one slope for every element); a 1-D array
        of length ``x.shape[axis]``; or, with ``axis=None`` or 2 or more
        dimensions, any shape that broadcasts to x's (the result keeps x's
        shape).  Cast to x's dtype (float32 rounds it, as slopes are; a value
        beyond the dtype's range becomes inf, silently).
    axis : int or None, default 1
        The channel axis of a 1-D weight; negative values count from the end.
        Checked against x's dimensions whatever the weight; x with fewer than
        2 dimensions has one channel (as in PyTorch) and also takes axis 1.
        None: the weight broadcasts to x.  A weight of 2 or more dimensions
        always broadcasts, and takes only axis 1 (the default) or None.
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
    geometry = _geometry(xc.shape, w, axis)
    lib.leaky_prelu_fwd(kernels.code, _buffer(src), _buffer(geometry.weight), _buffer(dst, True),
                        *geometry[:3])
    if target is None:
        return result(dst, xc.ndim == 0)
    if dst is not target:
        np.copyto(target, dst)
    return out


@overload
def prelu_backward(grad_output: ArrayLike, x: np.ndarray[Nonempty, np.dtype[Float]],
                   weight: ArrayLike, *, axis: Optional[int] = 1,
                   ) -> tuple[np.ndarray[Nonempty, np.dtype[Float]], NDArray[Float]]: ...
@overload
def prelu_backward(grad_output: ArrayLike, x: np.ndarray[Nonempty, np.dtype[IntegerScalar]],
                   weight: ArrayLike, *, axis: Optional[int] = 1,
                   ) -> tuple[np.ndarray[Nonempty, np.dtype[np.float64]], NDArray[np.float64]]: ...
@overload
def prelu_backward(grad_output: ArrayLike, x: Float | np.ndarray[tuple[()], np.dtype[Float]],
                   weight: ArrayLike, *, axis: Optional[int] = 1,
                   ) -> tuple[Float, NDArray[Float]]: ...
@overload
def prelu_backward(grad_output: ArrayLike,
                   x: float | IntegerScalar | np.ndarray[tuple[()], np.dtype[IntegerScalar]],
                   weight: ArrayLike, *, axis: Optional[int] = 1,
                   ) -> tuple[np.float64, NDArray[np.float64]]: ...
@overload
def prelu_backward(grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike, *,
                   axis: Optional[int] = 1) -> tuple[NDArray[Any], NDArray[Any]]: ...


def prelu_backward(grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike, *,
                   axis: Optional[int] = 1) -> tuple[Any, NDArray[Any]]:
    """Gradients of PReLU: ``(grad_input, grad_weight)``; weight and axis as for :func:`prelu`.

    ``grad_input`` is typed as :func:`prelu`'s result (a NumPy scalar for a 0-d
    or scalar ``x``), ``grad_weight`` is an ndarray of the weight's shape.

    ``grad_input`` is ``grad_output`` where ``x > 0``, else
    ``w * grad_output`` (bit-exact with PyTorch's autograd).
    ``grad_weight`` has the weight's shape and x's dtype: per slope, the sum
    of ``x * grad_output`` over the elements it applies to with ``x <= 0``.  The products
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
        outer, channels, inner, slopes, span, repeated = _geometry(xc.shape, w, axis)
        partials = np.empty((lib.leaky_prelu_blocks(outer, channels, inner), channels))
        sums = np.empty(channels)
        lib.leaky_prelu_bwd(kernels.code, _buffer(gs), _buffer(xs), _buffer(slopes),
                            _buffer(grad_input, True), ffi.from_buffer("double[]", partials, True),
                            ffi.from_buffer("double[]", sums, True), outer, channels, inner)
        with np.errstate(all="ignore"):  # inf - inf is NaN, a float16 sum may round to inf: IEEE
            if repeated:  # the expanded weight's sums, added along the axes it repeats on
                sums = sums.reshape(span).sum(axis=repeated)
            grad_weight = sums.astype(xc.dtype)
    return result(grad_input, xc.ndim == 0), np.asarray(grad_weight).reshape(weight_shape)
