"""Typical user code of leaky_c.torch, checked by ``mypy --strict`` where PyTorch is
installed (tests/test_typing.py), and run there, so each claim is also checked
against what the call returns."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

import leaky_c.torch as lt

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

x = torch.randn(4, 3, requires_grad=True)
y = lt.leaky_relu(x, 0.1)
assert_type(y, Tensor)
assert isinstance(y, Tensor)
assert_type(lt.leaky_relu(x.detach().clone(), np.float32(0.1), inplace=True), Tensor)
assert_type(lt.leaky_relu(x, Fraction(1, 10)), Tensor)
assert_type(lt.prelu(x, torch.full((3,), 0.25)), Tensor)

activation = lt.LeakyReLU(np.float64(0.2))
prelu = lt.PReLU(num_parameters=3, init=0.1, dtype=torch.float32)
model = torch.nn.Sequential(torch.nn.Linear(3, 3), activation, prelu)
out = model(x)
assert_type(activation(x), Tensor)
assert_type(prelu(x), Tensor)
assert_type(prelu.weight, torch.nn.Parameter)
out.sum().backward()
assert x.grad is not None

lt.use_direct_path(True)
assert_type(lt.path_counts["leaky_relu", "direct"], int)
