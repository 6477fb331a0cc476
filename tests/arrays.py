"""The one generator of test arrays (after bottleneck's tests/util.py: arrays()).

Every test that needs inputs draws them from here, so adding a dtype, a layout
or a special value covers the whole suite at once.  Each case carries a label
that names its dtype, shape, strides and layout, printed on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

try:
    import ml_dtypes
    BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
    finfo = ml_dtypes.finfo  # np.finfo does not know bfloat16
except ImportError:  # optional: without it bfloat16 is simply not generated
    BFLOAT16 = None
    finfo = np.finfo

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)) + (
    (BFLOAT16,) if BFLOAT16 is not None else ())
HALF_DTYPES = (np.dtype(np.float16),) + ((BFLOAT16,) if BFLOAT16 is not None else ())
OTHER_DTYPES = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint8), np.dtype(np.bool_))
DTYPES = FLOAT_DTYPES + OTHER_DTYPES
#: Around vector widths (4/8/16 lanes) and their tails, and one large odd size.
SIZES = (1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000003)
SLOPES = (0.0, 0.01, 0.2, 1.0, 1.5, -0.5)
LAYOUTS = ("C", "F", "sliced", "negative", "transposed", "byteswapped")


@dataclass(frozen=True)
class Case:
    label: str
    array: np.ndarray

    def __repr__(self) -> str:
        return self.label


def quiet_bit(dtype: np.dtype) -> int:
    """The bit that makes a NaN of this float dtype quiet."""
    return {2: 0x0200 if dtype == np.float16 else 0x0040, 4: 0x00400000,
            8: 1 << 51}[np.dtype(dtype).itemsize]


def special_values(dtype: np.dtype) -> np.ndarray:
    """±0, ±inf, NaN, ±1, subnormals, smallest normal and largest finite, for floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.array([False, True])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array([0, 1, info.max, info.min, info.min + 1], dtype=dtype)
    info = finfo(dtype)
    sub = info.smallest_subnormal
    values = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, sub, -sub, sub * 3,
              -sub * 3, info.smallest_normal, -info.smallest_normal, info.max, -info.max,
              info.eps, -info.eps]
    # Signalling NaNs, by bit pattern (a Python float would arrive quietened):
    # the backward must pass such a gradient through as stored.
    bits_type = np.dtype(f"u{dtype.itemsize}")
    top = 1 << (8 * dtype.itemsize - 1)
    quiet = quiet_bit(dtype)
    exponent = np.array(np.inf, dtype).view(bits_type)[()]
    signalling = [int(exponent) | (quiet >> 1), top | int(exponent) | 1]
    return np.concatenate([np.array(values, dtype=dtype),
                           np.array(signalling, bits_type).view(dtype)])


def values(dtype: np.dtype, n: int, seed: int = 0) -> np.ndarray:
    """n values of dtype: random, both signs, with the special values mixed in."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        out = rng.random(n) < 0.5
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = rng.integers(max(info.min, -1000), min(info.max, 1000), n, endpoint=True,
                           dtype=dtype)
    else:
        out = (rng.standard_normal(n) * 4).astype(dtype)
    specials = special_values(dtype)
    if n:
        # Specials at the start, the end and random places: heads, tails and bodies.
        k = min(n, len(specials))
        out[:k] = specials[:k]
        out[n - k:] = specials[::-1][:k]
        where = rng.integers(0, n, size=min(n, 64))
        out[where] = specials[rng.integers(0, len(specials), size=len(where))]
    return out


#: PReLU's broadcasting weight (ONNX's PRelu, Keras' PReLU): x's shape, the
#: weight's shape and the axis to pass.
PRELU_BROADCASTS = [
    ((3, 4, 5), (3, 4, 5), None),        # ONNX test_prelu_example: one slope per element
    ((3, 4, 5), (5,), None),             # ONNX test_prelu_broadcast: along the last axis
    ((2, 6, 5, 4), (6, 5, 4), 1),        # Keras default: input.shape[1:], inner 1
    ((2, 6, 5, 4), (1, 1, 4), 1),        # Keras shared_axes=[1, 2]: channels last
    ((2, 6, 5, 4), (6, 1, 1), 1),        # Keras shared_axes=[2, 3] on channels first
    ((2, 6, 5, 4), (6, 1, 4), None),     # Keras shared_axes=[2]: repeated inside the span
    ((2, 6, 5, 4), (2, 1, 1, 1), None),  # a slope per sample
    ((2, 6, 5, 4), (2, 1, 5, 1), None),  # repeated at both ends and inside
    ((2, 6, 5, 4), (1, 1), None),        # one slope, as 2-D
    ((2, 6, 5, 4), (), None),            # one slope, 0-d
    ((7, 1, 3), (1, 1, 3), None),        # x's own length-1 axis
    ((4, 0, 3), (0, 1), None),           # empty
]


def prelu_arrays(dtype: np.dtype, x_shape: tuple, w_shape: tuple, seed: int = 0) -> tuple:
    """(x, grad_output, weight) for PReLU, with values() in each."""
    n = int(np.prod(x_shape))
    x = values(dtype, n, seed).reshape(x_shape)
    g = values(dtype, n, seed + 1).reshape(x_shape)
    w = values(dtype, int(np.prod(w_shape)), seed + 2).reshape(w_shape)
    # A NaN slope times a NaN input: which payload survives is the compiler's
    # choice of operand order, here as in PyTorch.  NaN inputs stay.
    with np.errstate(invalid="ignore"):  # a signalling NaN, cast
        w[np.isnan(w.astype(np.float64))] = 0.5
    return x, g, w


def describe(arr: np.ndarray, layout: str) -> str:
    return f"{arr.dtype.str}-{layout}-shape{arr.shape}-strides{arr.strides}"


def layouts(dtype: np.dtype, seed: int = 0) -> Iterator[Case]:
    """One array per layout, 0-d to 4-d, of the given dtype."""
    dtype = np.dtype(dtype)
    base = values(dtype, 2 * 3 * 5 * 7, seed).reshape(2, 3, 5, 7)
    yield Case(describe(base, "C"), base)
    fortran = np.asfortranarray(base)
    yield Case(describe(fortran, "F"), fortran)
    sliced = values(dtype, 4 * 9 * 5, seed + 1).reshape(4, 9, 5)[1:, ::2, 1:4]
    yield Case(describe(sliced, "sliced"), sliced)
    negative = values(dtype, 101, seed + 2)[::-1]
    yield Case(describe(negative, "negative"), negative)
    negative_2d = values(dtype, 6 * 11, seed + 3).reshape(6, 11)[::-2, ::-3]
    yield Case(describe(negative_2d, "negative"), negative_2d)
    transposed = values(dtype, 3 * 4 * 5, seed + 4).reshape(3, 4, 5).transpose(1, 0, 2)
    yield Case(describe(transposed, "transposed"), transposed)
    if dtype.kind != "V":  # ml_dtypes' bfloat16 (kind V) has no byte-swapped form
        swapped = values(dtype, 37, seed + 5).astype(dtype.newbyteorder())
        yield Case(describe(swapped, "byteswapped"), swapped)
    zero_d = values(dtype, 1, seed + 6).reshape(())
    yield Case(describe(zero_d, "0d"), zero_d)
    for shape in ((0,), (3, 0), (0, 2, 2)):
        empty = np.empty(shape, dtype)
        yield Case(describe(empty, "empty"), empty)


def sizes(dtype: np.dtype, sizes: Sequence[int] = SIZES, seed: int = 0) -> Iterator[Case]:
    """1-d C-contiguous arrays of every size in SIZES."""
    for n in sizes:
        arr = values(dtype, n, seed + n)
        yield Case(describe(arr, "C"), arr)


def every_bit_pattern(dtype: np.dtype) -> np.ndarray:
    """All 65,536 values of a 16-bit float: every rounding case, subnormal, inf and NaN payload."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(dtype)


def arrays(dtypes: Sequence[np.dtype] = DTYPES, seed: int = 0) -> Iterator[Case]:
    """Every dtype in every layout and every size: the suite's standard inputs."""
    for dtype in dtypes:
        yield from layouts(dtype, seed)
        yield from sizes(dtype, seed=seed)


def bits(arr: np.ndarray) -> np.ndarray:
    """The bit patterns of a float array (so -0.0 differs from +0.0), native order."""
    arr = np.ascontiguousarray(arr)
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    if arr.dtype.kind not in "fc" and arr.dtype != BFLOAT16:
        return arr
    if arr.dtype.itemsize > 8:  # complex128, longdouble: compare 8-byte words
        return arr.reshape(arr.shape + (1,)).view("u8")
    return arr.view(f"u{arr.dtype.itemsize}")


def is_signalling_nan(arr: np.ndarray) -> np.ndarray:
    """Where arr holds a signalling NaN (a NaN with the quiet bit clear)."""
    arr = np.asarray(arr)
    quiet = quiet_bit(arr.dtype)
    return np.isnan(arr.astype(np.float64)) & ((bits(arr) & quiet) == 0)


def assert_bits_equal(got: np.ndarray, want: np.ndarray, context: str = "") -> None:
    """Same type, dtype, shape and bit patterns; the message shows the first mismatch."""
    assert type(got) is type(want), f"{context}: type {type(got)} != {type(want)}"
    got_arr, want_arr = np.asarray(got), np.asarray(want)
    assert got_arr.dtype == want_arr.dtype, f"{context}: dtype {got_arr.dtype} != {want_arr.dtype}"
    assert got_arr.shape == want_arr.shape, f"{context}: shape {got_arr.shape} != {want_arr.shape}"
    mismatch = bits(got_arr) != bits(want_arr)
    if mismatch.any():
        index = tuple(int(i) for i in np.argwhere(mismatch)[0])
        raise AssertionError(
            f"{context}: {int(mismatch.sum())} of {mismatch.size} elements differ; first at "
            f"index {index}: got {got_arr[index]!r} (bits {bits(got_arr)[index]:#x}), "
            f"want {want_arr[index]!r} (bits {bits(want_arr)[index]:#x})")
