"""The cases and runners shared by tests/test_torch_subsystems*.py.

A case is one way to call leaky_c.torch or PyTorch (``make(case, ns, dtype)``
with ``ns`` either :data:`OURS` or :data:`THEIRS`); a runner runs a callable
under one PyTorch subsystem and returns the tensors it produced.  The tests
compare leaky_c's tensors with PyTorch's, bit for bit: the expected values are
always PyTorch's own.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

import leaky_c.torch as lt
from arrays import values
from torch_helpers import assert_same

F = torch.nn.functional
OURS = lt
THEIRS = SimpleNamespace(leaky_relu=F.leaky_relu, prelu=F.prelu, LeakyReLU=torch.nn.LeakyReLU,
                         PReLU=torch.nn.PReLU)
CASES = ("leaky_relu", "leaky_relu_", "prelu", "LeakyReLU", "PReLU")
MODULE_CASES = ("LeakyReLU", "PReLU")
SHAPE = (2, 3, 4)


def slopes(dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor([0.25, -0.5, 1.5], dtype=dtype)


def make(case: str, ns, dtype: torch.dtype):
    """The callable for a case, from leaky_c.torch (ns=OURS) or PyTorch (ns=THEIRS)."""
    if case == "leaky_relu":
        return lambda x: ns.leaky_relu(x, 0.2)
    if case == "leaky_relu_":  # in place, on a fresh non-leaf tensor
        return lambda x: ns.leaky_relu(x * 1, 0.2, inplace=True)
    if case == "prelu":
        weight = slopes(dtype)
        return lambda x: ns.prelu(x, weight)
    if case == "LeakyReLU":
        return ns.LeakyReLU(-0.5)
    module = ns.PReLU(3, dtype=dtype)
    with torch.no_grad():
        module.weight.copy_(slopes(dtype))
    return module


class Wrapper(torch.nn.Module):
    """A function as a module (for fx and export, which take modules)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def inputs(dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """A (2, 3, 4) tensor with both signs, ±0, ±inf, NaN and subnormals (tests/arrays.py)."""
    array = values(np.dtype(np.float32), int(np.prod(SHAPE)), seed).reshape(SHAPE)
    return torch.from_numpy(array).to(dtype)


def grad_of(y: torch.Tensor) -> torch.Tensor:
    return torch.linspace(-2, 2, y.numel()).reshape(y.shape).to(y.dtype)


def forward_backward(fn, x: torch.Tensor) -> tuple:
    leaf = x.clone().requires_grad_(True)
    y = fn(leaf)
    y.backward(grad_of(y))
    return y, leaf.grad


def outcome(runner, fn, x: torch.Tensor):
    """The runner's tensors, or the type of the error it raised."""
    try:
        result = runner(fn, x)
    except Exception as error:  # compared with PyTorch's below
        return type(error)
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def assert_same_outcome(got, want, context: str) -> None:
    if isinstance(want, type):
        assert got is want, f"{context}: PyTorch raises {want.__name__}, leaky_c gave {got}"
        return
    assert not isinstance(got, type), f"{context}: leaky_c raised {got.__name__}"
    assert len(got) == len(want), context
    for i, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, f"{context}: result {i}")


def compare(runner, case: str, dtype: torch.dtype, context: str) -> None:
    x = inputs(dtype)
    want = outcome(runner, make(case, THEIRS, dtype), x)
    got = outcome(runner, make(case, OURS, dtype), x)
    assert_same_outcome(got, want, f"{context} {case} {dtype}")
