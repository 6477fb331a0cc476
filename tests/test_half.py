"""float16 and bfloat16 in C: every bit pattern, on every CPU target."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from arrays import BFLOAT16, HALF_DTYPES, assert_bits_equal, every_bit_pattern
from conftest import expected_backward, expected_forward

SLOPES = (0.0, 0.01, 0.3, 1.0, 1.5, -0.7)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_every_16_bit_pattern_on_every_target(target, dtype):
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
