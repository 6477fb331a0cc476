"""Values: leaky_c equals the NumPy reference bit for bit on every generated array."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from leaky_c import _reference
from arrays import (DTYPES, FLOAT_DTYPES, SLOPES, assert_bits_equal, bits, finfo, layouts, sizes,
                    special_values, values)
from conftest import expected_backward, expected_forward, promoted


def test_reference_matches_hand_computed_values():
    # Written out by hand from the definition, independent of any implementation.
    x = np.array([-2.0, -0.0, 0.0, 3.0, np.inf, -np.inf, np.nan, -4.0], dtype=np.float64)
    got = _reference.leaky_relu(x, 0.5)
    want = np.array([-1.0, -0.0, 0.0, 3.0, np.inf, -np.inf, np.nan, -2.0])
    assert_bits_equal(got, want, "forward, slope 0.5")
    # slope 0: ReLU, except -inf * 0 is NaN (IEEE; its sign bit is the CPU's
    # default NaN: set on x86), and -0.0 * 0 is -0.0
    with np.errstate(invalid="ignore"):
        default_nan = np.float64(-np.inf) * np.float64(0.0)
    got = _reference.leaky_relu(x, 0.0)
    want = np.array([-0.0, -0.0, 0.0, 3.0, np.inf, default_nan, np.nan, -0.0])
    assert_bits_equal(got, want, "forward, slope 0")
    # a negative slope flips the sign of the non-positive side: -0.0 -> +0.0, +0.0 -> -0.0
    got = _reference.leaky_relu(x, -0.5)
    want = np.array([1.0, 0.0, -0.0, 3.0, np.inf, np.inf, np.nan, 2.0])
    assert_bits_equal(got, want, "forward, slope -0.5")
    g = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, -8.0])
    got = _reference.leaky_relu_backward(g, x, 0.25)
    want = np.array([2.5, 2.5, 2.5, 10.0, 10.0, 2.5, 2.5, -2.0])  # gradient at 0 is the slope
    assert_bits_equal(got, want, "backward, slope 0.25")


def test_float32_slope_is_rounded_to_float32():
    # 0.1 is not representable: float32 must use float32(0.1), not float64(0.1).
    # For x = -9 the two differ: float32(-9) * float32(0.1) = -0.90000004, while
    # the float64 product rounded to float32 is -0.9.
    x = np.array([-9.0], dtype=np.float32)
    got = leaky_c.leaky_relu(x, 0.1)
    assert bits(got)[0] == bits(np.float32(-9.0) * np.float32(0.1))
    assert bits(got)[0] != bits(np.float32(-9.0 * 0.1))


def test_float16_computes_in_float32_and_rounds_once():
    # -3 * float32(0.1) = -0.3000000119..., which rounds to float16 0x34cd (-0.2999...)
    x = np.array([-3.0], dtype=np.float16)
    got = leaky_c.leaky_relu(x, 0.1)
    want = (np.float32(-3.0) * np.float32(0.1)).astype(np.float16)
    assert got.dtype == np.float16
    assert bits(got)[0] == bits(np.array(want))[()]


def check_all(dtype, slopes=SLOPES, size_list=None):
    cases = list(layouts(dtype)) + list(sizes(dtype, size_list) if size_list else sizes(dtype))
    grads = list(layouts(dtype, seed=100)) + list(
        sizes(dtype, size_list, seed=100) if size_list else sizes(dtype, seed=100))
    for case, grad in zip(cases, grads):
        x_before, g_before = case.array.copy(), grad.array.copy()
        for slope in slopes:
            context = f"{case} slope={slope} backend={leaky_c.backend}"
            assert_bits_equal(leaky_c.leaky_relu(case.array, slope),
                              expected_forward(case.array, slope), "forward " + context)
            assert_bits_equal(leaky_c.leaky_relu_backward(grad.array, case.array, slope),
                              expected_backward(grad.array, case.array, slope),
                              "backward " + context)
        assert_bits_equal(case.array, x_before, f"input modified: {case}")
        assert_bits_equal(grad.array, g_before, f"grad_output modified: {grad}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_array_and_slope_matches_reference(dtype):
    check_all(dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_every_cpu_target_matches_reference(target, dtype):
    check_all(dtype, size_list=(1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4099))


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_out_in_every_layout(dtype, slope):
    for case in layouts(dtype):
        x = case.array
        want = expected_forward(x, slope)
        result_dtype = np.asarray(want).dtype
        n = x.size
        outs = {
            "C": np.empty(x.shape, result_dtype),
            "F": np.empty(x.shape, result_dtype, order="F"),
            "strided view": np.empty(x.shape + (2,), result_dtype)[..., 1],
            "non-native": np.empty(x.shape, result_dtype.newbyteorder()),
        }
        if x.ndim:
            outs["every other"] = np.empty(x.shape[:-1] + (2 * x.shape[-1],), result_dtype)[..., ::2]
        for name, out in outs.items():
            out[...] = 7  # sentinel, so an element left unwritten shows
            got = leaky_c.leaky_relu(x, slope, out=out)
            assert got is out, f"{case} out={name}: the call must return out"
            assert_bits_equal(promoted(got), np.asarray(want),
                              f"{case} out={name} (n={n})")


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_in_place(dtype, slope):
    for case in list(layouts(dtype)) + list(sizes(dtype)):
        x = case.array.copy()
        want = expected_forward(x, slope)
        assert leaky_c.leaky_relu(x, slope, out=x) is x
        assert_bits_equal(promoted(x), np.asarray(want), f"in place {case}")
        # backward in place, over grad_output and over x
        g, x = values(dtype, x.size, 3).reshape(x.shape), case.array.copy()
        want = expected_backward(g, x, slope)
        for name in ("grad_output", "x"):
            g2, x2 = g.copy(), x.copy()
            out = g2 if name == "grad_output" else x2
            assert leaky_c.leaky_relu_backward(g2, x2, slope, out=out) is out
            assert_bits_equal(promoted(out), np.asarray(want), f"backward in place over {name} {case}")


@pytest.mark.parametrize("shift", [1, -1, 5, -17])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_out_overlapping_input_partially(dtype, shift):
    # As with NumPy ufuncs, the result is as if the input were read before any write.
    n = 1000
    buffer = values(dtype, n + abs(shift), 9)
    x = buffer[max(0, -shift): max(0, -shift) + n]
    out = buffer[max(0, shift): max(0, shift) + n]
    want = expected_forward(x.copy(), 0.2)
    leaky_c.leaky_relu(x, 0.2, out=out)
    assert_bits_equal(out, want, f"forward out shifted by {shift}")
    buffer = values(dtype, n + abs(shift), 9)
    g = buffer[max(0, -shift): max(0, -shift) + n]
    out = buffer[max(0, shift): max(0, shift) + n]
    x = values(dtype, n, 10)
    want = expected_backward(g.copy(), x, 0.2)
    leaky_c.leaky_relu_backward(g, x, 0.2, out=out)
    assert_bits_equal(out, want, f"backward out shifted by {shift} over grad_output")


def test_scalars_behave_like_a_ufunc():
    assert type(leaky_c.leaky_relu(-2.0, 0.5)) is np.float64
    assert leaky_c.leaky_relu(-2.0, 0.5) == -1.0
    assert type(leaky_c.leaky_relu(np.float32(-2.0), 0.5)) is np.float32
    assert type(leaky_c.leaky_relu(np.float16(-2.0), 0.5)) is np.float16
    assert type(leaky_c.leaky_relu(3, 0.5)) is np.float64
    assert type(leaky_c.leaky_relu(np.array(-2.0, np.float32), 0.5)) is np.float32
    assert type(leaky_c.leaky_relu_backward(1.0, -2.0, 0.5)) is np.float64
    assert leaky_c.leaky_relu_backward(1.0, -2.0, 0.5) == 0.5
    out = np.empty((), np.float64)
    assert leaky_c.leaky_relu(-2.0, 0.5, out=out) is out and out[()] == -1.0
    got = leaky_c.leaky_relu([[-2, 4]], 0.5)
    assert_bits_equal(got, np.array([[-1.0, 4.0]]), "nested list of ints")
    assert_bits_equal(leaky_c.leaky_relu([True, False], 0.5), np.array([1.0, 0.0]), "bools")


@pytest.mark.parametrize("slope", [0, 1, -3, np.float32(0.1), np.float64(0.2), np.float16(0.3),
                                   np.int64(2), np.array(0.25), np.array(0.5, np.float32)],
                         ids=repr)
def test_slope_types(slope):
    x = values(np.float64, 50)
    assert_bits_equal(leaky_c.leaky_relu(x, slope), expected_forward(x, float(slope)),
                      f"slope {slope!r}")


def test_large_slope_overflows_float32_to_inf():
    x = np.array([-2.0, 3.0], dtype=np.float32)
    got = leaky_c.leaky_relu(x, 1e300)
    assert_bits_equal(got, np.array([-np.inf, 3.0], dtype=np.float32), "slope 1e300")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=str)
def test_backward_matches_finite_differences(dtype):
    # d/dx sum(g * f(x)) by central differences, away from the kink at 0.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(200).astype(dtype)
    x[np.abs(x) < 0.05] = 0.5
    g = rng.standard_normal(200).astype(dtype)
    for slope in (0.0, 0.01, 0.3, 1.7, -0.4):
        h = 1e-3
        numeric = (leaky_c.leaky_relu(x + h, slope).astype(np.float64)
                   - leaky_c.leaky_relu(x - h, slope).astype(np.float64)) / (2 * h) * g
        analytic = leaky_c.leaky_relu_backward(g, x, slope)
        tolerance = 1e-3 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(analytic, numeric, rtol=tolerance, atol=tolerance,
                                   err_msg=f"slope {slope}")


def test_special_values_cover_the_ieee_cases():
    # Guard the generator itself: these cases must be in every float dtype's specials.
    for dtype in FLOAT_DTYPES:
        s = special_values(dtype)
        assert np.isnan(s).any() and np.isposinf(s).any() and np.isneginf(s).any()
        assert (bits(s) == bits(np.array([-0.0], dtype))[0]).any()
        with np.errstate(invalid="ignore"):  # NaN compares false, quietly
            assert ((s != 0) & (np.abs(s) < finfo(dtype).smallest_normal)).any()
        assert (s == finfo(dtype).max).any()
        assert promoted(s).dtype == dtype


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_backward_from_output_equals_the_backward_from_the_input(dtype, slope):
    x, g = values(dtype, 4099, 3), values(dtype, 4099, 4)
    y = leaky_c.leaky_relu(x, slope)
    got = leaky_c.leaky_relu_backward(g, y, slope, from_output=True)
    assert_bits_equal(got, expected_backward(g, x, slope), f"{dtype} slope={slope}")
    inplace = y.copy()
    leaky_c.leaky_relu_backward(g, inplace, slope, from_output=True, out=inplace)
    assert_bits_equal(inplace, got, "from_output in place over the output")


def test_backward_from_output_rejects_negative_slopes():
    y = values(np.float32, 10)
    with pytest.raises(ValueError, match="from_output=True needs negative_slope >= 0"):
        leaky_c.leaky_relu_backward(y, y, -0.1, from_output=True)
    with pytest.raises(TypeError, match="from_output must be a bool"):
        leaky_c.leaky_relu_backward(y, y, 0.1, from_output="yes")
