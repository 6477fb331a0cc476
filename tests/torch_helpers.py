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
    """Record, by name, each call into these leaky_c functions (to tell leaky_c from torch).

    A call with ``from_output=True`` is recorded as ``name(from_output)``.
    """
    calls = []
    for name in names:
        original = getattr(leaky_c, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(f"{_name}(from_output)" if kwargs.get("from_output") else _name)
            return _original(*args, **kwargs)
        monkeypatch.setattr(leaky_c, name, spy)
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
