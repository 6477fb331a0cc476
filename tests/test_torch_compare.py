"""Both backends against PyTorch's CPU kernels, bit for bit, on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from arrays import (HALF_DTYPES, SLOPES, assert_bits_equal, every_bit_pattern, is_signalling_nan,
                    layouts, sizes, values)

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
F = torch.nn.functional


def torch_forward(x: np.ndarray, slope: float) -> np.ndarray:
    return F.leaky_relu(torch.from_numpy(np.ascontiguousarray(x)), slope).numpy()


def torch_backward(g: np.ndarray, x: np.ndarray, slope: float) -> np.ndarray:
    return torch.ops.aten.leaky_relu_backward(
        torch.from_numpy(np.ascontiguousarray(g)), torch.from_numpy(np.ascontiguousarray(x)),
        slope, False).numpy()


def native(arr: np.ndarray) -> np.ndarray:
    return arr.astype(arr.dtype.newbyteorder("="))


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)], ids=str)
def test_matches_pytorch(dtype, slope):
    cases = [c for c in list(layouts(dtype)) + list(sizes(dtype)) if c.array.ndim]
    grads = [c for c in list(layouts(dtype, 7)) + list(sizes(dtype, seed=7)) if c.array.ndim]
    for case, grad in zip(cases, grads):
        x, g = native(case.array), native(grad.array)
        assert_bits_equal(leaky_c.leaky_relu(x, slope), torch_forward(x, slope),
                          f"forward {case} slope={slope} backend={leaky_c.backend}")
        assert_gradient_matches(leaky_c.leaky_relu_backward(g, x, slope),
                                torch_backward(g, x, slope), g,
                                f"backward {case} slope={slope} backend={leaky_c.backend}")


def assert_gradient_matches(got: np.ndarray, want: np.ndarray, grad: np.ndarray, context: str):
    """Bit for bit, but where grad is a signalling NaN: PyTorch quietens some on their
    way through, leaky_c passes them as stored (test_core checks that); NaN either way."""
    snan = is_signalling_nan(grad)
    assert np.isnan(got[snan]).all() and np.isnan(want[snan]).all(), context
    assert_bits_equal(np.where(snan, 0, got), np.where(snan, 0, want), context)


@pytest.mark.parametrize("slope", [0.0, 0.01, 1.5, -0.5])
def test_float16_matches_pytorch(slope):
    # PyTorch computes float16 in float32 and rounds once.  Its scalar and
    # vector paths round NaN payloads differently, so NaNs compare as NaNs.
    for case in sizes(np.dtype(np.float16)):
        x = case.array
        got = leaky_c.leaky_relu(x, slope)
        want = torch_forward(x, slope)
        nan = np.isnan(want)
        assert (np.isnan(got) == nan).all(), f"{case}: NaN positions differ"
        assert_bits_equal(np.where(nan, 0, got), np.where(nan, 0, want), f"float16 forward {case}")


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


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)], ids=str)
def test_backward_from_output_matches_pytorch_self_is_result(dtype, slope):
    x, g = values(dtype, 4099, 3), values(dtype, 4099, 4)
    y = leaky_c.leaky_relu(x, slope)
    want = torch.ops.aten.leaky_relu_backward(torch.from_numpy(g), torch.from_numpy(y),
                                              slope, True).numpy()
    assert_gradient_matches(leaky_c.leaky_relu_backward(g, y, slope, from_output=True), want, g,
                            f"PyTorch self_is_result {dtype} slope={slope}")


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


@pytest.mark.parametrize("call", ["leaky_relu", "leaky_relu_backward", "prelu"])
def test_a_tensor_that_requires_grad_is_a_named_type_error(call):
    t = torch.ones(3, requires_grad=True)
    args = {"leaky_relu": (t,), "leaky_relu_backward": (torch.ones(3), t),
            "prelu": (t, np.float64(0.25))}[call]
    with pytest.raises(TypeError, match=r"x is a torch.Tensor that requires grad; pass x.detach\(\)"):
        getattr(leaky_c, call)(*args)


@pytest.mark.parametrize("call", ["leaky_relu", "leaky_relu_backward", "prelu"])
def test_a_tensor_numpy_cannot_hold_is_a_type_error_pointing_to_leaky_c_torch(call):
    t = torch.tensor([-1.0, 2.0], dtype=torch.bfloat16)  # NumPy has no bfloat16
    args = {"leaky_relu": (t,), "leaky_relu_backward": (t, t), "prelu": (t, np.float64(0.25))}[call]
    with pytest.raises(TypeError, match=r"is a torch.Tensor of dtype torch.bfloat16, which NumPy "
                                        r"cannot hold; use leaky_c.torch"):
        getattr(leaky_c, call)(*args)
