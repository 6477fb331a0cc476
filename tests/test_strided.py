"""Arrays with any strides: the same bits as the contiguous path, and no copies."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import leaky_c
from arrays import HALF_DTYPES, assert_bits_equal, layouts, values
from conftest import expected_backward


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64), *HALF_DTYPES], ids=str)
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
