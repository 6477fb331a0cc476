"""16-bit floats in C, strided arrays without copies, backward from the output, PReLU."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import leaky_c
from arrays import BFLOAT16, assert_bits_equal, layouts, values
from conftest import expected_backward, expected_forward

HALF_DTYPES = [np.dtype(np.float16)] + ([BFLOAT16] if BFLOAT16 is not None else [])
SLOPES = (0.0, 0.01, 0.3, 1.0, 1.5, -0.7)


def every_bit_pattern(dtype: np.dtype) -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(dtype)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_every_16_bit_pattern_on_every_target(target, dtype):
    # All 65,536 inputs: every rounding case, subnormal, inf and NaN payload.
    x = every_bit_pattern(dtype)
    g = np.random.default_rng(1).permutation(x)
    for slope in SLOPES:
        assert_bits_equal(leaky_c.leaky_relu(x, slope), expected_forward(x, slope),
                          f"{dtype} forward slope={slope} target={target}")
        assert_bits_equal(leaky_c.leaky_relu_backward(g, x, slope), expected_backward(g, x, slope),
                          f"{dtype} backward slope={slope} target={target}")


def test_bfloat16_needs_ml_dtypes_only_for_bfloat16():
    # float16 never depends on ml_dtypes; the generator and API agree on bfloat16.
    assert (BFLOAT16 is None) == (leaky_c._validate.BFLOAT16 is None)


torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")


def to_torch(arr: np.ndarray, dtype: np.dtype):
    if dtype == np.float16:
        return torch.from_numpy(arr)
    return torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)


def from_torch(t, dtype: np.dtype) -> np.ndarray:
    return t.view(torch.int16).numpy().view(dtype)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_16_bit_floats_match_pytorch(dtype):
    # PyTorch rounds NaN differently in its vector body and its scalar tail
    # (bfloat16: 0xffff in one, 0x7fc0 in the other), so NaNs compare as NaN;
    # every other bit pattern must be identical.
    x = every_bit_pattern(dtype)
    g = np.random.default_rng(2).permutation(x)
    for slope in SLOPES:
        for name, got, want in (
                ("forward", leaky_c.leaky_relu(x, slope),
                 from_torch(torch.nn.functional.leaky_relu(to_torch(x, dtype), slope), dtype)),
                ("backward", leaky_c.leaky_relu_backward(g, x, slope),
                 from_torch(torch.ops.aten.leaky_relu_backward(
                     to_torch(g, dtype), to_torch(x, dtype), slope, False), dtype))):
            got32, want32 = got.astype(np.float32), want.astype(np.float32)
            nan = np.isnan(want32)
            assert (np.isnan(got32) == nan).all(), f"{dtype} {name} slope={slope}: NaN positions"
            assert_bits_equal(got[~nan], want[~nan], f"{dtype} {name} slope={slope}")


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)] + HALF_DTYPES, ids=str)
def test_strided_layouts_match_the_contiguous_path(dtype):
    for case in layouts(dtype):
        x = case.array
        if x.dtype.isnative:
            contiguous = leaky_c.leaky_relu(x.copy(), 0.2)
            assert_bits_equal(leaky_c.leaky_relu(x, 0.2), contiguous, f"strided {case}")
            out = np.empty(x.shape[::-1], dtype).T  # a differently strided out
            leaky_c.leaky_relu(x, 0.2, out=out)
            assert_bits_equal(out[()] if out.ndim == 0 else out.copy(), contiguous, f"strided out {case}")


@pytest.mark.parametrize("view", ["transposed", "sliced", "negative", "inner contiguous"])
def test_strided_inputs_take_no_temporary_copy(view):
    if leaky_c.backend != "cffi":
        pytest.skip("the NumPy reference makes temporaries; the claim is about the C path")
    base = values(np.float32, 1 << 22).reshape(1 << 11, 1 << 11)
    x = {"transposed": base.T, "sliced": base[::2, ::3], "negative": base[::-1, ::-1],
         "inner contiguous": base[::2]}[view]
    out = np.empty(x.shape, np.float32)
    tracemalloc.start()
    try:
        leaky_c.leaky_relu(x, 0.1, out=out)
        leaky_c.leaky_relu_backward(x, x, 0.1, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes // 8, f"{view}: {peak} bytes allocated for a {x.nbytes}-byte input"
    assert_bits_equal(out, expected_backward(x, x, 0.1), f"{view} result")


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)] + HALF_DTYPES, ids=str)
def test_backward_from_output_matches_pytorch_self_is_result(dtype, slope):
    x = values(dtype, 4099, 3)
    g = values(dtype, 4099, 4)
    y = leaky_c.leaky_relu(x, slope)
    got = leaky_c.leaky_relu_backward(g, y, slope, from_output=True)
    assert_bits_equal(got, leaky_c.leaky_relu_backward(g, x, slope), f"{dtype} slope={slope}")
    if dtype in (np.float32, np.float64):
        want = torch.ops.aten.leaky_relu_backward(torch.from_numpy(g), torch.from_numpy(y),
                                                  slope, True).numpy()
        assert_bits_equal(got, want, f"PyTorch self_is_result {dtype} slope={slope}")
    inplace = y.copy()
    leaky_c.leaky_relu_backward(g, inplace, slope, from_output=True, out=inplace)
    assert_bits_equal(inplace, got, "from_output in place over the output")


def test_backward_from_output_rejects_negative_slopes():
    y = values(np.float32, 10)
    with pytest.raises(ValueError, match="from_output=True needs negative_slope >= 0"):
        leaky_c.leaky_relu_backward(y, y, -0.1, from_output=True)
    with pytest.raises(TypeError, match="from_output must be a bool"):
        leaky_c.leaky_relu_backward(y, y, 0.1, from_output="yes")


def prelu_torch(x: np.ndarray, g: np.ndarray, w: np.ndarray):
    tx = torch.from_numpy(x.copy()).requires_grad_()
    tw = torch.from_numpy(w.copy()).requires_grad_()
    ty = torch.nn.functional.prelu(tx, tw)
    ty.backward(torch.from_numpy(g))
    return ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (64, 8, 7, 7), (5, 3), (3, 16, 1), (1, 1, 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("scalar_weight", [False, True])
def test_prelu_matches_pytorch(shape, dtype, scalar_weight):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    x, g = values(dtype, n, 5).reshape(shape), values(dtype, n, 6).reshape(shape)
    x[np.isnan(x) | np.isinf(x)] = 1.5  # finite inputs keep grad_weight's sums comparable
    g[np.isnan(g) | np.isinf(g)] = -0.5
    x[np.abs(x) > 1e30] = 2.0
    g[np.abs(g) > 1e30] = -3.0
    channels = 1 if scalar_weight else shape[1]
    w = np.linspace(-0.5, 1.5, channels).astype(dtype)
    y_want, gi_want, gw_want = prelu_torch(x, g, w)
    assert_bits_equal(leaky_c.prelu(x, w), y_want, f"prelu {shape} {dtype}")
    grad_input, grad_weight = leaky_c.prelu_backward(g, x, w)
    assert_bits_equal(grad_input, gi_want, f"prelu grad_input {shape} {dtype}")
    assert grad_weight.shape == w.shape and grad_weight.dtype == dtype
    scale = np.abs(x.astype(np.float64) * g).sum() + 1e-30
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(grad_weight, gw_want, rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)] + HALF_DTYPES, ids=str)
def test_prelu_matches_the_reference_on_any_axis_and_layout(dtype):
    from leaky_c import _reference
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
