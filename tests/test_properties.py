"""Property tests: random arrays, layouts and slopes against the NumPy reference.

Hypothesis draws the dtype (float16, bfloat16 where ml_dtypes is installed,
float32, float64, signed and unsigned integers, bool), a shape of 0 to 4
dimensions (empty included), a layout built from a parent array (C or Fortran
order, a slice with any start and step on every axis, negative strides, a
transpose, zero strides from np.broadcast_to, byte-swapped) and a finite slope
(0, -0, 1, above 1, negative, subnormal, huge; a float, NumPy float, Fraction
or Decimal).  Float data are bit patterns: the special values of
tests/arrays.py (±0, ±inf, NaN, subnormals, extremes), ordinary numbers and
any pattern at all (NaN payloads).  Every result must equal the reference bit
for bit, no input may change unless it is ``out``, and nothing outside ``out``
may be written.

Examples per test come from a settings profile, chosen with
LEAKY_C_HYPOTHESIS_PROFILE:

``ci`` (default)
    derandomized (the same examples every run, so CI is reproducible), 1,500
    examples per test: 7 tests, about 10,700 examples in all (a draw inside a
    test that Hypothesis discards counts too), 2.5 minutes on 2 cores.
``explore``
    random, 10,000 examples per test, for a long local hunt.
``quick``
    derandomized, 100 examples per test (CI's NumPy-backend pass, where the
    reference is compared with itself).

The number of examples run is printed at the end under "leaky_c counts".
"""

from __future__ import annotations

import os
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import leaky_c
from arrays import BFLOAT16, FLOAT_DTYPES, assert_bits_equal, bits, special_values
from conftest import count, expected_backward, expected_forward, promoted

_common = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("leaky_c-ci", max_examples=1500, derandomize=True, **_common)
settings.register_profile("leaky_c-explore", max_examples=10_000, **_common)
settings.register_profile("leaky_c-quick", max_examples=100, derandomize=True, **_common)
PROFILE = os.environ.get("LEAKY_C_HYPOTHESIS_PROFILE", "ci")
# Applied per test (not loaded globally), so other modules keep their settings.
EXAMPLES = settings(settings.get_profile(f"leaky_c-{PROFILE}"))

FLOATS = list(FLOAT_DTYPES)  # float16, float32, float64, and bfloat16 with ml_dtypes
DTYPES = FLOATS + [np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8,
                                         np.uint16, np.uint32, np.uint64, np.bool_)]

#: Slopes: anything finite, with the interesting ones drawn often; now and
#: then as a NumPy float, Fraction or Decimal of exactly the same value (the
#: general path; a plain float takes the fast path).
slopes = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 0.01, 0.2, 1.5, -0.5, -1.0, 5e-324, 1e-40, 1e300,
                     -1e300, float(np.finfo(np.float32).max), 3.4e38 * 2]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-4, 4, allow_nan=False),
).flatmap(lambda s: st.sampled_from([s, s, s, np.float64(s), Fraction(s), Decimal(s)]))

def _bits_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}")


def elements(dtype: np.dtype) -> st.SearchStrategy:
    """Values of dtype; for floats, as bit patterns (the array is viewed as
    dtype): any pattern at all (NaN payloads, subnormals), the special values,
    and ordinary numbers of both signs."""
    if dtype not in FLOATS:
        return st.one_of(st.sampled_from(special_values(dtype).tolist()), hnp.from_dtype(dtype))
    as_bits = _bits_dtype(dtype)
    return st.one_of(
        st.sampled_from(special_values(dtype).view(as_bits).tolist()),
        st.integers(0, np.iinfo(as_bits).max),
        st.floats(-8, 8).map(lambda v: np.array(v).astype(dtype).view(as_bits)[()]))


def filled(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy:
    """An array of dtype and shape with values from elements()."""
    if dtype not in FLOATS:
        return hnp.arrays(dtype, shape, elements=elements(dtype))
    return hnp.arrays(_bits_dtype(dtype), shape, elements=elements(dtype)).map(
        lambda a: a.view(dtype))


def swappable(dtype: np.dtype) -> bool:
    """Has a byte-swapped twin (ml_dtypes' bfloat16 turns into raw bytes when swapped)."""
    return dtype.itemsize > 1 and dtype != BFLOAT16


@st.composite
def layout(draw: Any, dtype: np.dtype, shape: tuple[int, ...], writeable: bool = False
           ) -> tuple[np.ndarray, str]:
    """An array of exactly ``shape`` in a random layout; the label says how it was made.

    Parent array (C or F order, maybe byte-swapped) -> a slice with a random
    start and step on every axis (reversed for a negative step) -> broadcast
    along some axes (stride 0, read-only) -> a transpose.
    """
    ndim = len(shape)
    perm = draw(st.permutations(range(ndim))) if ndim > 1 else list(range(ndim))
    inverse = np.argsort(perm)
    pre_shape = tuple(shape[i] for i in inverse)  # shape before the transpose
    parent_shape, index, reverse, broadcast = [], [], [], []
    for n in pre_shape:
        if not writeable and n > 1 and draw(st.integers(0, 7)) == 0:
            parent_shape.append(1)
            index.append(slice(None))
            reverse.append(False)
            broadcast.append(True)
            continue
        step = draw(st.sampled_from([1, 1, 1, 2, 3]))
        start = draw(st.integers(0, 1))
        stop = start + (n - 1) * step + 1 if n else start
        parent_shape.append(stop + draw(st.integers(0, 1)))
        index.append(slice(start, stop, step))
        reverse.append(draw(st.booleans()))
        broadcast.append(False)
    order = draw(st.sampled_from("CF"))
    swapped = swappable(dtype) and draw(st.integers(0, 4)) == 0
    parent = draw(filled(dtype, tuple(parent_shape)))
    parent = np.asarray(parent, order=order)
    if swapped:
        parent = parent.astype(dtype.newbyteorder(), order=order)
    view = parent[(Ellipsis, *index)]
    view = view[(Ellipsis, *(slice(None, None, -1) if r else slice(None) for r in reverse))]
    if any(broadcast):
        view = np.broadcast_to(view, pre_shape)
    view = view.transpose(perm) if ndim > 1 else view
    assert view.shape == shape
    label = (f"{view.dtype.str} shape={shape} strides={view.strides} parent={parent.shape} "
             f"order={order} perm={list(perm)} reversed={reverse} broadcast={broadcast}")
    return view, label


shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
#: 1-d lengths past the vector widths and unroll factors, for heads and tails.
long_shapes = st.integers(0, 300).map(lambda n: (n,))


@st.composite
def cases(draw: Any, dtypes: list = DTYPES, writeable: bool = False, inputs: int = 1) -> tuple:
    """(dtype, slope, [(array, label)] * inputs) of one random shape."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(st.one_of(shapes, long_shapes))
    arrays = [draw(layout(dtype, shape, writeable)) for _ in range(inputs)]
    return dtype, draw(slopes), arrays


def result_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype in FLOATS else np.dtype(np.float64)


@st.composite
def outs(draw: Any, dtype: np.dtype, shape: tuple[int, ...]) -> tuple:
    """A writeable out of the result dtype in a random layout (C or F, every
    other element, reversed, byte-swapped) filled with a sentinel; the parent
    it is a view of; and a function making the same view of another array of
    the parent's shape (to check nothing outside out is written)."""
    step = draw(st.sampled_from([1, 1, 2]))
    order = draw(st.sampled_from("CF"))
    if swappable(dtype) and draw(st.integers(0, 4)) == 0:
        dtype = dtype.newbyteorder()
    reverse = draw(st.booleans())
    parent = np.full(tuple(n * step + 1 for n in shape), 7, dtype, order=order)

    def select(a: np.ndarray) -> np.ndarray:
        view = a[(Ellipsis, *(slice(1, None, step) for _ in shape))]
        return view[(Ellipsis, *(slice(None, None, -1) for _ in shape))] if reverse else view

    return select(parent), parent, select


def snapshot(arrays: list) -> list:
    return [(arr, bits(arr).copy()) for arr in arrays]


def assert_unchanged(saved: list, context: str) -> None:
    for arr, before in saved:
        assert np.array_equal(bits(arr), before), f"an input changed: {context}"


def counted(name: str) -> None:
    count(f"hypothesis examples (profile {PROFILE})")
    count(f"  {name}")


@EXAMPLES
@given(cases())
def test_forward(case):
    counted("forward")
    dtype, slope, [(x, label)] = case
    saved = snapshot([x])
    assert_bits_equal(leaky_c.leaky_relu(x, slope), expected_forward(x, slope),
                      f"forward {label} slope={slope!r}")
    assert_unchanged(saved, label)


@EXAMPLES
@given(cases(inputs=2))
def test_backward(case):
    counted("backward")
    dtype, slope, [(g, g_label), (x, x_label)] = case
    saved = snapshot([g, x])
    context = f"backward grad_output {g_label} x {x_label} slope={slope!r}"
    assert_bits_equal(leaky_c.leaky_relu_backward(g, x, slope), expected_backward(g, x, slope), context)
    assert_unchanged(saved, context)


@EXAMPLES
@given(cases(), st.data())
def test_forward_out(case, data):
    counted("forward, out=")
    dtype, slope, [(x, label)] = case
    out, parent, select = data.draw(outs(result_dtype(dtype), x.shape))
    saved = snapshot([x])
    parent_before = bits(parent).copy()
    context = f"forward {label} out dtype={out.dtype.str} strides={out.strides} slope={slope!r}"
    assert leaky_c.leaky_relu(x, slope, out=out) is out, context
    assert_bits_equal(promoted(out), np.asarray(expected_forward(x, slope)), context)
    assert_unchanged(saved, context)
    outside = np.ones(parent.shape, bool)
    select(outside)[...] = False
    assert np.array_equal(bits(parent)[outside], parent_before[outside]), \
        f"wrote outside out: {context}"


@EXAMPLES
@given(cases(inputs=2), st.data())
def test_backward_out(case, data):
    counted("backward, out=")
    dtype, slope, [(g, g_label), (x, x_label)] = case
    out, _, _ = data.draw(outs(result_dtype(dtype), x.shape))
    saved = snapshot([g, x])
    context = (f"backward grad_output {g_label} x {x_label} out strides={out.strides} "
               f"{out.dtype.str} slope={slope!r}")
    assert leaky_c.leaky_relu_backward(g, x, slope, out=out) is out, context
    assert_bits_equal(promoted(out), np.asarray(expected_backward(g, x, slope)), context)
    assert_unchanged(saved, context)


@EXAMPLES
@given(cases(FLOATS, writeable=True))
def test_forward_in_place(case):
    counted("forward in place")
    dtype, slope, [(x, label)] = case
    want = np.asarray(expected_forward(x.copy(), slope))
    assert leaky_c.leaky_relu(x, slope, out=x) is x
    assert_bits_equal(promoted(x), want, f"forward in place {label} slope={slope!r}")


@EXAMPLES
@given(cases(FLOATS, writeable=True, inputs=2), st.booleans())
def test_backward_in_place(case, over_grad):
    counted("backward in place")
    dtype, slope, [(g, g_label), (x, x_label)] = case
    want = np.asarray(expected_backward(g.copy(), x.copy(), slope))
    out = g if over_grad else x
    other = (x if over_grad else g).copy()
    context = (f"backward in place over {'grad_output' if over_grad else 'x'}: "
               f"grad_output {g_label} x {x_label} slope={slope!r}")
    assert leaky_c.leaky_relu_backward(g, x, slope, out=out) is out, context
    assert_bits_equal(promoted(out), want, context)
    assert_bits_equal(x if over_grad else g, other, "the other input changed: " + context)


@st.composite
def overlapping(draw: Any) -> tuple:
    """x and out: two 1-d or 2-d views of one buffer that may overlap in any way
    (the same memory, shifted, reversed, with different steps)."""
    dtype = draw(st.sampled_from(FLOATS))
    n = draw(st.integers(1, 200))
    views = []
    size = 0
    for _ in range(2):
        step = draw(st.sampled_from([1, 1, 1, 2, -1, -2]))
        start = draw(st.integers(0, 8))
        views.append((start, step))
        size = max(size, start + (n - 1) * abs(step) + 1)
    buffer = draw(filled(dtype, (size,)))
    rows = draw(st.sampled_from([d for d in (1, 2, 4, 5) if n % d == 0]))
    made = []
    for start, step in views:
        view = buffer[start: start + (n - 1) * abs(step) + 1: abs(step)]
        view = view[::-1] if step < 0 else view
        made.append(view.reshape(rows, -1) if rows > 1 and view.flags.c_contiguous else view)
    x, out = made
    assume(x.shape == out.shape)
    return x, out, buffer, draw(slopes), f"{dtype} views {views} shape {x.shape}"


@EXAMPLES
@given(overlapping())
def test_out_overlapping_x_anyhow(case):
    # As with NumPy ufuncs: the result is as if x had been read before any write.
    counted("out overlapping x")
    x, out, buffer, slope, label = case
    want = np.asarray(expected_forward(x.copy(), slope))
    grad = x.copy()
    want_backward = np.asarray(expected_backward(grad, x.copy(), slope))
    before = buffer.copy()
    leaky_c.leaky_relu(x, slope, out=out)
    assert_bits_equal(out, want, f"forward, out overlapping x: {label} slope={slope!r}")
    buffer[...] = before
    leaky_c.leaky_relu_backward(x, x, slope, out=out)
    assert_bits_equal(out, want_backward, f"backward, out overlapping x and grad_output: {label}")
