"""leaky_relu and leaky_relu_backward: the fast path, and the general one.

The fast path serves the common call, a native C-contiguous array of a dtype
the C serves, a float slope, and no ``out`` or one of the same dtype and shape,
with one kernel call.  The checks it needs cost nothing there: ``from_buffer``
refuses arrays that are not C-contiguous (or an ``out`` that is read-only), and
the C refuses, writing nothing, an unaligned array, a non-finite slope and an
``out`` that partly overlaps an input.  Any refusal, and every other input,
takes the general path, which validates everything (leaky_c/_validate.py) and
handles any layout (leaky_c/_layout.py).  Where the time of a small call goes
is measured in benchmarks/RESULTS.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _blocks, _layout, _reference
from ._backend import ffi, lib
from ._kernels import FRESH_OUTPUT, KERNELS, Kernels
from ._validate import as_array, check_out, from_output as _from_output, gradient_pair, \
    negative_slope as _negative_slope, promote

if TYPE_CHECKING:
    from ._typing import Float, IntegerScalar, Nonempty, Out, Slope

_ndarray = np.ndarray
_empty = np.empty
_kernels_for = KERNELS.get
_from_buffer: Any = ffi.from_buffer if ffi is not None else None
_REFUSED = (TypeError, ValueError, BufferError)


def _fast(kernel: Any, buffer: Any, grad_output: Optional[np.ndarray], x: np.ndarray,
          slope: float, out: Any) -> Optional[np.ndarray]:
    """The result of one direct kernel call, or None where it does not apply."""
    n = x.size
    if out is None:
        result = _empty(x.shape, x.dtype) if n < _blocks.from_items or x.nbytes < _blocks.from_bytes \
            else _blocks.empty(x.shape, x.dtype, x.nbytes, like=x)
        flags = FRESH_OUTPUT
    elif type(out) is _ndarray and out.dtype is x.dtype and out.shape == x.shape:
        result, flags = out, 0
    else:
        return None
    try:
        if grad_output is None:
            status = kernel(_from_buffer(buffer, x), _from_buffer(buffer, result, True),
                            n, slope, flags)
        else:
            status = kernel(_from_buffer(buffer, grad_output), _from_buffer(buffer, x),
                            _from_buffer(buffer, result, True), n, slope, flags)
    except _REFUSED:
        return None
    return None if status else result


def _compute(backward: bool, inputs: tuple[np.ndarray, ...], slope: float,
             out: Optional[np.ndarray]) -> np.ndarray:
    """Forward or backward on validated native arrays (x last), any layout."""
    x = inputs[-1]
    kernels = _kernels_for(x.dtype)
    if kernels is None:
        if backward:
            return _reference.leaky_relu_backward(inputs[0], x, slope, out)
        return _reference.leaky_relu(x, slope, out)
    fresh = out is None
    if out is None:
        order: Literal["C", "F"] = "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
        out = _empty(x.shape, x.dtype, order=order) if x.nbytes < _blocks.from_bytes \
            else _blocks.empty(x.shape, x.dtype, x.nbytes, order, like=x)
    target = _layout.writable_target(out)
    direct = _layout.direct_output(target)
    dst = target if direct else _empty(x.shape, x.dtype)
    arrays = (*_layout.unaliased(inputs, dst), dst)
    _run(backward, kernels, arrays, slope, FRESH_OUTPUT if fresh or not direct else 0)
    if not direct:
        np.copyto(target, dst)
    return out


def _run(backward: bool, kernels: Kernels, arrays: tuple[np.ndarray, ...], slope: float,
         flags: int) -> None:
    """One kernel call over arrays (inputs, then the output) of one shape."""
    for order in ("C", "F"):
        flats = [_layout.flat(a, order) for a in arrays]
        if all(f is not None for f in flats):
            buffers = [_from_buffer(kernels.buffer, f) for f in flats[:-1]]
            buffers.append(_from_buffer(kernels.buffer, flats[-1], True))
            kernel = kernels.bwd if backward else kernels.fwd
            status = kernel(*buffers, arrays[-1].size, slope, flags)
            if status:
                raise RuntimeError(f"leaky_c: kernel refused validated arrays (status {status})")
            return
    shape, strides = _layout.merged_axes(arrays)
    args = []
    for arr, arr_strides in zip(arrays, strides):
        args += [ffi.cast("char *", _layout.address(arr)), ffi.new("ptrdiff_t[]", arr_strides)]
    kernel = lib.leaky_bwd_strided if backward else lib.leaky_fwd_strided
    kernel(kernels.code, len(shape), ffi.new("size_t[]", shape), *args, slope)


def result(out: np.ndarray, scalar: bool) -> Any:
    """A NumPy scalar for scalar or 0-d input without out, like a ufunc."""
    return out[()] if scalar else out


# The result types (leaky_c/_typing.py says the rules); the order matters.
@overload
def leaky_relu(x: ArrayLike, negative_slope: Slope = ..., *, out: Out) -> Out: ...
@overload
def leaky_relu(x: np.ndarray[Nonempty, np.dtype[Float]], negative_slope: Slope = ..., *,
               out: None = None) -> np.ndarray[Nonempty, np.dtype[Float]]: ...
@overload
def leaky_relu(x: np.ndarray[Nonempty, np.dtype[IntegerScalar]], negative_slope: Slope = ..., *,
               out: None = None) -> np.ndarray[Nonempty, np.dtype[np.float64]]: ...
@overload
def leaky_relu(x: Float | np.ndarray[tuple[()], np.dtype[Float]], negative_slope: Slope = ...,
               *, out: None = None) -> Float: ...
@overload
def leaky_relu(x: float | IntegerScalar | np.ndarray[tuple[()], np.dtype[IntegerScalar]],
               negative_slope: Slope = ..., *, out: None = None) -> np.float64: ...
@overload
def leaky_relu(x: ArrayLike, negative_slope: Slope = ..., *,
               out: None = None) -> NDArray[Any]: ...


def leaky_relu(x: ArrayLike, negative_slope: Slope = 0.01, *,
               out: Optional[np.ndarray] = None) -> Any:
    """Leaky ReLU: ``x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    x : array_like
        Real input: float16/bfloat16/float32/float64 keep their dtype; integer
        and bool arrays compute in float64.  Any shape, layout and byte order.
    negative_slope : real number, default 0.01
        Any finite real number (0 gives ReLU; above 1 and negative are fine):
        a Python or NumPy float or int, Fraction, Decimal, or a 0-d array.
        float32 and the 16-bit floats use it rounded to float32.
    out : ndarray, optional
        Where to write the result: exactly x's shape and result dtype.  May be
        ``x`` itself (in place) or overlap it in any way: the result is as if
        x had been copied first.

    Returns
    -------
    ndarray, or a NumPy scalar for scalar or 0-d input without ``out``.
        Type checkers see the same (leaky_c/_typing.py): a float array's dtype
        and shape type kept, float64 for integers, ``out``'s type for ``out=``.
        A 0-d array is typed as a scalar where its shape type says so
        (``tuple[()]``); one whose shape is not known to the checker is typed
        as an ndarray.

    Raises
    ------
    TypeError
        Unsupported dtype (complex, object, string, datetime), a non-real
        slope, or an ``out`` that is not an ndarray or has the wrong dtype.
    ValueError
        A NaN or infinite slope, an input that is not an array, or an ``out``
        of the wrong shape or read-only.
    """
    if type(x) is _ndarray and type(negative_slope) is float and x.ndim:
        kernels = _kernels_for(x.dtype)
        if kernels is not None:
            done = _fast(kernels.fwd, kernels.buffer, None, x, negative_slope, out)
            if done is not None:
                return done
    arr = as_array(x, "x")
    slope = _negative_slope(negative_slope)
    xc = promote(arr)
    if out is not None:
        check_out(out, xc.shape, xc.dtype, "x")
    return result(_compute(False, (xc,), slope, out), arr.ndim == 0 and out is None)


@overload
def leaky_relu_backward(grad_output: ArrayLike, x: ArrayLike, negative_slope: Slope = ..., *,
                        out: Out, from_output: bool = False) -> Out: ...
@overload
def leaky_relu_backward(grad_output: ArrayLike, x: np.ndarray[Nonempty, np.dtype[Float]],
                        negative_slope: Slope = ..., *, out: None = None,
                        from_output: bool = False) -> np.ndarray[Nonempty, np.dtype[Float]]: ...
@overload
def leaky_relu_backward(grad_output: ArrayLike, x: np.ndarray[Nonempty, np.dtype[IntegerScalar]],
                        negative_slope: Slope = ..., *, out: None = None, from_output: bool = False,
                        ) -> np.ndarray[Nonempty, np.dtype[np.float64]]: ...
@overload
def leaky_relu_backward(grad_output: ArrayLike, x: Float | np.ndarray[tuple[()], np.dtype[Float]],
                        negative_slope: Slope = ..., *, out: None = None,
                        from_output: bool = False) -> Float: ...
@overload
def leaky_relu_backward(grad_output: ArrayLike,
                        x: float | IntegerScalar | np.ndarray[tuple[()], np.dtype[IntegerScalar]],
                        negative_slope: Slope = ..., *, out: None = None,
                        from_output: bool = False) -> np.float64: ...
@overload
def leaky_relu_backward(grad_output: ArrayLike, x: ArrayLike, negative_slope: Slope = ..., *,
                        out: None = None, from_output: bool = False) -> NDArray[Any]: ...


def leaky_relu_backward(grad_output: ArrayLike, x: ArrayLike, negative_slope: Slope = 0.01, *,
                        out: Optional[np.ndarray] = None, from_output: bool = False) -> Any:
    """Gradient of Leaky ReLU with respect to its input.

    ``grad_output`` where ``x > 0``, else ``negative_slope * grad_output``, so
    the gradient at ``x == 0`` is the slope (as in PyTorch).

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the forward's output.
    x : array_like
        The forward's input.  Same shape and dtype as ``grad_output``.
    negative_slope : real number, default 0.01
        The slope the forward used; any finite real number, as for leaky_relu.
    out : ndarray, optional
        Where to write the gradient: exactly the inputs' shape and result
        dtype.  May be ``grad_output`` or ``x`` itself, or overlap them in any
        way: the result is as if they had been copied first.
    from_output : bool, default False
        ``x`` is the forward's output ``y`` instead of its input, so a training
        loop can run the forward in place and keep one array.  For slopes >= 0,
        ``y > 0`` exactly when ``x > 0``, so the result is the same (and
        matches PyTorch's ``leaky_relu_backward(..., self_is_result=True)``).
        A negative slope raises ValueError: the output's sign no longer tells
        which branch the input took.

    Returns
    -------
    ndarray, or a NumPy scalar for scalar or 0-d input without ``out``.

    Raises
    ------
    TypeError
        Unsupported or mismatched dtypes, a non-real slope, a bad ``out``.
    ValueError
        Mismatched shapes, a NaN or infinite slope, a bad ``out`` shape or a
        read-only ``out``; a negative slope with ``from_output=True``.
    """
    if type(x) is _ndarray and type(grad_output) is _ndarray and type(negative_slope) is float \
            and x.ndim and grad_output.dtype is x.dtype and grad_output.shape == x.shape \
            and (from_output is False or (from_output is True and negative_slope >= 0.0)):
        kernels = _kernels_for(x.dtype)
        if kernels is not None:
            done = _fast(kernels.bwd, kernels.buffer, grad_output, x, negative_slope, out)
            if done is not None:
                return done
    g, xa = gradient_pair(grad_output, x)
    slope = _negative_slope(negative_slope)
    _from_output(from_output, slope)
    g, xc = promote(g), promote(xa)
    if out is not None:
        check_out(out, xc.shape, xc.dtype, "x")
    return result(_compute(True, (g, xc), slope, out), xa.ndim == 0 and out is None)
