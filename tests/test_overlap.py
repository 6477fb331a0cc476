"""Outputs that overlap themselves or the inputs: zero strides, sliding windows,
partial overlaps, in place.  Every kernel, every dtype, both backends.

The oracle is the reference applied to copies: the inputs' values are copied
out first, the reference computes the result, and ``np.copyto`` writes it into
the output view of a copy of the memory, which is what a NumPy ufunc does with
an overlapping ``out``.  The whole memory (not only the views) must then equal
the oracle's bit for bit.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import as_strided

import leaky_c
from leaky_c import _reference
from arrays import FLOAT_DTYPES, assert_bits_equal, values
from conftest import count, expected_backward, expected_forward
from test_properties import EXAMPLES

SLOPE = 0.5  # exact in every dtype, so a slope applied twice shows


class View(NamedTuple):
    """Elements of a 1-D base at start + sum(index * strides) (in elements)."""
    start: int
    shape: tuple
    strides: tuple

    def of(self, base: np.ndarray) -> np.ndarray:
        return as_strided(base[self.start:], self.shape,
                          tuple(s * base.itemsize for s in self.strides))


def _forward(arrays: list, out: np.ndarray) -> None:
    leaky_c.leaky_relu(arrays[0], SLOPE, out=out)


def _backward(arrays: list, out: np.ndarray) -> None:
    leaky_c.leaky_relu_backward(arrays[0], arrays[1], SLOPE, out=out)


def _backward_from_output(arrays: list, out: np.ndarray) -> None:
    leaky_c.leaky_relu_backward(arrays[0], arrays[1], SLOPE, out=out, from_output=True)


def _weight(x: np.ndarray) -> np.ndarray:
    return np.linspace(0.25, 2.0, x.shape[-1]).astype(x.dtype)


def _prelu(arrays: list, out: np.ndarray) -> None:
    leaky_c.prelu(arrays[0], _weight(arrays[0]), axis=-1, out=out)


def _prelu_oracle(arrays: list) -> np.ndarray:
    x = arrays[0]
    return _reference.prelu(x, _weight(x), x.ndim - 1)


#: kernel -> (call, oracle on copied inputs, number of inputs)
KERNELS: dict[str, tuple[Callable, Callable, int]] = {
    "forward": (_forward, lambda a: expected_forward(a[0], SLOPE), 1),
    "backward": (_backward, lambda a: expected_backward(a[0], a[1], SLOPE), 2),
    "backward from_output": (_backward_from_output,
                             lambda a: expected_backward(a[0], a[1], SLOPE), 2),
    "prelu": (_prelu, _prelu_oracle, 1),
}


def check(kernel: str, base: np.ndarray, inputs: list, out: View, label: str) -> None:
    """Run kernel on views of base and compare all of base with the oracle."""
    call, oracle, _ = KERNELS[kernel]
    want = base.copy()
    result = oracle([np.array(v.of(want)) for v in inputs])  # values copied first
    np.copyto(out.of(want), result)
    call([v.of(base) for v in inputs], out.of(base))
    assert_bits_equal(base, want, f"{kernel} {base.dtype} {label}")


def _base(dtype: np.dtype, n: int, seed: int = 0) -> np.ndarray:
    return values(dtype, n, seed)


#: (label, base length, input views, out view); inputs repeat for two-input kernels.
CASES = [
    ("zero stride, in place", 1, [View(0, (4,), (0,))], View(0, (4,), (0,))),
    ("1000 aliases, in place", 1, [View(0, (1000,), (0,))], View(0, (1000,), (0,))),
    ("(3, 2) strides (0, 1), in place", 2, [View(0, (3, 2), (0, 1))], View(0, (3, 2), (0, 1))),
    ("sliding window (3, 3), in place", 5, [View(0, (3, 3), (1, 1))], View(0, (3, 3), (1, 1))),
    ("sliding window (4, 5) by (2, 1), in place", 12, [View(0, (4, 5), (2, 1))],
     View(0, (4, 5), (2, 1))),
    ("sliding window (2, 3, 4), in place", 12, [View(0, (2, 3, 4), (3, 2, 1))],
     View(0, (2, 3, 4), (3, 2, 1))),
    ("window into a shifted window", 8, [View(0, (3, 3), (1, 1))], View(1, (3, 3), (1, 1))),
    ("plain input into a zero-stride out", 8, [View(0, (2, 3), (3, 1))], View(7, (2, 3), (0, 0))),
    ("zero-stride input into a plain out", 8, [View(0, (6,), (0,))], View(2, (6,), (1,))),
    ("reversed onto itself", 9, [View(8, (9,), (-1,))], View(0, (9,), (1,))),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("label, n, inputs, out", CASES, ids=[c[0] for c in CASES])
def test_self_overlapping_views(kernel, dtype, label, n, inputs, out):
    inputs = inputs * KERNELS[kernel][2]
    check(kernel, -np.abs(_base(dtype, n)), inputs, out, label)  # negatives: the slope shows
    check(kernel, _base(dtype, n, 1), inputs, out, label + " (mixed signs)")


def test_the_issue_example_gives_one_slope():
    a = np.array([-1.0])
    v = as_strided(a, (4,), (0,))
    leaky_c.leaky_relu(v, 0.5, out=v)
    assert a.tolist() == [-0.5]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_backward_into_a_zero_stride_grad_output(dtype):
    base = np.concatenate([-np.abs(_base(dtype, 1)), _base(dtype, 6, 2)])
    g, x = View(0, (5,), (0,)), View(1, (5,), (1,))
    check("backward", base, [g, x], g, "out=grad_output, zero stride")
    check("backward", base, [x, g], g, "out=x, zero stride")


# Hypothesis: any view of a small base, with zero, negative and overlapping strides.

@st.composite
def views(draw, n: int) -> View:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    strides = tuple(draw(st.lists(st.integers(-3, 3), min_size=ndim, max_size=ndim)))
    low = sum(min(0, (d - 1) * s) for d, s in zip(shape, strides))
    high = sum(max(0, (d - 1) * s) for d, s in zip(shape, strides))
    if high - low > n - 1:  # does not fit: fold it onto one element per axis
        strides = (0,) * ndim
        low = high = 0
    return View(draw(st.integers(-low, n - 1 - high)), shape, strides)


@st.composite
def overlapping_calls(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    n = draw(st.integers(1, 24))
    kernel = draw(st.sampled_from(list(KERNELS)))
    first = draw(views(n))
    inputs = [first] + [_same_shape(draw(views(n)), first, n)
                        for _ in range(KERNELS[kernel][2] - 1)]
    in_place = draw(st.booleans())
    out = draw(st.sampled_from(inputs)) if in_place else _same_shape(draw(views(n)), first, n)
    return dtype, n, kernel, inputs, out, draw(st.integers(0, 2**16))


def _same_shape(view: View, like: View, n: int) -> View:
    """view's start with like's shape: its own stride on every axis if that fits,
    else like itself (so that two views of one call always share a shape)."""
    candidate = View(view.start, like.shape, view.strides[:1] * len(like.shape))
    offsets = [candidate.start + sum(i * s for i, s in zip(idx, candidate.strides))
               for idx in np.ndindex(*candidate.shape)]
    return candidate if min(offsets) >= 0 and max(offsets) <= n - 1 else like


@EXAMPLES
@given(overlapping_calls())
def test_any_overlap_matches_the_reference_on_copies(call):
    dtype, n, kernel, inputs, out, seed = call
    check(kernel, _base(dtype, n, seed), inputs, out, f"inputs {inputs}, out {out}")
    count("hypothesis examples: overlapping views")
