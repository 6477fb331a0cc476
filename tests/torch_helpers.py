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


def assert_same(got: torch.Tensor, want: torch.Tensor, context: str = "") -> None:
    """Same dtype, shape and bit patterns (torch tensors)."""
    assert got.dtype == want.dtype, context
    assert_bits_equal(_bits_array(got), _bits_array(want), context)


def spy_on(monkeypatch, *names: str) -> list:
    """Record, by name, each run of these leaky_c kernels (to tell leaky_c from torch).

    ``leaky_relu`` and ``leaky_relu_backward`` are the functions of
    leaky_c._torch_ops that run them (small contiguous tensors call the C
    directly, others go through leaky_c's API); ``prelu`` and ``prelu_backward``
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
