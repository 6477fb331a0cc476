"""Helpers shared by the tests of leaky_c.torch (imported only by modules that need torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import leaky_c
from arrays import assert_bits_equal


def as_tensor(arr: np.ndarray) -> torch.Tensor:
    """The array as a tensor with the same strides where torch allows them."""
    if arr.dtype.isnative and all(s >= 0 for s in arr.strides):
        return torch.from_numpy(arr)
    return torch.from_numpy(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("=")))


def _bits_array(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's values as NumPy sees them (bfloat16, which NumPy lacks, as its bits)."""
    tensor = tensor.detach().resolve_neg()
    if tensor.dtype is torch.bfloat16:
        return tensor.view(torch.int16).numpy()
    return tensor.numpy()


#: PyTorch's 16-bit float kernels round a NaN to different bits in their vector body
#: and their scalar tail (bfloat16: 0xffff and 0x7fc0; tests/test_torch_compare.py),
#: so no implementation can match its NaN bits there: a NaN only has to be a NaN.
HALF_DTYPES = (torch.float16, torch.bfloat16)


def served(*dtypes: torch.dtype) -> list:
    """pytest params of these dtypes; bfloat16 skipped, naming the install, where leaky_c
    cannot serve it (without ml_dtypes leaky_c.torch hands it to PyTorch)."""
    from leaky_c import _extras
    from leaky_c._torch_ops import SERVED_DTYPES
    return [pytest.param(d, marks=pytest.mark.skipif(
        d not in SERVED_DTYPES, reason=f"{d} needs ml_dtypes: {_extras.hint('bfloat16')}"))
        for d in dtypes]


def assert_same(got: torch.Tensor, want: torch.Tensor, context: str = "") -> None:
    """Same dtype, shape and bit patterns (torch tensors); in 16-bit floats, NaN where
    PyTorch has NaN (whose bits PyTorch itself does not keep consistent)."""
    assert got.dtype == want.dtype, context
    got_bits, want_bits = _bits_array(got), _bits_array(want)
    if got.dtype in HALF_DTYPES:
        nan = want.detach().isnan().numpy()
        assert (got.detach().isnan().numpy() == nan).all(), f"{context}: NaN positions differ"
        got_bits, want_bits = np.where(nan, 0, got_bits), np.where(nan, 0, want_bits)
    assert_bits_equal(got_bits, want_bits, context)


def spy_on(monkeypatch, *names: str) -> list:
    """Record, by name, each run of these leaky_c kernels (to tell leaky_c from torch).

    ``leaky_relu`` and ``leaky_relu_backward`` are the functions of
    leaky_c._torch_ops that run them (contiguous tensors call the C directly,
    others go through leaky_c's API); ``prelu`` and ``prelu_backward``
    are leaky_c's own.  A backward with ``from_output`` is recorded as
    ``leaky_relu_backward(from_output)``.
    """
    from leaky_c import _torch_ops
    targets = {"leaky_relu": (_torch_ops, "leaky_relu_into"),
               "leaky_relu_backward": (_torch_ops, "leaky_relu_backward_new"),
               "prelu": (leaky_c, "prelu"), "prelu_backward": (leaky_c, "prelu_backward")}
    calls = []
    for name in names:
        module, attribute = targets[name]
        original = getattr(module, attribute)

        def spy(*args, _original=original, _name=name, **kwargs):
            from_output = _name == "leaky_relu_backward" and args[3]
            calls.append(f"{_name}(from_output)" if from_output else _name)
            return _original(*args, **kwargs)
        monkeypatch.setattr(module, attribute, spy)
    return calls


def torch_error(fn) -> tuple[type, str]:
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


@pytest.fixture
def paths(monkeypatch):
    """leaky_c.torch.path_counts from zero, and every fallback warning shown afresh."""
    import leaky_c.torch as lt
    lt.path_counts.clear()
    monkeypatch.setattr(lt, "_warned", set())
    yield lt.path_counts
    lt.path_counts.clear()


def assert_sum_close(got: torch.Tensor, want: torch.Tensor, x: torch.Tensor,
                     weight: torch.Tensor, grad_output: torch.Tensor, context: str = "") -> None:
    """PReLU's weight gradient, a sum over x <= 0 of x * grad_output, equal to summation
    tolerance: |got - want| <= 2 n eps sum|x * grad_output| (n terms; the classic bound
    for either summation order, so both may differ from the exact sum by half of it)."""
    x64 = x.detach().double()
    w64 = weight.detach().double().requires_grad_(True)
    # The weight gradient of F.prelu with |grad_output| is -sum over x <= 0 of |x * g|.
    negative_sum, = torch.autograd.grad(torch.nn.functional.prelu(x64, w64), w64,
                                        grad_output.detach().double().abs())
    bound = 2 * x.numel() * torch.finfo(got.dtype).eps * negative_sum.abs()
    got64, want64 = got.detach().double(), want.detach().double()
    ok = (got64 == want64) | (got64 - want64).abs().le(bound) | (got64.isnan() & want64.isnan())
    assert got.dtype == want.dtype and got.shape == want.shape, context
    assert bool(ok.all()), f"{context}: {got} vs {want} (bound {bound})"
