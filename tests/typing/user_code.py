"""Typical user code, checked by ``mypy --strict`` (tests/test_typing.py): every
``assert_type`` states a documented result type, and the test also runs this
file, so each claim is checked against what the call returns at run time."""

from __future__ import annotations

import sys
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

import leaky_c

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


def same(value: object, kind: type, dtype: Any = None) -> None:
    """The run-time half of an assert_type: the value's type and dtype."""
    assert isinstance(value, kind), (type(value), kind)
    if dtype is not None:
        assert getattr(value, "dtype") == np.dtype(dtype), (value, dtype)


x32 = np.linspace(-1, 1, 8, dtype=np.float32)
x64 = np.zeros((2, 3))
ints = np.arange(-3, 3)
a: NDArray[np.float32] = x32

# An ndarray keeps its dtype (and its shape type); integers compute in float64.
y32 = leaky_c.leaky_relu(x32)
assert_type(y32, NDArray[np.float32])
same(y32, np.ndarray, np.float32)
assert_type(leaky_c.leaky_relu(x64, 0.1), np.ndarray[tuple[int, int], np.dtype[np.float64]])
assert_type(leaky_c.leaky_relu(a), NDArray[np.float32])
y_int = leaky_c.leaky_relu(ints)
assert_type(y_int, np.ndarray[tuple[int], np.dtype[np.float64]])
same(y_int, np.ndarray, np.float64)
assert_type(leaky_c.leaky_relu(x32.astype(np.float16)), NDArray[np.float16])

# Scalars give NumPy scalars: a NumPy float keeps its type; Python numbers give float64.
s32 = leaky_c.leaky_relu(np.float32(-2))
assert_type(s32, np.float32)
same(s32, np.float32)
s64 = leaky_c.leaky_relu(-2.0)
assert_type(s64, np.float64)
same(s64, np.float64)
assert_type(leaky_c.leaky_relu(3), np.float64)
assert_type(leaky_c.leaky_relu(np.int8(3)), np.float64)

# A 0-d array typed as one (shape type tuple[()]) gives a NumPy scalar.
zero_d: np.ndarray[tuple[()], np.dtype[np.float32]] = np.empty((), np.float32)
z = leaky_c.leaky_relu(zero_d)
assert_type(z, np.float32)
same(z, np.float32)

# out= gives out's type.
dest = np.empty_like(x32)
r = leaky_c.leaky_relu(x32, out=dest)
assert_type(r, NDArray[np.float32])
assert r is dest

# Other array-likes give an ndarray of unknown dtype.
from_list = leaky_c.leaky_relu([-1.0, 2.0])
assert_type(from_list, NDArray[Any])
same(from_list, np.ndarray, np.float64)

# Every real slope the runtime accepts.
for slope_result in (leaky_c.leaky_relu(x32, np.float32(0.1)),
                     leaky_c.leaky_relu(x32, Fraction(1, 10)),
                     leaky_c.leaky_relu(x32, Decimal("0.1")),
                     leaky_c.leaky_relu(x32, 1),
                     leaky_c.leaky_relu(x32, np.int64(2)),
                     leaky_c.leaky_relu(x32, negative_slope=np.float64(0.2))):
    assert_type(slope_result, NDArray[np.float32])

# The backward: x's type, as the forward's.
g = leaky_c.leaky_relu_backward(np.ones_like(x32), x32, 0.1)
assert_type(g, NDArray[np.float32])
same(g, np.ndarray, np.float32)
g_scalar = leaky_c.leaky_relu_backward(1.0, -2.0, Fraction(1, 4))
assert_type(g_scalar, np.float64)
same(g_scalar, np.float64)
assert_type(leaky_c.leaky_relu_backward(x32, x32, out=dest), NDArray[np.float32])
assert_type(leaky_c.leaky_relu_backward(y32, y32, 0.1, from_output=True),
            NDArray[np.float32])

# PReLU: the result as leaky_relu's; the backward a (grad_input, grad_weight) pair.
images = np.zeros((2, 3, 4, 4), np.float32)
weight = np.full(3, 0.25, np.float32)
p = leaky_c.prelu(images, weight)
assert_type(p, np.ndarray[tuple[int, int, int, int], np.dtype[np.float32]])
same(p, np.ndarray, np.float32)
assert_type(leaky_c.prelu(-1.0, 0.25), np.float64)
assert_type(leaky_c.prelu(images, weight, out=np.empty_like(images)),
            np.ndarray[tuple[int, int, int, int], np.dtype[np.float32]])
grad_input, grad_weight = leaky_c.prelu_backward(np.ones_like(images), images, weight)
assert_type(grad_input, np.ndarray[tuple[int, int, int, int], np.dtype[np.float32]])
assert_type(grad_weight, NDArray[np.float32])
same(grad_input, np.ndarray, np.float32)
same(grad_weight, np.ndarray, np.float32)
gi_scalar, gw_scalar = leaky_c.prelu_backward(1.0, -1.0, 0.25)
assert_type(gi_scalar, np.float64)
same(gi_scalar, np.float64)

# The settings.
leaky_c.set_num_threads(2)
leaky_c.set_num_threads(np.int64(2))
assert_type(leaky_c.get_num_threads(), int)
leaky_c.set_output_cache(1 << 20)
assert_type(leaky_c.release_output_cache(), int)
assert_type(leaky_c.backend, str)
leaky_c.show_config(file=sys.stderr)
