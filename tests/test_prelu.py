"""PReLU against the reference on any axis and layout; its argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from leaky_c import _reference
from arrays import HALF_DTYPES, assert_bits_equal, layouts, values


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64), *HALF_DTYPES], ids=str)
def test_prelu_matches_the_reference_on_any_axis_and_layout(dtype):
    for case in layouts(dtype):
        x = case.array.astype(dtype.newbyteorder("="))
        for axis in range(-x.ndim, x.ndim):
            w = np.linspace(-1, 2, x.shape[axis]).astype(dtype)
            assert_bits_equal(leaky_c.prelu(x, w, axis=axis),
                              _reference.prelu(x, w, axis % x.ndim), f"prelu {case} axis={axis}")
            g = values(dtype, x.size, 8).reshape(x.shape)
            gi, gw = leaky_c.prelu_backward(g, x, w, axis=axis)
            gi_want, gw_want = _reference.prelu_backward(g, x, w, axis % x.ndim)
            assert_bits_equal(gi, gi_want, f"prelu grad_input {case} axis={axis}")
            finite = np.isfinite(gw_want.astype(np.float64))
            np.testing.assert_allclose(gw.astype(np.float64)[finite], gw_want.astype(np.float64)[finite],
                                       rtol=1e-2 if dtype.itemsize == 2 else 1e-6)


def test_prelu_rejects_bad_weights_and_axes():
    x = values(np.float32, 24).reshape(2, 3, 4)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), expected a scalar or shape \(C,\) with C = x.shape\[1\] = 3"):
        leaky_c.prelu(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="weight has shape"):
        leaky_c.prelu(x, np.ones((3, 1), np.float32))
    with pytest.raises(ValueError, match="axis 5 is out of bounds"):
        leaky_c.prelu(x, np.ones(3, np.float32), axis=5)
    with pytest.raises(TypeError, match="axis must be an int"):
        leaky_c.prelu(x, np.ones(3, np.float32), axis=1.0)
    with pytest.raises(TypeError, match="weight has dtype complex"):
        leaky_c.prelu(x, np.ones(3, np.complex64))
    out = np.zeros((2, 3, 4), np.float64)
    with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
        leaky_c.prelu(x, np.ones(3, np.float32), out=out)
    assert not out.any()


@pytest.mark.parametrize("weight", [np.float32(0.5), np.ones(1, np.float32)], ids=["scalar", "length 1"])
def test_prelu_checks_the_axis_with_any_weight(weight):
    x = values(np.float32, 6).reshape(2, 3)
    for axis in (9, -3, 2):
        with pytest.raises(ValueError, match=f"axis {axis} is out of bounds for x with 2 dimensions"):
            leaky_c.prelu(x, weight, axis=axis)
        with pytest.raises(ValueError, match=f"axis {axis} is out of bounds"):
            leaky_c.prelu_backward(x, x, weight, axis=axis)
    assert_bits_equal(leaky_c.prelu(x, weight, axis=np.int64(-1)),
                      _reference.prelu(x, np.asarray(weight), 1), "NumPy integer axis")


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64), *HALF_DTYPES], ids=str)
def test_prelu_writes_a_masked_out_and_keeps_its_mask(dtype):
    x = -values(dtype, 6, 2).reshape(2, 3)
    w = np.array([1.0, 2.0, 3.0]).astype(dtype)
    mask = np.array([[True, False, False], [False, True, False]])
    out = np.ma.masked_array(np.zeros((2, 3), dtype), mask=mask.copy())
    assert leaky_c.prelu(x, w, out=out) is out
    assert_bits_equal(out.data, _reference.prelu(x, w, 1), "masked out data")
    assert (out.mask == mask).all()


@pytest.mark.parametrize("shape, axis", [((3, 70000), 1), ((200000, 3), 1), ((5, 3, 9000), 1),
                                         ((400000,), 0)])
def test_prelu_grad_weight_has_the_same_bits_at_any_thread_count(thresholds, shape, axis):
    n = int(np.prod(shape))
    x, g = values(np.float32, n, 3).reshape(shape), values(np.float32, n, 4).reshape(shape)
    x[~np.isfinite(x)] = -1.0
    g[~np.isfinite(g)] = 0.5
    w = np.linspace(-1, 2, shape[axis]).astype(np.float32)
    results = []
    for threads in (1, 2, 3, 7):
        thresholds(256, 1 << 62, threads)  # a tiny grain: every call splits
        results.append(leaky_c.prelu_backward(g, x, w, axis=axis))
    for threads, (gi, gw) in zip((2, 3, 7), results[1:]):
        assert_bits_equal(gi, results[0][0], f"grad_input {shape} at {threads} threads")
        assert_bits_equal(gw, results[0][1], f"grad_weight {shape} at {threads} threads")
