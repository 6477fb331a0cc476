"""PyTorch drop-in: ``LeakyReLU``, ``leaky_relu`` and ``PReLU`` over leaky_c's kernels.

>>> import torch, leaky_c.torch as lt
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), lt.LeakyReLU(0.01), torch.nn.Linear(8, 1))

CPU float32 and float64 tensors run leaky_c's C kernels, exchanging memory
with NumPy without copies (``Tensor.numpy()`` shares the tensor's storage), and
give the same bits as ``torch.nn.functional.leaky_relu`` and its gradient.
Everything else falls back to PyTorch's own ops: other devices and dtypes,
tensor subclasses, sparse layouts, functorch transforms (``vmap``,
``torch.func.grad``), forward-mode AD, and in-place calls on tensors that are
not contiguous or are inference tensors outside inference mode.  Calls that
need no graph (no input requires grad, or grad mode is off) skip
``torch.autograd.Function`` and its overhead.

In-place calls (``inplace=True``) keep only the output for the backward pass
and compute the gradient from it (``from_output``), as PyTorch does.  With a
negative slope the output's sign no longer tells which branch was taken, so, as
in PyTorch, the forward runs but a backward through it raises RuntimeError.

Importing this module imports torch; ``import leaky_c`` alone does not.
"""

from __future__ import annotations

from typing import Any, Optional

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "leaky_c.torch needs PyTorch, which is not installed. Install the build for "
        "your platform, e.g. `pip install torch==2.13.0 --index-url "
        "https://download.pytorch.org/whl/cpu` for the CPU-only one.") from exc
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor, nn
from torch.autograd.graph import increment_version

import leaky_c
from leaky_c._validate import negative_slope as _check_slope

__all__ = ["LeakyReLU", "PReLU", "leaky_relu", "prelu"]

_SERVED_DTYPES = (torch.float32, torch.float64)
_PLAIN_TENSOR_TYPES = (Tensor, nn.Parameter)

# PyTorch 2.13's words (aten/src/ATen/native/Activation.cpp), so that code
# matching on them behaves the same with either module.
_NEGATIVE_SLOPE_INPLACE_MESSAGE = (
    "In-place leakyReLu backward calculation is triggered with a negative slope which is "
    "not supported. This is caused by calling in-place forward function with a negative "
    "slope, please call out-of-place version instead.")


def _served(*tensors: Tensor) -> bool:
    """True when leaky_c's kernels can serve these tensors under the current autograd mode."""
    if torch._C._are_functorch_transforms_active() or getattr(_forward_ad, "_current_level", -1) >= 0:
        return False
    for t in tensors:
        if not (type(t) in _PLAIN_TENSOR_TYPES and t.dtype in _SERVED_DTYPES
                and t.device.type == "cpu" and t.layout == torch.strided):
            return False
    return True


def _writable(tensor: Tensor) -> bool:
    """In-place writes through NumPy are safe: one element per address, and torch allows it."""
    return tensor.is_contiguous() and (
        not tensor.is_inference() or torch.is_inference_mode_enabled())


def _array(tensor: Tensor) -> Any:
    """A NumPy view of the tensor's storage (no copy; any strides)."""
    return tensor.detach().numpy()


def _leaky_relu_grad(grad_output: Tensor, saved: Tensor, negative_slope: float,
                     from_output: bool) -> Tensor:
    """``grad_output`` where ``saved > 0``, else ``negative_slope * grad_output``, no autograd.

    ``saved`` is the forward's input, or its output when ``from_output``; the
    mask is the same for slopes >= 0.
    """
    grad_input = torch.empty_like(saved)
    leaky_c.leaky_relu_backward(_array(grad_output), _array(saved), negative_slope,
                                out=_array(grad_input), from_output=from_output)
    return grad_input


class _LeakyReLUGrad(torch.autograd.Function):
    """:func:`_leaky_relu_grad` as a differentiable op, for double backward."""

    @staticmethod
    def forward(ctx: Any, grad_output: Tensor, saved: Tensor, negative_slope: float,
                from_output: bool) -> Tensor:
        ctx.save_for_backward(saved)
        ctx.negative_slope, ctx.from_output = negative_slope, from_output
        return _leaky_relu_grad(grad_output, saved, negative_slope, from_output)

    @staticmethod
    def backward(ctx: Any, grad_grad_input: Tensor) -> tuple:
        saved, = ctx.saved_tensors
        # d(grad_input)/d(grad_output) is the same mask; d/d(saved) is zero almost everywhere.
        return (_LeakyReLUGrad.apply(grad_grad_input, saved, ctx.negative_slope,
                                     ctx.from_output), None, None, None)


def _leaky_relu(input: Tensor, negative_slope: float, inplace: bool) -> Tensor:
    """The forward on leaky_c's kernel, without autograd."""
    if inplace:
        values = _array(input)
        leaky_c.leaky_relu(values, negative_slope, out=values)
        return input
    output = torch.empty_like(input)
    leaky_c.leaky_relu(_array(input), negative_slope, out=_array(output))
    return output


class _LeakyReLU(torch.autograd.Function):
    """Out of place: saves the input.  In place: overwrites it and saves the output."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, negative_slope: float, inplace: bool) -> Tensor:
        ctx.negative_slope, ctx.inplace = negative_slope, inplace
        output = _leaky_relu(input, negative_slope, inplace)
        if inplace:
            ctx.mark_dirty(input)
        ctx.save_for_backward(output if inplace else input)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple:
        saved, = ctx.saved_tensors
        if ctx.inplace and ctx.negative_slope < 0:
            raise RuntimeError(_NEGATIVE_SLOPE_INPLACE_MESSAGE)
        # Grad mode is on here only under create_graph=True: then record a graph.
        grad = _LeakyReLUGrad.apply if torch.is_grad_enabled() else _leaky_relu_grad
        return grad(grad_output, saved, ctx.negative_slope, ctx.inplace), None, None


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Leaky ReLU of a tensor: ``torch.nn.functional.leaky_relu`` with leaky_c's kernels.

    Parameters
    ----------
    input : Tensor
        Any tensor.  CPU float32/float64 tensors run leaky_c's C kernels
        (in-place calls only when ``input`` is contiguous); everything else
        runs ``torch.nn.functional.leaky_relu``.
    negative_slope : float, default 0.01
        The slope for ``input <= 0``; any finite real number.
    inplace : bool, default False
        Overwrite ``input`` and return it.  The backward pass then uses the
        output, and raises RuntimeError for a negative slope (as PyTorch does).

    Raises
    ------
    TypeError
        ``input`` is not a Tensor, or ``negative_slope`` is not a real number.
    ValueError
        ``negative_slope`` is NaN or infinite.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    slope = _check_slope(negative_slope)
    inplace = bool(inplace)
    if not _served(input) or (inplace and not _writable(input)):
        return torch.nn.functional.leaky_relu(input, slope, inplace=inplace)
    if input.requires_grad and torch.is_grad_enabled():
        return _LeakyReLU.apply(input, slope, inplace)
    # No graph to record: skip autograd.Function's overhead, but still count the
    # write, so a backward through an op that saved this tensor notices it.
    output = _leaky_relu(input, slope, inplace)
    if inplace:
        increment_version(input)
    return output


class LeakyReLU(nn.Module):
    """Drop-in for ``torch.nn.LeakyReLU`` running leaky_c's kernels (see :func:`leaky_relu`).

    Parameters
    ----------
    negative_slope : float, default 0.01
        The slope for inputs <= 0; any finite real number.
    inplace : bool, default False
        Overwrite the input (backward raises RuntimeError for a negative slope).
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = _check_slope(negative_slope)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace}"


class _PReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(input, weight)
        output = torch.empty_like(input)
        leaky_c.prelu(_array(input), _prelu_weight(weight), out=_array(output))
        return output

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple:
        input, weight = ctx.saved_tensors
        grad_input, grad_weight = leaky_c.prelu_backward(
            _array(grad_output), _array(input), _prelu_weight(weight))
        return (torch.from_numpy(grad_input),
                torch.as_tensor(grad_weight, dtype=weight.dtype).reshape(weight.shape))


def _prelu_weight(weight: Tensor) -> Any:
    """The weight as leaky_c.prelu takes it: a scalar when shared, else one per channel."""
    values = _array(weight)
    return values.reshape(()) if weight.numel() == 1 else values


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """PReLU: ``torch.nn.functional.prelu`` with leaky_c's kernels where they serve.

    ``weight`` holds one slope, or one per channel (dimension 1 of ``input``).
    CPU float32/float64 tensors of one dtype with at least 2 dimensions run
    ``leaky_c.prelu`` (when this leaky_c has it); everything else, including
    shapes PyTorch rejects, runs ``torch.nn.functional.prelu``, which raises
    PyTorch's own errors.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    shape_ok = weight.dim() == 1 and input.dim() >= 2 and weight.numel() in (1, input.shape[1])
    if not (shape_ok and _served(input, weight) and input.dtype == weight.dtype):
        return torch.nn.functional.prelu(input, weight)
    return _PReLU.apply(input, weight)


class PReLU(nn.Module):
    """Drop-in for ``torch.nn.PReLU`` running leaky_c's kernels (see :func:`prelu`).

    Parameters
    ----------
    num_parameters : int, default 1
        1 (one slope shared by all channels) or the number of channels.
    init : float, default 0.25
        Initial value of every slope.
    device, dtype
        Where and how the weight is created, as for ``torch.nn.PReLU``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25,
                 device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None) -> None:
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, int):
            raise TypeError(
                f"num_parameters must be an int, got {type(num_parameters).__name__}")
        if num_parameters < 1:
            raise ValueError(f"num_parameters must be at least 1, got {num_parameters}")
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every slope back to ``init``."""
        nn.init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
