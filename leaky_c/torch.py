"""PyTorch drop-in: ``LeakyReLU``, ``leaky_relu``, ``PReLU`` and ``prelu`` over leaky_c's kernels.

>>> import torch, leaky_c.torch as lt
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), lt.LeakyReLU(0.01), torch.nn.Linear(8, 1))

Outputs and input gradients are bit-identical to ``torch.nn.functional.leaky_relu``
and ``prelu`` and their autograd (PReLU's weight gradient is a sum: equal to
summation tolerance), wherever PyTorch goes.  Each call takes one of three
paths, counted in :data:`path_counts` as ``(function, path)``: ``"direct"``
(leaky_c's kernels called from Python: eager, plain CPU tensors, nothing
observing or transforming the call), ``"op"`` (the custom operators
``torch.ops.leaky_c.*`` of ``leaky_c._torch_ops``: compile, export, jit.trace,
fake tensors, subclasses, modes) or ``"torch"`` (PyTorch's own op, with a
``RuntimeWarning`` once per reason: other devices and dtypes, nested tensors,
torch.func transforms, forward-mode AD, batched gradients, ...).  The backward
is decided again when it runs (``leaky_c._torch_ops.backward_route``).  The
exact rule for each path, and how each PyTorch subsystem is served, is the
documentation's PyTorch page (docs/torch.md).

In-place calls (``inplace=True``) keep only the output for the backward pass
and compute the gradient from it (``from_output``), as PyTorch does.  With a
negative slope the output's sign no longer tells which branch was taken, so, as
in PyTorch, the forward runs but a backward through it raises RuntimeError
(compiled, PyTorch's op runs and behaves as PyTorch's compiled op does).
Double backward works (``create_graph=True``): the backward then runs
PyTorch's differentiable backward ops.

Importing this module imports torch; ``import leaky_c`` alone does not.
"""

from __future__ import annotations

import collections
import operator
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    from leaky_c._extras import TORCH

    raise ImportError(f"leaky_c.torch needs PyTorch, which is not installed: {TORCH}") from exc
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor, nn
from torch.autograd.graph import increment_version

from leaky_c import _torch_ops as _ops
from leaky_c._validate import negative_slope as _check_slope

if TYPE_CHECKING:
    from leaky_c._typing import Slope

__all__ = ["LeakyReLU", "PReLU", "leaky_relu", "path_counts", "prelu", "use_direct_path"]

#: Calls per ``(function, path)``: path ``"direct"``, ``"op"`` or ``"torch"`` (see
#: the module docstring).  Eager calls only; ``path_counts.clear()`` resets it.
path_counts: collections.Counter[tuple[str, str]] = collections.Counter()

_PLAIN_TENSOR_TYPES = _ops.PLAIN_TENSOR_TYPES
_direct_enabled = True
_warned: set[tuple[str, str]] = set()
_is_compiling = torch.compiler.is_compiling
_is_exporting = torch.compiler.is_exporting
_observed = _ops.observed
_grad_enabled = torch.is_grad_enabled
_STRIDED = torch.strided
_LEAKY_RELU_DIRECT = ("leaky_relu", "direct")


def use_direct_path(enabled: bool) -> None:
    """Turn the direct eager path on (the default) or off, so every call leaky_c
    serves dispatches through ``torch.ops.leaky_c`` (for measuring and debugging)."""
    global _direct_enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _direct_enabled = enabled


def _unserved(tensors: tuple[Any, ...]) -> Optional[str]:
    """Why leaky_c cannot serve these tensors (None if it can).  Under compile too:
    dynamo evaluates the transform checks at trace time and guards on them."""
    if _ops.functorch_active():
        return "a torch.func transform (vmap, grad, ...) is active"
    if _forward_ad._current_level >= 0:
        return "forward-mode AD is active"
    for t in tensors:
        if t.is_nested:
            return "nested tensor"
        if not _is_compiling() and _ops.legacy_batched(t):  # (dynamo cannot trace it)
            return "a batched tensor (is_grads_batched=True, vectorize=True)"
        if t.device.type not in ("cpu", "meta"):
            return f"device {t.device.type!r} (leaky_c runs on the CPU)"
        if t.dtype not in _ops.SERVED_DTYPES:
            return f"dtype {t.dtype}"
        if t.layout != torch.strided:
            return f"layout {t.layout}"
    return None


def _direct(tensors: tuple[Any, ...]) -> bool:
    """Plain eager CPU tensors that nothing else observes: call the kernels directly."""
    if not _direct_enabled or _observed():
        return False
    return all(type(t) in _PLAIN_TENSOR_TYPES and t.is_cpu for t in tensors)


def _count(function: str, path: str) -> None:
    if not _is_compiling():
        path_counts[function, path] += 1


def _fallback(function: str, reason: str) -> None:
    """Count a call that runs PyTorch's own op, and say so once per reason.

    Not while compiling: a warning would break the graph (dynamo cannot trace
    ``warnings.warn``), and there PyTorch's op is visible in the graph itself.
    """
    if _is_compiling():
        return
    path_counts[function, "torch"] += 1
    if (function, reason) not in _warned:
        _warned.add((function, reason))
        warnings.warn(f"leaky_c.torch.{function}: {reason}; running PyTorch's own op instead "
                      "(see leaky_c.torch.path_counts)", RuntimeWarning, stacklevel=3)


def _writable_in_place(tensor: Tensor) -> Optional[str]:
    """Why an eager in-place write through NumPy is not allowed (None if it is)."""
    if tensor.is_inference() and not torch.is_inference_mode_enabled():
        return "in-place on an inference tensor outside inference mode"
    if torch._debug_has_internal_overlap(tensor) == 1:  # 1: overlap (2: too hard to tell)
        return "in-place on a tensor whose elements overlap in memory"
    return None


class _LeakyReLU(torch.autograd.Function):
    """The direct path's autograd.  Out of place: saves the input.  In place:
    overwrites it and saves the output."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, negative_slope: float, inplace: bool) -> Tensor:
        ctx.negative_slope, ctx.inplace = negative_slope, inplace
        output = (_ops.leaky_relu_into(input, negative_slope, input) if inplace
                  else _ops.leaky_relu_new(input, negative_slope))
        if inplace:
            ctx.mark_dirty(input)
        ctx.save_for_backward(output if inplace else input)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
        saved, = ctx.saved_tensors
        # Decided again here (_ops.backward_route): batched gradients, transforms,
        # compiled autograd and create_graph=True are not the forward's business.
        return _ops.leaky_relu_backward(grad_output, saved, ctx.negative_slope, ctx.inplace,
                                        direct=True), None, None


#: ``_LeakyReLU.apply`` without ``Function.apply``'s Python layer (~2 us), which binds
#: default arguments (there are none) and unwraps dead functorch wrappers (the
#: fast path below takes no functorch tensor).
_leaky_relu_apply: Callable[[Tensor, float, bool], Tensor] = \
    super(torch.autograd.Function, _LeakyReLU).apply
#: ``Function.apply``, typed (PyTorch leaves it unannotated).
_leaky_relu_function: Callable[[Tensor, float, bool], Tensor] = _LeakyReLU.apply
_functorch_wrapped = _ops.functorch_wrapped
_legacy_batched = _ops.legacy_batched


def leaky_relu(input: Tensor, negative_slope: Slope = 0.01, inplace: bool = False) -> Tensor:
    """Leaky ReLU of a tensor: ``torch.nn.functional.leaky_relu`` with leaky_c's kernels.

    Parameters
    ----------
    input : Tensor
        Any tensor.  CPU float32/float64/float16/bfloat16 tensors run leaky_c's
        C kernels (directly, or through ``torch.ops.leaky_c.leaky_relu`` when
        compiled, exported or traced); everything else runs
        ``torch.nn.functional.leaky_relu`` with a warning (see the module
        docstring and :data:`path_counts`).
    negative_slope : real number, default 0.01
        The slope for ``input <= 0``; any finite real number, as for
        :func:`leaky_c.leaky_relu`.
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
    # The direct path's common case first, with as few checks as it needs (each
    # costs ~0.1 us; the rest of the function handles everything else).
    if (type(negative_slope) is float and negative_slope - negative_slope == 0.0
            and inplace is False and type(input) in _PLAIN_TENSOR_TYPES and input.is_cpu
            and input.dtype in _ops.SERVED_DTYPES and input.layout is _STRIDED
            and not input.is_nested and _direct_enabled and not _observed()
            and not _legacy_batched(input)):
        path_counts[_LEAKY_RELU_DIRECT] += 1
        if not (input.requires_grad and _grad_enabled()):
            return _ops.leaky_relu_new(input, negative_slope)
        if not _functorch_wrapped(input):
            return _leaky_relu_apply(input, negative_slope, False)
        return _leaky_relu_function(input, negative_slope, False)
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    slope = _check_slope(negative_slope)
    inplace = bool(inplace)
    reason = _unserved((input,))
    if reason is None and inplace and not _is_compiling():
        reason = _writable_in_place(input)
    if reason is not None:
        _fallback("leaky_relu", reason)
        return torch.nn.functional.leaky_relu(input, slope, inplace=inplace)
    needs_grad = input.requires_grad and _grad_enabled()
    # In place, the operator path's copy_ checks what autograd forbids (a leaf, or a
    # view of one, that requires grad) before anything is written; the direct path
    # would only find out after writing.
    # (_base: a view's is never None, which mypy cannot know.)
    if _direct((input,)) and not (inplace and (input.is_neg() or needs_grad and (
            input.is_leaf or input._is_view()
            and input._base.is_leaf))):  # type: ignore[union-attr]
        path_counts[_LEAKY_RELU_DIRECT] += 1
        if needs_grad:
            return _leaky_relu_function(input, slope, inplace)
        output = (_ops.leaky_relu_into(input, slope, input) if inplace
                  else _ops.leaky_relu_new(input, slope))
        if inplace:
            # No graph to record, but count the write, so a backward through an
            # op that saved this tensor notices it.
            increment_version(input)
        return output
    if inplace and needs_grad and slope < 0 and _is_compiling():
        # Compiling traces the backward now, where leaky_c's would raise; PyTorch's
        # op compiles (functionalized, its compiled backward uses the input).
        return torch.nn.functional.leaky_relu(input, slope, inplace=True)
    _count("leaky_relu", "op")
    if not inplace:
        output_op: Tensor = _ops.leaky_relu_op(input, slope)
        return output_op
    # The functional form where a graph is recorded now, or may be replayed with grad
    # (jit.trace and export record programs that run without a grad-mode guard; the
    # in-place operator has no autograd), or the negative bit is set (is_neg would break
    # a compiled graph; compiled, the bit is resolved before the op).
    if (needs_grad or _ops.jit_tracing() or _is_exporting()
            or not _is_compiling() and input.is_neg()):
        # The functional op keeping its output for the backward, written back:
        # autograd and functionalization see an ordinary copy_.
        return input.copy_(_ops.leaky_relu_op(input, slope, True))
    _ops.leaky_relu_inplace_op(input, slope)
    return input


class LeakyReLU(nn.Module):
    """Drop-in for ``torch.nn.LeakyReLU`` running leaky_c's kernels (see :func:`leaky_relu`).

    Parameters
    ----------
    negative_slope : real number, default 0.01
        The slope for inputs <= 0; any finite real number, as for :func:`leaky_relu`.
    inplace : bool, default False
        Overwrite the input (backward raises RuntimeError for a negative slope).
    """

    def __init__(self, negative_slope: Slope = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = _check_slope(negative_slope)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    if TYPE_CHECKING:  # nn.Module's __call__ is typed Any: say that calling runs forward
        def __call__(self, input: Tensor) -> Tensor: ...

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` compiles PyTorch's module in this one's place (same bits)."""
        return nn.LeakyReLU(self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace}"


class _PReLU(torch.autograd.Function):
    """The direct path's autograd for PReLU."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(input, weight)
        return _ops.prelu_new(input, weight)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
        input, weight = ctx.saved_tensors
        return _ops.prelu_backward(grad_output, input, weight, direct=True)


#: ``Function.apply``, typed (PyTorch leaves it unannotated).
_prelu_function: Callable[[Tensor, Tensor], Tensor] = _PReLU.apply


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """PReLU: ``torch.nn.functional.prelu`` with leaky_c's kernels where they serve.

    ``weight`` holds one slope, or one per channel (dimension 1 of ``input``).
    CPU float32/float64/float16/bfloat16 tensors of one dtype run leaky_c's
    kernels (directly, or through ``torch.ops.leaky_c.prelu`` when compiled,
    exported or traced); a channels_last input keeps its layout without a
    copy.  Everything else, including shapes PyTorch rejects, runs
    ``torch.nn.functional.prelu`` (which raises PyTorch's own errors), with a
    warning and a count in :data:`path_counts`.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    reason = _unserved((input, weight))
    if reason is None and torch.is_autocast_enabled(input.device.type):
        reason = "autocast is enabled (PyTorch casts prelu's arguments)"
    if reason is None and input.dtype != weight.dtype:
        reason = f"input ({input.dtype}) and weight ({weight.dtype}) differ in dtype"
    if reason is None and not (weight.dim() <= 1 and (weight.numel() == 1 or (
            input.dim() >= 2 and weight.numel() == input.shape[1]))):
        reason = (f"weight of shape {tuple(weight.shape)} does not fit input of shape "
                  f"{tuple(input.shape)}")
    if reason is not None:
        _fallback("prelu", reason)
        return torch.nn.functional.prelu(input, weight)
    if _direct((input, weight)):
        path_counts["prelu", "direct"] += 1
        if torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad):
            return _prelu_function(input, weight)
        return _ops.prelu_new(input, weight)
    _count("prelu", "op")
    output: Tensor = _ops.prelu_op(input, weight)
    return output


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
        if isinstance(num_parameters, bool) or not hasattr(type(num_parameters), "__index__"):
            raise TypeError(
                f"num_parameters must be an int, got {type(num_parameters).__name__}")
        num_parameters = operator.index(num_parameters)  # NumPy's integers too, as torch's
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

    if TYPE_CHECKING:  # as LeakyReLU's
        def __call__(self, input: Tensor) -> Tensor: ...

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` compiles PyTorch's module in this one's place, sharing the weight."""
        module = nn.PReLU(self.num_parameters, device="meta")
        module.weight = self.weight
        return module

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


# torch.fx.symbolic_trace records calls of these as nodes instead of tracing into them
# (the modules' forward calls them: a traced model holds call_function nodes).
torch.fx.wrap("leaky_relu")
torch.fx.wrap("prelu")
