"""PReLU against the reference on any axis and layout; its argument checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import leaky_c
from leaky_c import _reference
from arrays import HALF_DTYPES, PRELU_BROADCASTS, assert_bits_equal, layouts, prelu_arrays, values


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
    with pytest.raises(ValueError, match=r"weight has shape \(2, 1\), which does not broadcast "
                                         r"to x's shape \(2, 3, 4\)"):
        leaky_c.prelu(x, np.ones((2, 1), np.float32))
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), which does not broadcast"):
        leaky_c.prelu(x[..., :3], np.ones(4, np.float32), axis=None)
    with pytest.raises(ValueError, match=r"does not broadcast to x's shape \(3, 4\)"):
        leaky_c.prelu(x[0], np.ones((1, 3, 4), np.float32))  # unidirectional: x's shape stays
    with pytest.raises(ValueError, match=r"axis=2 applies to a 1-D weight only; a weight of shape "
                                         r"\(3, 1\) broadcasts to x \(pass axis=None\)"):
        leaky_c.prelu(x, np.ones((3, 1), np.float32), axis=2)
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


def _grad_weight_oracle(g, x, w):
    """float64 sums of x * g where x <= 0, over the axes w repeats along: the
    definition, written out with NumPy's own broadcasting."""
    padded = (1,) * (x.ndim - w.ndim) + w.shape
    with np.errstate(all="ignore"):
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        contribution = np.where(x64 > 0, 0.0, x64 * g64)
        summed = contribution.sum(axis=tuple(d for d in range(x.ndim) if padded[d] == 1),
                                  keepdims=True)
        return summed.reshape(w.shape).astype(w.dtype).astype(np.float64)  # rounded once


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64), *HALF_DTYPES], ids=str)
@pytest.mark.parametrize("x_shape, w_shape, axis", PRELU_BROADCASTS, ids=str)
def test_prelu_broadcasts_a_weight_to_x(dtype, x_shape, w_shape, axis):
    x, g, w = prelu_arrays(dtype, x_shape, w_shape)
    ctype = _reference.compute_dtype(dtype)
    wb = np.broadcast_to(w.astype(ctype), x_shape)  # every element's slope, spelled out
    with np.errstate(all="ignore"):
        want = np.where(x > 0, x, (wb * x.astype(ctype)).astype(dtype))
        gi_want = np.where(x > 0, g, (wb * g.astype(ctype)).astype(dtype))
    context = f"{dtype} x{x_shape} w{w_shape} axis={axis}"
    assert_bits_equal(leaky_c.prelu(x, w, axis=axis), want, "prelu " + context)
    assert_bits_equal(_reference.prelu(x, w, None), want, "reference prelu " + context)
    for layout in (x, np.asfortranarray(x)):  # a non-contiguous x is copied once
        gi, gw = leaky_c.prelu_backward(g, layout, w, axis=axis)
        assert_bits_equal(gi, gi_want, "prelu grad_input " + context)
        assert gw.shape == w.shape and gw.dtype == dtype
        want_gw = _grad_weight_oracle(g, x, w)
        finite = np.isfinite(want_gw)
        np.testing.assert_allclose(gw.astype(np.float64)[finite], want_gw[finite],
                                   rtol=1e-2 if dtype.itemsize == 2 else 1e-6)


def test_the_axis_decides_how_a_1d_weight_applies():
    # x of shape (3, 3, 3) and a weight of 3 slopes fit three ways.
    x = -np.arange(1, 28, dtype=np.float64).reshape(3, 3, 3)
    w = np.array([1.0, 10.0, 100.0])
    assert_bits_equal(leaky_c.prelu(x, w), x * w[None, :, None], "default axis 1")
    assert_bits_equal(leaky_c.prelu(x, w, axis=0), x * w[:, None, None], "axis 0")
    assert_bits_equal(leaky_c.prelu(x, w, axis=-1), x * w, "axis -1")
    assert_bits_equal(leaky_c.prelu(x, w, axis=None), x * w, "axis None: NumPy's rules")
    assert_bits_equal(leaky_c.prelu(x, w.reshape(3, 1)), x * w[:, None], "2-D: NumPy's rules")
    assert_bits_equal(leaky_c.prelu(x, w.reshape(3, 1), axis=None), x * w[:, None], "2-D, None")
    gi, gw = leaky_c.prelu_backward(np.ones_like(x), x, w.reshape(3, 1))
    assert_bits_equal(gw, x.sum(axis=(0, 2)).reshape(3, 1), "grad_weight of a (3, 1) weight")
    one = np.array([0.5])  # length 1: one slope whatever the axis
    for axis in (0, 1, 2, -3, None):
        assert_bits_equal(leaky_c.prelu(x, one, axis=axis), x * 0.5, f"length 1, axis={axis}")


@pytest.mark.parametrize("x_shape, w_shape, axis",
                         [((3, 70000), (1, 70000), None), ((40000, 3, 2), (3, 1), 1),
                          ((5, 3, 9000), (5, 1, 9000), None), ((9, 4, 5000), (9, 1, 1), None)],
                         ids=str)
def test_broadcast_grad_weight_has_the_same_bits_at_any_thread_count(thresholds, x_shape, w_shape,
                                                                     axis):
    x, g, w = prelu_arrays(np.dtype(np.float32), x_shape, w_shape, 3)
    x[~np.isfinite(x)] = -1.0
    g[~np.isfinite(g)] = 0.5
    results = []
    for threads in (1, 2, 3, 7):
        thresholds(256, 1 << 62, threads)  # a tiny grain: every call splits
        results.append((leaky_c.prelu(x, w, axis=axis), *leaky_c.prelu_backward(g, x, w, axis=axis)))
    for threads, got in zip((2, 3, 7), results[1:]):
        for name, a, b in zip(("output", "grad_input", "grad_weight"), got, results[0]):
            assert_bits_equal(a, b, f"{name} {x_shape} {w_shape} at {threads} threads")


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), *HALF_DTYPES], ids=str)
@pytest.mark.parametrize("weight", [1e300, -1e300, np.array([1e300, 2.0]), np.full((2, 1), -1e300)],
                         ids=["1e300", "-1e300", "1-D", "2-D"])
def test_a_weight_beyond_the_dtype_is_inf_silently(dtype, weight):
    x = np.array([[-1.0, 2.0], [-0.0, -3.0]]).astype(dtype)
    ctype = _reference.compute_dtype(dtype)
    with np.errstate(all="ignore"):  # the oracle: the weight cast, inf, times x (inf * 0 is NaN)
        w = np.broadcast_to(np.asarray(weight, np.float64).astype(dtype), (2, 2))
        want = np.where(x > 0, x, (np.asarray(w, ctype) * x.astype(ctype)).astype(dtype))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        got = leaky_c.prelu(x, weight)
        gi, gw = leaky_c.prelu_backward(np.ones_like(x), x, weight)
    assert np.isinf(w.astype(np.float64)).any()
    assert_bits_equal(got, want, f"prelu {dtype} weight {weight}")
    assert gw.shape == np.shape(weight)


@pytest.mark.parametrize("weight", [np.float32(0.25), np.array([0.25], np.float32)],
                         ids=["scalar", "length 1"])
@pytest.mark.parametrize("x", [np.array([-2.0, 1.0, -0.0, 3.0], np.float32), np.float32(-2.0)],
                         ids=["1-D", "0-d"])
def test_x_with_fewer_than_2_dimensions_has_one_channel(x, weight):
    # As in torch.nn.functional.prelu: no channel axis, one channel, so one
    # slope works with the default axis (1); an axis x cannot have still raises.
    scalar = (lambda a: a[()]) if np.ndim(x) == 0 else (lambda a: a)  # 0-d in, a NumPy scalar out
    want = scalar(np.where(x > 0, x, np.float32(0.25) * x))
    for axis in (1, 0, -1):
        assert_bits_equal(leaky_c.prelu(x, weight, axis=axis), want, f"axis={axis}")
        gi, gw = leaky_c.prelu_backward(np.ones_like(x), x, weight, axis=axis)
        assert_bits_equal(gi, scalar(np.where(x > 0, 1.0, 0.25).astype(np.float32)),
                          f"grad_input axis={axis}")
        assert_bits_equal(gw, np.asarray(np.where(x > 0, 0.0, x).sum(), np.float32).reshape(np.shape(weight)),
                          f"grad_weight axis={axis}")
    assert_bits_equal(leaky_c.prelu(x, weight), want, "default axis")
    for axis in (2, -2, 5):
        with pytest.raises(ValueError, match=f"axis {axis} is out of bounds for x with {np.ndim(x)} dim"):
            leaky_c.prelu(x, weight, axis=axis)
        with pytest.raises(ValueError, match=f"axis {axis} is out of bounds"):
            leaky_c.prelu_backward(x, x, weight, axis=axis)


def test_a_1d_x_takes_one_slope_per_element_only_along_axis_0():
    x = np.array([-2.0, 1.0, -4.0], np.float32)
    w = np.array([0.5, 2.0, 0.25], np.float32)
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected a scalar or shape \(C,\) "
                                         r"with C = 1 \(x has 1 dimensions: one channel"):
        leaky_c.prelu(x, w)
    for axis in (0, -1, None):
        assert_bits_equal(leaky_c.prelu(x, w, axis=axis), np.array([-1.0, 1.0, -1.0], np.float32),
                          f"axis={axis}")
