"""Bad input: a TypeError or ValueError that names the argument, and nothing written."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import leaky_c
from arrays import assert_bits_equal, values

X = values(np.float32, 12).reshape(3, 4)
G = values(np.float32, 12, 1).reshape(3, 4)

# (description, call kwargs for leaky_relu, exception, text the message must contain)
FORWARD_CASES = [
    ("complex input", dict(x=X.astype(np.complex64)), TypeError, "x has dtype complex64"),
    ("object input", dict(x=np.array([1.0, None], dtype=object)), TypeError, "x has dtype object"),
    ("string input", dict(x=np.array(["a", "b"])), TypeError, "x has dtype <U1"),
    ("bytes input", dict(x=b"abc"), TypeError, "x has dtype |S3"),
    ("datetime input", dict(x=np.array(["2020-01-01"], dtype="datetime64[D]")), TypeError,
     "x has dtype datetime64"),
    ("timedelta input", dict(x=np.array([1], dtype="timedelta64[s]")), TypeError,
     "x has dtype timedelta64"),
    ("python datetime", dict(x=[datetime.date(2020, 1, 1)]), TypeError, "x has dtype object"),
    ("None input", dict(x=None), TypeError, "x has dtype object"),
    ("dict input", dict(x={"a": 1}), TypeError, "x has dtype object"),
    ("set input", dict(x={1.0, 2.0}), TypeError, "x has dtype object"),
    ("ragged list", dict(x=[[1.0, 2.0], [3.0]]), ValueError, "x cannot be converted"),
    ("NaN slope", dict(x=X, negative_slope=float("nan")), ValueError, "negative_slope must be finite"),
    ("inf slope", dict(x=X, negative_slope=float("inf")), ValueError, "negative_slope must be finite"),
    ("-inf numpy slope", dict(x=X, negative_slope=np.float32("-inf")), ValueError,
     "negative_slope must be finite"),
    ("huge int slope", dict(x=X, negative_slope=10**400), ValueError, "negative_slope must be finite"),
    ("str slope", dict(x=X, negative_slope="0.1"), TypeError, "negative_slope must be a real number"),
    ("complex slope", dict(x=X, negative_slope=0.1j), TypeError, "negative_slope must be a real"),
    ("numpy complex slope", dict(x=X, negative_slope=np.complex64(1)), TypeError,
     "negative_slope must be a real"),
    ("None slope", dict(x=X, negative_slope=None), TypeError, "negative_slope must be a real"),
    ("list slope", dict(x=X, negative_slope=[0.1]), TypeError, "negative_slope must be a real"),
    ("1-d array slope", dict(x=X, negative_slope=np.array([0.1])), TypeError,
     "negative_slope must be a real number, got an array of shape (1,)"),
    ("bool slope", dict(x=X, negative_slope=True), TypeError, "negative_slope must be a real"),
    ("numpy bool slope", dict(x=X, negative_slope=np.bool_(False)), TypeError,
     "negative_slope must be a real"),
    ("out is a list", dict(x=X, out=[0.0] * 12), TypeError, "out must be a numpy.ndarray"),
    ("out wrong dtype", dict(x=X, out=np.zeros((3, 4), np.float64)), TypeError,
     "out has dtype float64, expected float32"),
    ("out int dtype for int x", dict(x=np.arange(12).reshape(3, 4), out=np.zeros((3, 4), np.int64)),
     TypeError, "expected float64"),
    ("out wrong shape", dict(x=X, out=np.zeros((4, 3), np.float32)), ValueError,
     "out has shape (4, 3), expected (3, 4)"),
    ("out broadcastable shape", dict(x=X, out=np.zeros((2, 3, 4), np.float32)), ValueError,
     "out has shape (2, 3, 4)"),
    ("out read-only", dict(x=X, out=np.broadcast_to(np.float32(0), (3, 4))), ValueError,
     "out is read-only"),
]


def _snapshot(kwargs):
    return {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}


def _assert_unchanged(kwargs, before, description):
    for name, array in before.items():
        assert_bits_equal(kwargs[name], array, f"{description}: {name} was modified")


@pytest.mark.parametrize("description,kwargs,exception,message", FORWARD_CASES,
                         ids=[c[0] for c in FORWARD_CASES])
def test_forward_rejects(description, kwargs, exception, message):
    kwargs = dict(kwargs)
    if "out" in kwargs and isinstance(kwargs["out"], np.ndarray) and kwargs["out"].flags.writeable:
        kwargs["out"][...] = 42
    before = _snapshot(kwargs)
    with pytest.raises(exception) as info:
        leaky_c.leaky_relu(**kwargs)
    assert message in str(info.value)
    _assert_unchanged(kwargs, before, description)


BACKWARD_CASES = [
    ("dtype mismatch", dict(grad_output=G.astype(np.float64), x=X), TypeError,
     "grad_output has dtype float64 but x has dtype float32"),
    ("shape mismatch", dict(grad_output=G[:2], x=X), ValueError,
     "grad_output has shape (2, 4) but x has shape (3, 4)"),
    ("no broadcasting", dict(grad_output=G[:1], x=X), ValueError, "grad_output has shape (1, 4)"),
    ("complex grad", dict(grad_output=G.astype(np.complex64), x=X), TypeError,
     "grad_output has dtype complex64"),
    ("string x", dict(grad_output=G, x=np.array(["a"] * 12).reshape(3, 4)), TypeError, "x has dtype <U1"),
    ("NaN slope", dict(grad_output=G, x=X, negative_slope=np.nan), ValueError,
     "negative_slope must be finite"),
    ("str slope", dict(grad_output=G, x=X, negative_slope="a"), TypeError, "negative_slope"),
    ("out wrong dtype", dict(grad_output=G, x=X, out=np.zeros((3, 4), np.float16)), TypeError,
     "out has dtype float16, expected float32"),
    ("out wrong shape", dict(grad_output=G, x=X, out=np.zeros(12, np.float32)), ValueError,
     "out has shape (12,), expected (3, 4)"),
    ("out read-only", dict(grad_output=G, x=X, out=np.zeros((3, 4), np.float32)), ValueError,
     "out is read-only"),
]


@pytest.mark.parametrize("description,kwargs,exception,message", BACKWARD_CASES,
                         ids=[c[0] for c in BACKWARD_CASES])
def test_backward_rejects(description, kwargs, exception, message):
    kwargs = dict(kwargs)
    if "out" in kwargs:
        kwargs["out"][...] = 42
        if description == "out read-only":
            kwargs["out"].flags.writeable = False
    before = _snapshot(kwargs)
    with pytest.raises(exception) as info:
        leaky_c.leaky_relu_backward(**kwargs)
    assert message in str(info.value)
    _assert_unchanged(kwargs, before, description)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="alpha"):
        leaky_c.leaky_relu(X, alpha=0.1)
    with pytest.raises(TypeError, match="inplace"):
        leaky_c.leaky_relu_backward(G, X, inplace=True)


def test_out_is_keyword_only():
    with pytest.raises(TypeError):
        leaky_c.leaky_relu(X, 0.1, np.empty_like(X))
