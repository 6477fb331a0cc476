"""PReLU's broadcasting weight and its inputs of fewer than 2 dimensions against
PyTorch, bit for bit: torch.where(x > 0, x, w * x) and PyTorch's own kernel,
torch.nn.functional.prelu with its autograd."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from arrays import HALF_DTYPES, PRELU_BROADCASTS, assert_bits_equal, prelu_arrays, values

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")

DTYPES = [np.dtype(np.float32), np.dtype(np.float64), *HALF_DTYPES]


def tensor(arr: np.ndarray) -> "torch.Tensor":
    """A tensor of arr's dtype (bfloat16 through its bits)."""
    arr = np.array(arr, order="C")  # a copy; ascontiguousarray would make a 0-d array 1-D
    if arr.dtype.name == "bfloat16":
        return torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(arr)


def array(t: "torch.Tensor", dtype: np.dtype) -> np.ndarray:
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(dtype)
    return t.numpy()


def assert_matches(got: np.ndarray, want: np.ndarray, context: str) -> None:
    """Bit for bit; for the 16-bit types NaN compares as NaN (PyTorch's vector
    and scalar paths round NaN payloads differently: README, Semantics)."""
    if got.dtype.itemsize == 2:
        nan = np.isnan(want.astype(np.float32))
        assert (np.isnan(got.astype(np.float32)) == nan).all(), f"{context}: NaN positions differ"
        got, want = got[~nan], want[~nan]
    assert_bits_equal(got, want, context)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("x_shape, w_shape, axis", PRELU_BROADCASTS, ids=str)
def test_a_broadcasting_weight_matches_torch_where_and_torchs_kernel(dtype, x_shape, w_shape, axis):
    x, g, w = prelu_arrays(dtype, x_shape, w_shape, 7)
    tx, tg, tw = tensor(x), tensor(g), tensor(w)
    padded = tw.reshape((1,) * (x.ndim - w.ndim) + w.shape)  # _prelu_kernel wants x's ndim
    context = f"{dtype} x{x_shape} w{w_shape} axis={axis}"
    y = leaky_c.prelu(x, w, axis=axis)
    assert_matches(y, array(torch.where(tx > 0, tx, tw * tx), dtype), "torch.where " + context)
    assert_matches(y, array(torch.ops.aten._prelu_kernel(tx, padded), dtype),
                   "_prelu_kernel " + context)
    grad_input, grad_weight = leaky_c.prelu_backward(g, x, w, axis=axis)
    assert_matches(grad_input, array(torch.where(tx > 0, tg, tw * tg), dtype),
                   "grad_input, torch.where " + context)
    gi_torch, gw_torch = torch.ops.aten._prelu_kernel_backward(tg, tx, padded)
    assert_matches(grad_input, array(gi_torch, dtype), "grad_input, torch's kernel " + context)
    if dtype.itemsize == 2:
        return  # torch rounds each product to 16 bits before summing: the float64 oracle is test_prelu's
    # torch's per-element weight gradient, summed as the weight repeats, in float64.
    per_element = array(gw_torch, dtype).astype(np.float64)
    repeated = tuple(d for d in range(x.ndim) if padded.shape[d] == 1)
    with np.errstate(all="ignore"):
        want = per_element.sum(axis=repeated, keepdims=True).reshape(w.shape)
        scale = np.abs(per_element).sum(axis=repeated, keepdims=True).reshape(w.shape)
    finite = np.isfinite(scale)
    assert (np.isfinite(grad_weight) == finite).all(), context
    np.testing.assert_allclose(grad_weight[finite], want[finite], rtol=0,
                               atol=1e-6 * scale[finite].max(initial=0) + 1e-300)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (1,), (4,), (9,)], ids=str)
@pytest.mark.parametrize("weight_shape", [(), (1,)], ids=str)
def test_fewer_than_2_dimensions_match_torch_prelu_forward_and_backward(dtype, shape, weight_shape):
    # Exactly representable values, so that the weight gradient's sum is exact
    # in any order and can be compared bit for bit.
    x = np.array([-2.0, 1.0, -0.5, 3.0, -0.0, -4.0, 0.5, 2.0, -1.0][:max(1, int(np.prod(shape)))],
                 np.float64).astype(dtype).reshape(shape)
    g = np.array([1.0, 2.0, 4.0, 0.5, -1.0, 0.25, 8.0, -2.0, 3.0][:x.size]).astype(dtype).reshape(shape)
    w = np.full(weight_shape, 0.25).astype(dtype)
    tx, tw = tensor(x).requires_grad_(), tensor(w).requires_grad_()
    ty = torch.nn.functional.prelu(tx, tw)
    ty.backward(tensor(g))
    context = f"{dtype} x{shape} w{weight_shape}"
    y = leaky_c.prelu(x, w)
    assert_bits_equal(np.asarray(y), array(ty.detach(), dtype), "forward " + context)
    grad_input, grad_weight = leaky_c.prelu_backward(g, x, w)
    assert_bits_equal(np.asarray(grad_input), array(tx.grad, dtype), "grad_input " + context)
    assert_bits_equal(grad_weight, array(tw.grad, dtype), "grad_weight " + context)


def test_a_1d_x_with_more_than_one_slope_fails_as_in_torch():
    x, w = values(np.float32, 4, 1), np.full(4, 0.25, np.float32)
    with pytest.raises(RuntimeError, match="channel size = 1"):
        torch.nn.functional.prelu(torch.from_numpy(x), torch.from_numpy(w))
    with pytest.raises(ValueError, match=r"C = 1 \(x has 1 dimensions: one channel"):
        leaky_c.prelu(x, w)
