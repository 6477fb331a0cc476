"""Argument checks, dtype dispatch and ``out=`` handling for the public API.

Everything is validated here, before any C is called or anything is written,
so the kernels never fail and an error leaves every array untouched.

What a small call costs (n = 100 float32, best of 9 timeit runs on the 2-core
development machine, quiet): the fast path in leaky_relu is a few type checks
and one dict lookup on the dtype (~0.15 us together), one flags read
(~0.05 us), ``np.empty`` (~0.15 us), one typed ``ffi.from_buffer`` per array
(~0.15 us each) and the cffi call itself, which releases and retakes the GIL
(~0.25 us even for n = 0).  About 1.1 us in all, against ~0.9 us for
``np.maximum(x, a * x)`` and ~1.5 us for PyTorch's ``F.leaky_relu``; the
floor is the cffi call plus the buffers.  ``out=`` adds ``np.may_share_memory``
(~0.17 us) unless out is x.  Everything else (lists, scalars, other dtypes,
views, byte-swapped or overlapping arrays) goes through the general path,
which is correct for every input.
"""

from __future__ import annotations

import numbers
from decimal import Decimal
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _reference, _threads
from ._backend import ffi, lib

_ndarray = np.ndarray
_empty = np.empty
_may_share_memory = np.may_share_memory
_F64 = np.dtype(np.float64)

try:  # bfloat16 is NumPy's through ml_dtypes, an optional dependency
    import ml_dtypes
    BFLOAT16: Optional[np.dtype] = np.dtype(ml_dtypes.bfloat16)
except ImportError:
    BFLOAT16 = None

#: dtype -> (forward kernel, backward kernel, cffi array type, enum leaky_dtype)
#: for the C backend.  16-bit floats travel as their bit patterns.
_KERNELS: dict = {}
if lib is not None:
    _KERNELS = {
        np.dtype(np.float32): (lib.leaky_fwd_f32, lib.leaky_bwd_f32, ffi.typeof("float[]"),
                               lib.LEAKY_F32),
        np.dtype(np.float64): (lib.leaky_fwd_f64, lib.leaky_bwd_f64, ffi.typeof("double[]"),
                               lib.LEAKY_F64),
        np.dtype(np.float16): (lib.leaky_fwd_f16, lib.leaky_bwd_f16, ffi.typeof("uint16_t[]"),
                               lib.LEAKY_F16),
    }
    if BFLOAT16 is not None:
        _KERNELS[BFLOAT16] = (lib.leaky_fwd_bf16, lib.leaky_bwd_bf16, ffi.typeof("uint16_t[]"),
                              lib.LEAKY_BF16)
_from_buffer = ffi.from_buffer if ffi is not None else None
_run = _threads.run


def _simple_out(out: Any, x: np.ndarray, source: np.ndarray) -> bool:
    """out can take the fast path: x's dtype and shape, C-contiguous, aligned,
    writeable, and either source itself or not overlapping it."""
    return (type(out) is _ndarray and out.dtype is x.dtype and out.shape == x.shape
            and out.flags.carray and (out is source or not _may_share_memory(out, source)))


def _slope(negative_slope: Any) -> float:
    """The slope as a finite Python float; TypeError or ValueError naming it otherwise."""
    value = negative_slope
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise TypeError("negative_slope must be a real number, got an array of shape "
                            f"{value.shape}")
        value = value[()]
    # np.timedelta64 subclasses np.signedinteger (so numbers.Real), but it is
    # a duration, not a number: NumPy ufuncs refuse to multiply floats by it.
    if isinstance(value, (bool, np.bool_, np.timedelta64)) \
            or not isinstance(value, (numbers.Real, Decimal)):
        raise TypeError(
            f"negative_slope must be a real number, got {type(negative_slope).__name__}")
    try:
        value = float(value)
    except (OverflowError, ValueError):  # ValueError: Decimal("sNaN")
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r}") from None
    if value - value != 0.0:
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r}")
    return value


def _as_array(obj: Any, name: str) -> np.ndarray:
    """``obj`` as an ndarray of a supported dtype in native byte order."""
    try:
        arr = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} cannot be converted to a numeric array: {exc}") from None
    if arr.dtype.kind not in "fiub" and arr.dtype != BFLOAT16:
        raise TypeError(
            f"{name} has dtype {arr.dtype}; leaky_c supports real floating-point "
            "(float16, bfloat16, float32, float64), integer and bool arrays")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _gradient_pair(grad_output: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """grad_output and x as arrays of the same dtype and shape (no broadcasting)."""
    g = _as_array(grad_output, "grad_output")
    xa = _as_array(x, "x")
    if g.dtype != xa.dtype:
        raise TypeError(f"grad_output has dtype {g.dtype} but x has dtype {xa.dtype}; "
                        "they must match")
    if g.shape != xa.shape:
        raise ValueError(f"grad_output has shape {g.shape} but x has shape {xa.shape}; "
                         "they must match")
    return g, xa


def _promote(arr: np.ndarray) -> np.ndarray:
    """Integer and bool arrays compute in float64, like a NumPy ufunc."""
    return arr.astype(_F64) if arr.dtype.kind in "iub" else arr


def _check_out(out: Any, shape: tuple, dtype: np.dtype, source: str) -> None:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype and out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype} (the result dtype for {source})")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape} (the shape of {source})")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def _flat(arr: np.ndarray, order: str) -> Optional[np.ndarray]:
    """arr as a C-contiguous aligned array in the given memory order, or None.

    Elementwise work ignores layout, so order "F" is served by the transpose of
    an F-contiguous array.
    """
    if order == "F":
        arr = arr.T
    return arr if arr.flags.c_contiguous and arr.flags.aligned else None


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return _address(a) == _address(b) and a.strides == b.strides


def _unaliased(inputs: tuple, dst: np.ndarray) -> list:
    """Inputs that partly overlap dst are copied first, as NumPy ufuncs do; an
    input that is exactly dst is fine (element i only touches index i)."""
    return [arr.copy() if _may_share_memory(arr, dst) and not _same_view(arr, dst) else arr
            for arr in inputs]


def _compute(op: int, inputs: tuple, slope: float, out: Optional[np.ndarray]) -> np.ndarray:
    """Run forward (op 0) or backward (op 1) on validated native arrays, x last."""
    x = inputs[-1]
    entry = _KERNELS.get(x.dtype)
    if entry is None:
        reference = (_reference.leaky_relu, _reference.leaky_relu_backward)[op]
        return reference(*inputs, slope, out)
    if out is None:
        f_order = x.flags.f_contiguous and not x.flags.c_contiguous
        out = _empty(x.shape, x.dtype, order="F" if f_order else "C")
    # The kernels write into out directly unless it is unaligned or byte-swapped.
    direct = out.flags.aligned and out.dtype.isnative
    dst = out if direct else _empty(x.shape, x.dtype)
    srcs = _unaliased(tuple(a if a.flags.aligned else a.copy() for a in inputs), dst)
    array_type = entry[2]
    for order in ("C", "F"):
        flats = [_flat(a, order) for a in (*srcs, dst)]
        if all(f is not None for f in flats):
            # All operands share one contiguous layout: the flat, threaded kernels.
            buffers = [_from_buffer(array_type, f) for f in flats[:-1]]
            buffers.append(_from_buffer(array_type, flats[-1], require_writable=True))
            _run(entry[op], x.size, x.itemsize, tuple(buffers), slope)
            break
    else:
        _strided(op, entry[3], (*srcs, dst), slope)
    if not direct:
        np.copyto(out, dst)
    return out


def _strided(op: int, dtype_code: int, arrays: tuple, slope: float) -> None:
    """Any strides, no copies: iterate in dst's memory order with merged axes."""
    dst = arrays[-1]
    axes = sorted((d for d in range(dst.ndim) if dst.shape[d] != 1),
                  key=lambda d: -abs(dst.strides[d]))
    shape = [dst.shape[d] for d in axes]
    strides = [[a.strides[d] for d in axes] for a in arrays]
    for i in range(len(shape) - 2, -1, -1):  # merge axis i into i + 1 where memory allows
        if all(s[i] == s[i + 1] * shape[i + 1] for s in strides):
            outer = shape.pop(i)
            shape[i] *= outer  # the old axis i + 1 is now at i
            for s in strides:
                s.pop(i)
    if not shape:
        shape, strides = [1], [[a.itemsize] for a in arrays]
    args = []
    for arr, arr_strides in zip(arrays, strides):
        args += [ffi.cast("char *", _address(arr)), ffi.new("ptrdiff_t[]", arr_strides)]
    kernel = (lib.leaky_fwd_strided, lib.leaky_bwd_strided)[op]
    kernel(dtype_code, len(shape), ffi.new("size_t[]", shape), *args, slope)


def _result(out: np.ndarray, scalar: bool) -> Any:
    return out[()] if scalar else out


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01, *,
               out: Optional[np.ndarray] = None) -> Any:
    """Leaky ReLU: ``x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    x : array_like
        Real input: float16/float32/float64 keep their dtype; integer and bool
        arrays compute in float64.  Any shape, layout and byte order.
    negative_slope : float, default 0.01
        Any finite real number (0 gives ReLU; above 1 and negative are fine).
        float32 and float16 inputs use it rounded to float32.
    out : ndarray, optional
        Where to write the result: exactly x's shape and result dtype.  May be
        ``x`` itself (in place).

    Returns
    -------
    ndarray, or a NumPy scalar for scalar or 0-d input without ``out``.

    Raises
    ------
    TypeError
        Unsupported dtype (complex, object, string, datetime), a non-real
        slope, or an ``out`` that is not an ndarray or has the wrong dtype.
    ValueError
        A NaN or infinite slope, an input that is not an array, or an ``out``
        of the wrong shape or read-only.
    """
    # Fast path: a native, aligned, C-contiguous, writeable float32/float64
    # array of at least one dimension, a float slope, and no out or a simple
    # one.  Everything it skips is checked by the general path below.
    if type(x) is _ndarray and type(negative_slope) is float \
            and negative_slope - negative_slope == 0.0:
        entry = _KERNELS.get(x.dtype)
        if entry is not None and x.flags.carray and x.ndim \
                and (out is None or _simple_out(out, x, x)):
            result = _empty(x.shape, x.dtype) if out is None else out
            kernel, _, array_type, _ = entry
            if x.nbytes < _threads.serial_bytes:
                kernel(_from_buffer(array_type, x), _from_buffer(array_type, result, True),
                       x.size, negative_slope, 0)
            else:
                _run(kernel, x.size, x.itemsize,
                     (_from_buffer(array_type, x), _from_buffer(array_type, result, True)),
                     negative_slope)
            return result
    arr = _as_array(x, "x")
    slope = _slope(negative_slope)
    xc = _promote(arr)
    if out is not None:
        _check_out(out, xc.shape, xc.dtype, "x")
    return _result(_compute(0, (xc,), slope, out), arr.ndim == 0 and out is None)


def leaky_relu_backward(grad_output: ArrayLike, x: ArrayLike, negative_slope: float = 0.01, *,
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
    negative_slope : float, default 0.01
        The slope the forward used; any finite real number.
    out : ndarray, optional
        Where to write the gradient: exactly the inputs' shape and result
        dtype.  May be ``grad_output`` or ``x`` itself.
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
            and negative_slope - negative_slope == 0.0 \
            and (from_output is False or (from_output is True and negative_slope >= 0.0)):
        entry = _KERNELS.get(x.dtype)
        if (entry is not None and grad_output.dtype is x.dtype and x.flags.carray
                and grad_output.flags.carray and x.shape == grad_output.shape and x.ndim
                and (out is None or (_simple_out(out, x, x) and _simple_out(out, x, grad_output)))):
            result = _empty(x.shape, x.dtype) if out is None else out
            _, kernel, array_type, _ = entry
            buffers = (_from_buffer(array_type, grad_output), _from_buffer(array_type, x),
                       _from_buffer(array_type, result, True))
            if x.nbytes < _threads.serial_bytes:
                kernel(*buffers, x.size, negative_slope, 0)
            else:
                _run(kernel, x.size, x.itemsize, buffers, negative_slope)
            return result
    g, xa = _gradient_pair(grad_output, x)
    slope = _slope(negative_slope)
    if not isinstance(from_output, (bool, np.bool_)):
        raise TypeError(f"from_output must be a bool, got {type(from_output).__name__}")
    if from_output and slope < 0:
        raise ValueError(
            f"from_output=True needs negative_slope >= 0, got {slope!r}: with a negative slope "
            "the sign of the output no longer tells which branch the input took")
    g, xc = _promote(g), _promote(xa)
    if out is not None:
        _check_out(out, xc.shape, xc.dtype, "x")
    return _result(_compute(1, (g, xc), slope, out), xa.ndim == 0 and out is None)


def _prelu_args(x: Any, weight: Any, axis: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated PReLU arguments: (x, weight in x's dtype, normalized axis)."""
    xc = _promote(_as_array(x, "x"))
    w = _as_array(weight, "weight")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    axis = int(axis)
    if w.ndim > 1:
        raise ValueError(f"weight has shape {w.shape}, expected a scalar or a 1-D array")
    if w.ndim == 1 and w.size != 1:  # one slope per channel (none for an empty axis)
        if not -xc.ndim <= axis < xc.ndim:
            raise ValueError(f"axis {axis} is out of bounds for x with {xc.ndim} dimensions")
        if w.size != xc.shape[axis]:
            raise ValueError(f"weight has shape {w.shape}, expected a scalar or shape (C,) "
                             f"with C = x.shape[{axis}] = {xc.shape[axis]}")
        axis %= xc.ndim
    return xc, w.astype(xc.dtype), axis


def _prelu_geometry(x: np.ndarray, w: np.ndarray, axis: int) -> tuple[int, int, int]:
    """(outer, channels, inner) of C-contiguous x for the PReLU kernels."""
    if w.size == 1:
        return 1, 1, x.size
    return (int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:])))


def _buffer(arr: np.ndarray, writable: bool = False) -> Any:
    return _from_buffer(arr.reshape(-1).view(np.uint8), require_writable=writable)


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
        The channel axis; negative values count from the end.
    out : ndarray, optional
        Where to write the result: exactly x's shape and result dtype.

    Raises
    ------
    TypeError
        Unsupported dtypes, a non-integer axis, a bad ``out``.
    ValueError
        A weight of the wrong shape, an axis out of bounds, a bad ``out`` shape.
    """
    xc, w, axis = _prelu_args(x, weight, axis)
    if out is not None:
        _check_out(out, xc.shape, xc.dtype, "x")
    entry = _KERNELS.get(xc.dtype)
    if entry is None:
        return _result(_reference.prelu(xc, w, axis, out), xc.ndim == 0 and out is None)
    src = np.ascontiguousarray(xc)
    if out is not None and out.flags.carray and out.dtype.isnative and (
            out is src or not _may_share_memory(out, src)):
        dst = out
    else:
        dst = _empty(xc.shape, xc.dtype)
    lib.leaky_prelu_fwd(entry[3], _buffer(src), _buffer(np.ascontiguousarray(w)),
                        _buffer(dst, True), *_prelu_geometry(src, w, axis))
    if out is None:
        return _result(dst, xc.ndim == 0)
    if dst is not out:
        np.copyto(out, dst)
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
    PyTorch's float32 sum; the order of summation differs, so it matches
    PyTorch to floating-point summation tolerance, not bit for bit.
    """
    g, xa = _gradient_pair(grad_output, x)
    xc, w, axis = _prelu_args(xa, weight, axis)
    g = _promote(g)
    weight_shape = np.shape(weight)
    entry = _KERNELS.get(xc.dtype)
    if entry is None:
        grad_input, grad_weight = _reference.prelu_backward(g, xc, w, axis)
    else:
        gs, xs = np.ascontiguousarray(g), np.ascontiguousarray(xc)
        grad_input = _empty(xc.shape, xc.dtype)
        outer, channels, inner = _prelu_geometry(xs, w, axis)
        sums = np.zeros(channels, np.float64)
        lib.leaky_prelu_bwd(entry[3], _buffer(gs), _buffer(xs), _buffer(np.ascontiguousarray(w)),
                            _buffer(grad_input, True), ffi.cast("double *", _address(sums)),
                            outer, channels, inner)
        with np.errstate(over="ignore"):  # a float16 sum may round to inf: IEEE
            grad_weight = sums.astype(xc.dtype)
    return _result(grad_input, xc.ndim == 0), np.asarray(grad_weight).reshape(weight_shape)
