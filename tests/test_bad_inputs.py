"""The bad- and unusual-input matrix: every entry either raises, or computes
what NumPy would.

An error is a TypeError or ValueError whose message names the argument, and
it writes nothing: every input and ``out`` keeps its bits.  An unusual input
that is accepted gives the reference result (tests/conftest.py) on what
``np.asarray`` makes of it, and leaves the inputs alone unless they overlap
``out``.  No entry may crash the interpreter.

What some unusual inputs give (documented in the README):

- masked arrays: the mask is dropped (``np.asarray`` semantics); the result is
  a plain ndarray computed on the data, masked positions included.  As
  ``out``, a masked array gets its data written and keeps its mask.
- ``np.matrix``: the result is a plain 2-d ndarray; as ``out`` the matrix
  itself is filled and returned.
- ``bytes`` is a NumPy bytes scalar (dtype ``S``): TypeError.  A
  ``memoryview`` or ``bytearray`` of raw bytes is uint8 data, so it computes
  in float64; a memoryview of a float32 array is float32.
- zero strides (``np.broadcast_to``): fine as inputs; read-only as ``out``
  (ValueError).  A writeable ``out`` with zero strides ends up holding the
  last element's result, as with ``np.copyto``.
- ``out`` overlapping an input in any way (shifted, reversed, transposed):
  the result is as if the input had been read before any write, as with
  NumPy ufuncs.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Union

import numpy as np
import pytest

import leaky_c
from arrays import assert_bits_equal, bits, values
from conftest import count, expected_backward, expected_forward, promoted

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

forward = leaky_c.leaky_relu
backward = leaky_c.leaky_relu_backward


def X() -> np.ndarray:
    return values(np.float32, 12).reshape(3, 4)


def G() -> np.ndarray:
    return values(np.float32, 12, 1).reshape(3, 4)


@dataclass(frozen=True)
class Raises:
    exception: type
    message: str  # must appear in the message; it names the argument


#: A check of an accepted input: check(result, kwargs after the call, copies before it).
Check = Callable[[Any, dict, dict], None]


@dataclass(frozen=True)
class Entry:
    description: str
    function: Callable
    make_kwargs: Callable[[], dict]  # fresh arguments for every run
    expect: Union[Raises, Check]

    def __repr__(self) -> str:
        return self.description


def _array_view(value: Any) -> Any:
    """An array argument as an ndarray on its memory (None for anything else)."""
    if isinstance(value, (np.ndarray, memoryview, bytearray)):
        return np.asarray(value)
    return None


def _slope(kwargs: dict) -> Any:
    return kwargs.get("negative_slope", 0.01)


def like_reference(result: Any, kwargs: dict, before: dict) -> None:
    """The reference result on the inputs as they were before the call."""
    slope = float(_slope(kwargs))
    if "grad_output" in kwargs:
        want = expected_backward(before["grad_output"], before["x"], slope)
    else:
        want = expected_forward(before["x"], slope)
    out = kwargs.get("out")
    if out is None:
        assert_bits_equal(result, want, "result")
        return
    assert result is out, "the call must return out"
    assert_bits_equal(promoted(np.asarray(out)), np.asarray(want), "out")


def reference_and(extra: Check) -> Check:
    def check(result: Any, kwargs: dict, before: dict) -> None:
        like_reference(result, kwargs, before)
        extra(result, kwargs, before)
    return check


def _with_type(kind: type, dtype: Any = None) -> Check:
    def check(result: Any, kwargs: dict, before: dict) -> None:
        assert type(result) is kind, f"{type(result)} is not {kind}"
        if dtype is not None:
            assert np.asarray(result).dtype == dtype, np.asarray(result).dtype
    return check


def _shifted(dtype: Any, shift: int, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(input, out): views of one buffer, out starting `shift` elements later."""
    buffer = values(dtype, n + abs(shift), 9)
    source = buffer[max(0, -shift): max(0, -shift) + n]
    return source, buffer[max(0, shift): max(0, shift) + n]


def _unaligned(dtype: Any, n: int = 37, seed: int = 0) -> np.ndarray:
    """A writeable array whose data starts one byte past an aligned address."""
    dtype = np.dtype(dtype)
    raw = bytearray(n * dtype.itemsize + 1)
    arr = np.frombuffer(raw, dtype, count=n, offset=1)
    arr[...] = values(dtype, n, seed)
    assert not arr.flags.aligned
    return arr


def _every_other(shape: tuple, dtype: Any) -> np.ndarray:
    parent = np.full(shape[:-1] + (2 * shape[-1],), 42, dtype)
    return parent[..., ::2]


def _gaps_kept(result: Any, kwargs: dict, before: dict) -> None:
    parent = kwargs["out"].base
    assert (parent[..., 1::2] == 42).all(), "wrote between out's elements"


def _zero_strided_out() -> np.ndarray:
    return np.lib.stride_tricks.as_strided(np.full(1, 42.0), shape=(4,), strides=(0,),
                                           writeable=True)


def _as_copyto_would(result: Any, kwargs: dict, before: dict) -> None:
    reference = _zero_strided_out()
    np.copyto(reference, expected_forward(before["x"], _slope(kwargs)))
    assert result is kwargs["out"]
    assert_bits_equal(result, reference, "0-stride out")


def _masked_x() -> np.ma.MaskedArray:
    return np.ma.array(values(np.float64, 6), mask=[0, 1, 0, 1, 0, 0])


def _mask_dropped(result: Any, kwargs: dict, before: dict) -> None:
    assert type(result) is np.ndarray, type(result)
    assert_bits_equal(result, expected_forward(kwargs["x"].data, _slope(kwargs)), "masked")


def _mask_kept(result: Any, kwargs: dict, before: dict) -> None:
    out = kwargs["out"]
    assert result is out and type(out) is np.ma.MaskedArray
    assert out.mask.tolist() == [False, True, False, True, False, False]
    assert_bits_equal(out.data, expected_forward(before["x"], _slope(kwargs)), "masked out")


def _plain_2d(result: Any, kwargs: dict, before: dict) -> None:
    assert type(result) is np.ndarray and result.shape == (2, 3), (type(result), result.shape)
    assert_bits_equal(result, expected_forward(np.asarray(before["x"]), _slope(kwargs)), "matrix")


def _matrix_out(result: Any, kwargs: dict, before: dict) -> None:
    assert result is kwargs["out"] and type(result) is np.matrix
    assert_bits_equal(np.asarray(result), expected_forward(before["x"], _slope(kwargs)), "matrix out")


def _longdouble(result: Any, kwargs: dict, before: dict) -> None:
    x = before["x"]
    slope = np.longdouble(_slope(kwargs))
    assert result.dtype == np.longdouble
    assert np.array_equal(result, np.where(x > 0, x, x * slope), equal_nan=True)


def _ieee_overflow(want: list) -> Check:
    """The IEEE values, written out (any NaN: 0 * inf is the CPU's default NaN)."""
    def check(result: Any, kwargs: dict, before: dict) -> None:
        np.testing.assert_array_equal(result, np.array(want, dtype=result.dtype))
    return check


class _HasArray:
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array([-2.0, 0.0, 3.0], np.float32)


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _square() -> np.ndarray:
    return values(np.float64, 36, 4).reshape(6, 6)


nan, inf = float("nan"), float("inf")

ENTRIES = [
    # --- inputs that are not real numeric arrays
    Entry("complex input", forward, lambda: dict(x=X().astype(np.complex64)),
          Raises(TypeError, "x has dtype complex64")),
    Entry("object input", forward, lambda: dict(x=np.array([1.0, None], dtype=object)),
          Raises(TypeError, "x has dtype object")),
    Entry("string input", forward, lambda: dict(x=np.array(["a", "b"])),
          Raises(TypeError, "x has dtype <U1")),
    Entry("numeric strings", forward, lambda: dict(x=["1.0", "-2"]),
          Raises(TypeError, "x has dtype <U3")),
    Entry("bytes input", forward, lambda: dict(x=b"abc"), Raises(TypeError, "x has dtype |S3")),
    Entry("datetime64 array", forward, lambda: dict(x=np.array(["2020-01-01"], dtype="datetime64[D]")),
          Raises(TypeError, "x has dtype datetime64")),
    Entry("timedelta64 array", forward, lambda: dict(x=np.array([1], dtype="timedelta64[s]")),
          Raises(TypeError, "x has dtype timedelta64")),
    Entry("python dates", forward, lambda: dict(x=[datetime.date(2020, 1, 1)]),
          Raises(TypeError, "x has dtype object")),
    Entry("structured dtype", forward, lambda: dict(x=np.zeros(3, [("a", "f4")])),
          Raises(TypeError, "x has dtype [('a', '<f4')]")),
    Entry("None input", forward, lambda: dict(x=None), Raises(TypeError, "x has dtype object")),
    Entry("dict input", forward, lambda: dict(x={"a": 1}), Raises(TypeError, "x has dtype object")),
    Entry("set input", forward, lambda: dict(x={1.0, 2.0}), Raises(TypeError, "x has dtype object")),
    Entry("generator input", forward, lambda: dict(x=(v for v in (1.0, 2.0))),
          Raises(TypeError, "x has dtype object")),
    Entry("int beyond int64", forward, lambda: dict(x=[2 ** 70, -1]),
          Raises(TypeError, "x has dtype object")),
    Entry("ragged list", forward, lambda: dict(x=[[1.0, 2.0], [3.0]]),
          Raises(ValueError, "x cannot be converted")),
    Entry("ragged depth", forward, lambda: dict(x=[[1.0], [[2.0]]]),
          Raises(ValueError, "x cannot be converted")),
    # --- slopes
    Entry("NaN slope", forward, lambda: dict(x=X(), negative_slope=nan),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("inf slope", forward, lambda: dict(x=X(), negative_slope=inf),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("-inf numpy slope", forward, lambda: dict(x=X(), negative_slope=np.float32("-inf")),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("huge int slope", forward, lambda: dict(x=X(), negative_slope=10 ** 400),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("huge Fraction slope", forward, lambda: dict(x=X(), negative_slope=Fraction(10 ** 400, 3)),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("huge Decimal slope", forward, lambda: dict(x=X(), negative_slope=Decimal("1e400")),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("Decimal NaN slope", forward, lambda: dict(x=X(), negative_slope=Decimal("NaN")),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("Decimal sNaN slope", forward, lambda: dict(x=X(), negative_slope=Decimal("sNaN")),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("huge longdouble slope", forward,
          lambda: dict(x=X(), negative_slope=np.longdouble(1e300) * np.longdouble(1e300)),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("str slope", forward, lambda: dict(x=X(), negative_slope="0.1"),
          Raises(TypeError, "negative_slope must be a real number")),
    Entry("complex slope", forward, lambda: dict(x=X(), negative_slope=0.1j),
          Raises(TypeError, "negative_slope must be a real")),
    Entry("numpy complex slope", forward, lambda: dict(x=X(), negative_slope=np.complex64(1)),
          Raises(TypeError, "negative_slope must be a real")),
    Entry("None slope", forward, lambda: dict(x=X(), negative_slope=None),
          Raises(TypeError, "negative_slope must be a real")),
    Entry("list slope", forward, lambda: dict(x=X(), negative_slope=[0.1]),
          Raises(TypeError, "negative_slope must be a real")),
    Entry("1-d array slope", forward, lambda: dict(x=X(), negative_slope=np.array([0.1])),
          Raises(TypeError, "negative_slope must be a real number, got an array of shape (1,)")),
    Entry("bool slope", forward, lambda: dict(x=X(), negative_slope=True),
          Raises(TypeError, "negative_slope must be a real")),
    Entry("numpy bool slope", forward, lambda: dict(x=X(), negative_slope=np.bool_(False)),
          Raises(TypeError, "negative_slope must be a real")),
    Entry("timedelta64 slope", forward, lambda: dict(x=X(), negative_slope=np.timedelta64(1)),
          Raises(TypeError, "negative_slope must be a real number, got timedelta64")),
    Entry("timedelta64 slope with unit", forward,
          lambda: dict(x=X(), negative_slope=np.timedelta64(3, "D")),
          Raises(TypeError, "negative_slope must be a real number, got timedelta64")),
    Entry("datetime64 slope", forward,
          lambda: dict(x=X(), negative_slope=np.datetime64("2020-01-01")),
          Raises(TypeError, "negative_slope must be a real number, got datetime64")),
    Entry("slope given twice", forward, lambda: dict(_args=(X(), 0.1), negative_slope=0.2),
          Raises(TypeError, "multiple values for argument 'negative_slope'")),
    Entry("np.float16 slope", forward, lambda: dict(x=X(), negative_slope=np.float16(0.1)),
          like_reference),
    Entry("Fraction slope", forward, lambda: dict(x=X(), negative_slope=Fraction(1, 3)),
          like_reference),
    Entry("Decimal slope", forward, lambda: dict(x=X(), negative_slope=Decimal("0.1")),
          like_reference),
    Entry("0-d float16 array slope", forward,
          lambda: dict(x=X(), negative_slope=np.array(0.3, np.float16)), like_reference),
    Entry("slope overflowing float32", forward,
          lambda: dict(x=np.array([-2.0, -0.0, 0.0, 3.0, -np.inf], np.float32), negative_slope=1e300),
          reference_and(_ieee_overflow([-inf, nan, nan, 3.0, -inf]))),
    Entry("slope overflowing float16 via float32", forward,
          lambda: dict(x=np.array([-2.0, 3.0], np.float16), negative_slope=3.5e38),
          reference_and(_ieee_overflow([-inf, 3.0]))),
    Entry("product overflowing float64", forward,
          lambda: dict(x=np.array([-1e300, 1e300]), negative_slope=-1e300),
          reference_and(_ieee_overflow([inf, 1e300]))),
    # --- out
    Entry("out is a list", forward, lambda: dict(x=X(), out=[0.0] * 12),
          Raises(TypeError, "out must be a numpy.ndarray")),
    Entry("out is a memoryview", forward,
          lambda: dict(x=X(), out=memoryview(np.zeros((3, 4), np.float32))),
          Raises(TypeError, "out must be a numpy.ndarray, got memoryview")),
    Entry("out wrong dtype", forward, lambda: dict(x=X(), out=np.zeros((3, 4), np.float64)),
          Raises(TypeError, "out has dtype float64, expected float32")),
    Entry("out int dtype for int x", forward,
          lambda: dict(x=np.arange(12).reshape(3, 4), out=np.zeros((3, 4), np.int64)),
          Raises(TypeError, "expected float64")),
    Entry("out is int x itself", forward, lambda: (lambda a: dict(x=a, out=a))(np.arange(5) - 2),
          Raises(TypeError, "out has dtype int64, expected float64")),
    Entry("out is x viewed as int32", forward, lambda: (lambda a: dict(x=a, out=a.view(np.int32)))(X()),
          Raises(TypeError, "out has dtype int32, expected float32")),
    Entry("out wrong shape", forward, lambda: dict(x=X(), out=np.zeros((4, 3), np.float32)),
          Raises(ValueError, "out has shape (4, 3), expected (3, 4)")),
    Entry("out broadcastable shape", forward, lambda: dict(x=X(), out=np.zeros((2, 3, 4), np.float32)),
          Raises(ValueError, "out has shape (2, 3, 4)")),
    Entry("0-d out for one element", forward,
          lambda: dict(x=np.array([-1.0]), out=np.zeros((), np.float64)),
          Raises(ValueError, "out has shape (), expected (1,)")),
    Entry("np.matrix out of 1-d x", forward,
          lambda: dict(x=np.zeros(3), out=np.matrix(np.zeros((1, 3)))),
          Raises(ValueError, "out has shape (1, 3), expected (3,)")),
    Entry("out read-only (0 strides)", forward,
          lambda: dict(x=X(), out=np.broadcast_to(np.float32(0), (3, 4))),
          Raises(ValueError, "out is read-only")),
    Entry("out is x, read-only", forward, lambda: (lambda a: dict(x=a, out=a))(_read_only(X())),
          Raises(ValueError, "out is read-only")),
    Entry("out positional", forward, lambda: dict(_args=(X(), 0.1, np.zeros((3, 4), np.float32))),
          Raises(TypeError, "positional argument")),
    Entry("unknown keyword", forward, lambda: dict(x=X(), alpha=0.1), Raises(TypeError, "alpha")),
    Entry("no arguments", forward, lambda: dict(), Raises(TypeError, "'x'")),
    # --- out that overlaps, views and layouts: correct, as NumPy ufuncs
    Entry("out = x shifted forwards by one", forward,
          lambda: (lambda s: dict(x=s[0], negative_slope=0.2, out=s[1]))(_shifted(np.float32, 1)),
          like_reference),
    Entry("out = x shifted backwards by one", forward,
          lambda: (lambda s: dict(x=s[0], negative_slope=0.2, out=s[1]))(_shifted(np.float64, -1)),
          like_reference),
    Entry("out = x shifted by one, float16", forward,
          lambda: (lambda s: dict(x=s[0], negative_slope=0.2, out=s[1]))(_shifted(np.float16, 1)),
          like_reference),
    Entry("out = x reversed", forward,
          lambda: (lambda a: dict(x=a, negative_slope=-0.5, out=a[::-1]))(values(np.float32, 101)),
          like_reference),
    Entry("out = x transposed", forward,
          lambda: (lambda a: dict(x=a, negative_slope=0.3, out=a.T))(_square()), like_reference),
    Entry("out = x, a strided view", forward,
          lambda: (lambda a: dict(x=a, negative_slope=0.3, out=a))(_square()[::2, ::-3]),
          like_reference),
    Entry("out non-contiguous view", forward,
          lambda: dict(x=X(), negative_slope=0.2, out=_every_other((3, 4), np.float32)),
          reference_and(_gaps_kept)),
    Entry("out non-native byte order", forward,
          lambda: dict(x=X(), negative_slope=0.2, out=np.zeros((3, 4), ">f4")), like_reference),
    Entry("out non-native, x non-native", forward,
          lambda: dict(x=X().astype(">f4"), negative_slope=0.2, out=np.zeros((3, 4), ">f4")),
          like_reference),
    Entry("out unaligned", forward,
          lambda: dict(x=values(np.float32, 37), negative_slope=0.2, out=_unaligned(np.float32)),
          like_reference),
    Entry("out with zero strides, writeable", forward,
          lambda: dict(x=np.array([-1.0, 2.0, -3.0, -4.0]), negative_slope=0.5,
                       out=_zero_strided_out()),
          _as_copyto_would),
    Entry("masked array out", forward,
          lambda: dict(x=values(np.float64, 6), negative_slope=0.5,
                       out=np.ma.array(np.zeros(6), mask=[0, 1, 0, 1, 0, 0])),
          _mask_kept),
    Entry("np.matrix out", forward,
          lambda: dict(x=values(np.float64, 6).reshape(2, 3), negative_slope=0.5,
                       out=np.matrix(np.zeros((2, 3)))),
          _matrix_out),
    # --- unusual inputs that compute
    Entry("memoryview of float32", forward,
          lambda: dict(x=memoryview(values(np.float32, 20)), negative_slope=0.2),
          reference_and(_with_type(np.ndarray, np.float32))),
    Entry("memoryview of bytes", forward,
          lambda: dict(x=memoryview(b"\x00\x01\xff"), negative_slope=0.5),
          reference_and(_with_type(np.ndarray, np.float64))),
    Entry("bytearray", forward, lambda: dict(x=bytearray(b"\x00\x7f\x80"), negative_slope=0.5),
          reference_and(_with_type(np.ndarray, np.float64))),
    Entry("unaligned x (1-byte offset), float32", forward,
          lambda: dict(x=_unaligned(np.float32), negative_slope=0.2), like_reference),
    Entry("unaligned x (1-byte offset), float64", forward,
          lambda: dict(x=_unaligned(np.float64, 1001), negative_slope=-0.2), like_reference),
    Entry("unaligned x (1-byte offset), float16", forward,
          lambda: dict(x=_unaligned(np.float16, 333), negative_slope=0.2), like_reference),
    Entry("zero-stride x (broadcast_to)", forward,
          lambda: dict(x=np.broadcast_to(values(np.float32, 5), (4, 5)), negative_slope=0.2),
          like_reference),
    Entry("read-only contiguous x", forward,
          lambda: dict(x=_read_only(values(np.float32, 50)), negative_slope=0.2), like_reference),
    Entry("masked array x", forward, lambda: dict(x=_masked_x(), negative_slope=0.5), _mask_dropped),
    Entry("np.matrix x", forward,
          lambda: dict(x=np.matrix(values(np.float64, 6).reshape(2, 3)), negative_slope=0.5),
          _plain_2d),
    Entry("object with __array__", forward, lambda: dict(x=_HasArray(), negative_slope=0.5),
          reference_and(_with_type(np.ndarray, np.float32))),
    Entry("tuple", forward, lambda: dict(x=(-1.0, 2.0, -3.0), negative_slope=0.5),
          reference_and(_with_type(np.ndarray, np.float64))),
    Entry("empty list", forward, lambda: dict(x=[], negative_slope=0.5),
          reference_and(_with_type(np.ndarray, np.float64))),
    Entry("list of bools", forward, lambda: dict(x=[True, False], negative_slope=0.5),
          reference_and(_with_type(np.ndarray, np.float64))),
    Entry("python int", forward, lambda: dict(x=-3, negative_slope=0.5),
          reference_and(_with_type(np.float64))),
    Entry("numpy float16 scalar", forward, lambda: dict(x=np.float16(-3), negative_slope=0.1),
          reference_and(_with_type(np.float16))),
    Entry("0-d out for a scalar", forward,
          lambda: dict(x=-3.0, negative_slope=0.5, out=np.zeros((), np.float64)), like_reference),
    Entry("int8 extremes", forward,
          lambda: dict(x=np.array([-128, 127, 0], np.int8), negative_slope=0.5), like_reference),
    Entry("uint64 extremes", forward,
          lambda: dict(x=np.array([0, 2 ** 64 - 1], np.uint64), negative_slope=0.5), like_reference),
    Entry("empty with empty out", forward,
          lambda: dict(x=np.zeros((0, 3), np.float32), out=np.zeros((0, 3), np.float32)),
          like_reference),
    Entry("longdouble: through the NumPy reference", forward,
          lambda: dict(x=np.array([-2.0, 0.0, 3.0], np.longdouble), negative_slope=0.5),
          _longdouble),
    # --- backward
    Entry("backward dtype mismatch", backward,
          lambda: dict(grad_output=G().astype(np.float64), x=X()),
          Raises(TypeError, "grad_output has dtype float64 but x has dtype float32")),
    Entry("backward list grad_output, float32 x", backward,
          lambda: dict(grad_output=[[1.0] * 4] * 3, x=X()),
          Raises(TypeError, "grad_output has dtype float64 but x has dtype float32")),
    Entry("backward shape mismatch", backward, lambda: dict(grad_output=G()[:2], x=X()),
          Raises(ValueError, "grad_output has shape (2, 4) but x has shape (3, 4)")),
    Entry("backward no broadcasting", backward, lambda: dict(grad_output=G()[:1], x=X()),
          Raises(ValueError, "grad_output has shape (1, 4)")),
    Entry("backward complex grad", backward,
          lambda: dict(grad_output=G().astype(np.complex64), x=X()),
          Raises(TypeError, "grad_output has dtype complex64")),
    Entry("backward None grad", backward, lambda: dict(grad_output=None, x=X()),
          Raises(TypeError, "grad_output has dtype object")),
    Entry("backward string x", backward,
          lambda: dict(grad_output=G(), x=np.array(["a"] * 12).reshape(3, 4)),
          Raises(TypeError, "x has dtype <U1")),
    Entry("backward NaN slope", backward, lambda: dict(grad_output=G(), x=X(), negative_slope=np.nan),
          Raises(ValueError, "negative_slope must be finite")),
    Entry("backward str slope", backward, lambda: dict(grad_output=G(), x=X(), negative_slope="a"),
          Raises(TypeError, "negative_slope")),
    Entry("backward from_output not a bool", backward,
          lambda: dict(grad_output=G(), x=X(), from_output="yes"),
          Raises(TypeError, "from_output must be a bool")),
    Entry("backward from_output, negative slope", backward,
          lambda: dict(grad_output=G(), x=X(), negative_slope=-0.5, from_output=True),
          Raises(ValueError, "from_output=True needs negative_slope >= 0")),
    Entry("backward out wrong dtype", backward,
          lambda: dict(grad_output=G(), x=X(), out=np.zeros((3, 4), np.float16)),
          Raises(TypeError, "out has dtype float16, expected float32")),
    Entry("backward out wrong shape", backward,
          lambda: dict(grad_output=G(), x=X(), out=np.zeros(12, np.float32)),
          Raises(ValueError, "out has shape (12,), expected (3, 4)")),
    Entry("backward out read-only", backward,
          lambda: dict(grad_output=G(), x=X(), out=_read_only(np.zeros((3, 4), np.float32))),
          Raises(ValueError, "out is read-only")),
    Entry("backward unknown keyword", backward, lambda: dict(grad_output=G(), x=X(), inplace=True),
          Raises(TypeError, "inplace")),
    Entry("backward out = grad_output shifted forwards by one", backward,
          lambda: (lambda s: dict(grad_output=s[0], x=values(np.float32, 1000, 10),
                                  negative_slope=0.2, out=s[1]))(_shifted(np.float32, 1)),
          like_reference),
    Entry("backward out = x shifted backwards by one", backward,
          lambda: (lambda s: dict(grad_output=values(np.float64, 1000, 10), x=s[0],
                                  negative_slope=0.2, out=s[1]))(_shifted(np.float64, -1)),
          like_reference),
    Entry("backward grad_output is x is out", backward,
          lambda: (lambda a: dict(grad_output=a, x=a, negative_slope=0.2, out=a))(X()),
          like_reference),
    Entry("backward unaligned inputs and out", backward,
          lambda: dict(grad_output=_unaligned(np.float64, 99, 1), x=_unaligned(np.float64, 99, 2),
                       negative_slope=0.2, out=_unaligned(np.float64, 99, 3)),
          like_reference),
    Entry("backward zero-stride grad_output", backward,
          lambda: dict(grad_output=np.broadcast_to(np.float32(2.5), (3, 4)), x=X(),
                       negative_slope=0.2),
          like_reference),
]


def _call(entry: Entry, kwargs: dict) -> Any:
    kwargs = dict(kwargs)
    return entry.function(*kwargs.pop("_args", ()), **kwargs)


def _arguments(kwargs: dict) -> dict:
    """Every argument by name; positional ones as arg0, arg1, ..."""
    named = {k: v for k, v in kwargs.items() if k != "_args"}
    named.update({f"arg{i}": v for i, v in enumerate(kwargs.get("_args", ()))})
    return named


def _snapshot(kwargs: dict) -> dict:
    """What NumPy makes of each argument, copied before the call (for the
    reference and to check nothing changed)."""
    before = {}
    for name, value in _arguments(kwargs).items():
        try:
            before[name] = np.array(value, copy=True)
        except (ValueError, TypeError):  # ragged lists
            pass
    return before


def test_the_matrix_is_big_enough():
    assert len({e.description for e in ENTRIES}) == len(ENTRIES), "duplicate descriptions"
    assert len(ENTRIES) >= 30
    count("bad or unusual inputs tried", len(ENTRIES))
    count("  of which raise", sum(isinstance(e.expect, Raises) for e in ENTRIES))


@pytest.mark.parametrize("entry", ENTRIES, ids=repr)
def test_bad_or_unusual_input(entry):
    kwargs = entry.make_kwargs()
    arguments = _arguments(kwargs)
    out = arguments.get("out", arguments.get("arg2"))
    if isinstance(entry.expect, Raises) and isinstance(out, np.ndarray) and out.flags.writeable:
        out[...] = 42  # a sentinel: an error must not write it
    before = _snapshot(kwargs)
    arrays = {name: _array_view(value) for name, value in arguments.items()
              if _array_view(value) is not None}
    if isinstance(entry.expect, Raises):
        with pytest.raises(entry.expect.exception) as info:
            _call(entry, kwargs)
        assert entry.expect.message in str(info.value), str(info.value)
        for name, arr in arrays.items():
            assert_bits_equal(arr, before[name], f"{entry}: {name} was modified")
        return
    result = _call(entry, kwargs)
    entry.expect(result, kwargs, before)
    # Inputs are never modified, unless they share memory with out.
    for name, arr in arrays.items():
        if name != "out" and not (out is not None and np.may_share_memory(arr, out)):
            assert np.array_equal(bits(arr), bits(before[name])), f"{entry}: {name} was modified"
