"""Both backends against PyTorch's CPU kernels, bit for bit, on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from arrays import SLOPES, assert_bits_equal, layouts, sizes

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
        assert_bits_equal(leaky_c.leaky_relu_backward(g, x, slope), torch_backward(g, x, slope),
                          f"backward {case} slope={slope} backend={leaky_c.backend}")


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
