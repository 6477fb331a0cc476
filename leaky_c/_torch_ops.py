"""leaky_c's kernels on tensors, and as PyTorch custom operators (namespace ``leaky_c``).

The operators, for ``torch.compile``, ``torch.export`` and anything else that
dispatches (fake tensors, tensor subclasses, dispatch modes):

``leaky_c::leaky_relu(Tensor x, float negative_slope, bool save_output=False) -> Tensor``
    The forward.  ``save_output`` makes autograd keep the output instead of
    the input and compute the gradient from it, as for an in-place call; the
    value is the same.
``leaky_c::leaky_relu_(Tensor(a!) x, float negative_slope) -> ()``
    In place, without autograd (mutation declared; for calls that record no graph).
``leaky_c::leaky_relu_backward(Tensor grad_output, Tensor saved, float negative_slope, bool from_output) -> Tensor``
    Differentiable itself, so double backward works.
``leaky_c::prelu(Tensor x, Tensor weight) -> Tensor``
``leaky_c::prelu_backward(Tensor grad_output, Tensor x, Tensor weight) -> (Tensor, Tensor)``
    Its own backward is composed of differentiable aten ops.

Every operator has a CPU kernel (leaky_c's C on the data pointers of contiguous
tensors, else through leaky_c's API on NumPy views of the tensors'
storage: no copies but for a negative-bit tensor, which is resolved first, and
PReLU on an input that is not dense), a fake kernel giving the same
shape, dtype and strides, and an autograd formula where it is functional.
Output layouts: ``torch.empty_like`` (what eager PyTorch gives for elementwise
ops: a dense input's strides are kept, so channels_last stays channels_last).
Threads: a call on the C kernels splits like any leaky_c call (``leaky_c.set_num_threads``):
on leaky_c's pool, or, for 1 MiB or more from the main thread right after PyTorch's
parallel ops, on PyTorch's own OpenMP team while it is awake (csrc/openmp.c).

``leaky_relu_into``, ``leaky_relu_new``, ``leaky_relu_backward_new``, ``prelu_new`` and
``prelu_backward_new`` are the kernels on plain CPU tensors, shared by the
operators and the direct eager path in ``leaky_c.torch``.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import Any, Optional

import numpy as np
import torch
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor, nn

import leaky_c
from leaky_c import _backend
from leaky_c._kernels import KERNELS
from leaky_c._validate import BFLOAT16 as _BFLOAT16  # without ml_dtypes, no bfloat16

#: torch dtype -> NumPy dtype, for the dtypes leaky_c serves.
_NUMPY_DTYPES: dict[torch.dtype, np.dtype] = {
    torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64),
    torch.float16: np.dtype(np.float16)}
if _BFLOAT16 is not None:
    _NUMPY_DTYPES[torch.bfloat16] = _BFLOAT16

#: The dtypes leaky_c's kernels serve.
SERVED_DTYPES = frozenset(_NUMPY_DTYPES)

# PyTorch 2.13's words (aten/src/ATen/native/Activation.cpp), so that code
# matching on them behaves the same with either module.
NEGATIVE_SLOPE_INPLACE_MESSAGE = (
    "In-place leakyReLu backward calculation is triggered with a negative slope which is "
    "not supported. This is caused by calling in-place forward function with a negative "
    "slope, please call out-of-place version instead.")


def as_array(tensor: Tensor) -> Any:
    """A NumPy view of a CPU tensor's storage (any strides; bfloat16 as ml_dtypes').

    A tensor with the negative bit set (``torch._neg_view``) has no such view:
    it is resolved into a copy first.
    """
    if tensor.dtype is torch.bfloat16:
        return tensor.detach().resolve_neg().view(torch.uint16).numpy().view(_BFLOAT16)
    return tensor.numpy(force=True)  # detach and resolve_neg in one call: no copy otherwise


#: The size from which a new output is advised to use transparent huge pages: glibc's
#: largest mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit), from which
#: every allocation is a fresh mapping whose pages the kernel then faults in.  Below it,
#: once glibc's threshold has risen past the size (after the first free), allocations
#: come back from already-mapped heap memory: no page fault in a training loop with or
#: without advice (benchmarks/RESULTS.md, issue 22 item 4), and the advice would be a
#: system call per allocation that changes nothing.  NumPy advises from 4 MiB.
HUGEPAGE_BYTES = 32 << 20
_MADV_HUGEPAGE = 14  # Linux <asm-generic/mman-common.h>
_PAGE = mmap.PAGESIZE
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _madvise = _libc.madvise
    _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
except (OSError, AttributeError):  # not Linux: no advice
    _madvise = None  # type: ignore[assignment]


def new_like(x: Tensor) -> Tensor:
    """``torch.empty_like(x)``, with huge pages asked for where each allocation is fresh.

    A fresh mapping is written for the first time by the kernel, which then
    takes one page fault per page: with 4 KiB pages that costs more than the
    computation (measured on (64, 64, 56, 56) float32: 29 ms into
    ``torch.empty_like``, 8.6 ms after ``madvise(MADV_HUGEPAGE)``).  PyTorch's
    CPU allocator asks only with ``THP_MEM_ALLOC_ENABLE=1``.  The advice
    changes no value.
    """
    out = torch.empty_like(x)
    if out.nbytes >= HUGEPAGE_BYTES:  # empty_like's result is dense: its storage holds nbytes
        _advise_hugepages(out)
    return out


def _advise_hugepages(out: Tensor) -> None:
    """``madvise(MADV_HUGEPAGE)`` over the whole pages of a new dense CPU tensor."""
    if _madvise is not None and out.is_cpu:
        address = out.data_ptr()
        start = -(-address // _PAGE) * _PAGE
        _madvise(start, (address + out.nbytes - start) // _PAGE * _PAGE, _MADV_HUGEPAGE)


# Contiguous tensors call the C kernels (the C interface, csrc/leaky_c_api.h) on their
# data pointers, at every size, skipping the NumPy views and leaky_c's argument checks
# (5-10 us a call, more than the kernel below ~1 MiB; benchmarks/RESULTS.md, "PyTorch
# module").  The C entry points split over the thread pool themselves, pick the store
# policy (a new output is flagged LEAKY_FRESH_OUTPUT: streaming stores only into pages
# already mapped), and refuse, writing nothing (a nonzero status), an unaligned pointer
# or a partial overlap: those calls and strided tensors go through leaky_c's API.
#: torch dtype -> (forward, backward, pointer type): the C table's entries
#: (leaky_c._kernels), empty on the NumPy backend.
_C_KERNELS: dict[torch.dtype, tuple[Any, Any, Any]] = {}
_FRESH = 0


if _backend.lib is not None:
    _C_KERNELS = {t: (k.fwd, k.bwd, _backend.ffi.getctype(k.buffer.item, "*"))
                  for t, k in ((t, KERNELS.get(d)) for t, d in _NUMPY_DTYPES.items()) if k}
    _cast = _backend.ffi.cast
    _FRESH = _backend.lib.LEAKY_FRESH_OUTPUT


def _direct_c(negative_slope: float, *tensors: Tensor) -> bool:
    """A C kernel can take these tensors' pointers: contiguous, no negative bit."""
    if negative_slope - negative_slope != 0.0:  # NaN/inf: leaky_c raises
        return False
    for t in tensors:
        if t.is_neg() or not t.is_contiguous():
            return False
    return True


def leaky_relu_into(x: Tensor, negative_slope: float, out: Tensor, fresh: bool = False) -> Tensor:
    """``out = leaky_relu(x)`` on leaky_c's kernel; ``out`` may be ``x`` (in place).
    ``fresh``: ``out`` was just allocated (:func:`new_like`)."""
    entry = _C_KERNELS.get(x.dtype)
    if entry is not None and _direct_c(negative_slope, x, out):
        pointer = entry[2]
        if not entry[0](_cast(pointer, x.data_ptr()), _cast(pointer, out.data_ptr()),
                        x.numel(), negative_slope, _FRESH if fresh else 0):
            return out
    values = as_array(x)
    leaky_c.leaky_relu(values, negative_slope, out=values if out is x else as_array(out))
    return out


def leaky_relu_new(x: Tensor, negative_slope: float) -> Tensor:
    """``leaky_relu(x)`` on leaky_c's kernel into a new tensor laid out like ``x``."""
    return leaky_relu_into(x, negative_slope, new_like(x), True)


def leaky_relu_backward_new(grad_output: Tensor, saved: Tensor, negative_slope: float,
                            from_output: bool) -> Tensor:
    """The gradient into a new tensor laid out like ``saved``."""
    grad_input = new_like(saved)
    entry = _C_KERNELS.get(saved.dtype)
    if (grad_output.dtype is saved.dtype and grad_output.shape == saved.shape
            and not (from_output and negative_slope < 0)
            and entry is not None
            and _direct_c(negative_slope, grad_output, saved, grad_input)):
        pointer = entry[2]
        if not entry[1](_cast(pointer, grad_output.data_ptr()), _cast(pointer, saved.data_ptr()),
                        _cast(pointer, grad_input.data_ptr()), saved.numel(), negative_slope,
                        _FRESH):
            return grad_input
    leaky_c.leaky_relu_backward(as_array(grad_output), as_array(saved), negative_slope,
                                out=as_array(grad_input), from_output=from_output)
    return grad_input


def _dense_order(x: Tensor) -> Optional[list[int]]:
    """The permutation that makes a dense x C-contiguous (channels_last: N, H, W, C), or None."""
    if x.is_contiguous():
        return list(range(x.dim()))
    strides = x.stride()
    order = sorted(range(x.dim()), key=lambda d: -strides[d])
    return order if x.permute(order).is_contiguous() else None


def _prelu_output(x: Tensor, empty_like: Any = new_like) -> Tensor:
    """A new tensor for PReLU's result: x's strides if x is dense, else contiguous."""
    return empty_like(x) if _dense_order(x) is not None else torch.empty(
        x.shape, dtype=x.dtype, device=x.device)


def _prelu_layout(x: Tensor) -> tuple[Tensor, list[int]]:
    """x as C-contiguous (a permuted view when dense, else a copy), and the permutation."""
    order = _dense_order(x)
    if order is None:
        return x.contiguous(), list(range(x.dim()))
    return x.permute(order), order


def _prelu_weight(weight: Tensor) -> Any:
    """The weight as leaky_c takes it: a scalar when it holds one slope, else 1-D."""
    values = as_array(weight)
    return values.reshape(()) if weight.numel() == 1 else values


def _channel_axis(order: list[int], x: Tensor) -> int:
    return order.index(1) if x.dim() >= 2 else 0


def prelu_new(x: Tensor, weight: Tensor) -> Tensor:
    """PReLU on leaky_c's kernel into a new tensor (x's layout where x is dense)."""
    output = _prelu_output(x)
    src, order = _prelu_layout(x)
    leaky_c.prelu(as_array(src), _prelu_weight(weight), axis=_channel_axis(order, x),
                  out=as_array(output.permute(order)))
    return output


def prelu_backward_new(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """(grad_input, grad_weight) on leaky_c's kernel; grad_input laid out as prelu_new's output."""
    src, order = _prelu_layout(x)
    grad = grad_output.permute(order)
    grad_input, grad_weight = leaky_c.prelu_backward(
        as_array(grad), as_array(src), _prelu_weight(weight), axis=_channel_axis(order, x))
    inverse = sorted(range(len(order)), key=order.__getitem__)
    # (a 0-d x gives NumPy scalars: np.asarray makes them arrays for torch.from_numpy)
    return (torch.from_numpy(_untyped(np.asarray(grad_input))).view(x.dtype).permute(inverse),
            torch.from_numpy(_untyped(np.asarray(grad_weight))).view(weight.dtype)
            .reshape(weight.shape))


def _untyped(arr: np.ndarray) -> np.ndarray:
    """torch.from_numpy refuses ml_dtypes' bfloat16: hand its bits over as uint16.
    (Without ml_dtypes there is none; ``dtype == None`` would mean float64.)"""
    return arr.view(np.uint16) if _BFLOAT16 is not None and arr.dtype == _BFLOAT16 else arr


# -- who runs a backward: decided again at every backward --------------------------------

#: What the fast path takes: plain tensors (not subclasses, fake or functorch-wrapped ones).
PLAIN_TENSOR_TYPES = (Tensor, nn.Parameter)
functorch_active = torch._C._are_functorch_transforms_active
functorch_wrapped = torch._C._functorch.is_functorch_wrapped_tensor
#: Batched by the older vmap behind ``is_grads_batched=True`` and ``vectorize=True``.
legacy_batched = torch._C._functorch.is_legacy_batchedtensor
_is_compiling = torch.compiler.is_compiling
_torch_function_mode = torch._C._is_torch_function_mode_enabled
_dispatch_modes = torch._C._len_torch_dispatch_stack
_tracing_state = torch._C._get_tracing_state


def jit_tracing() -> bool:
    """``torch.jit.trace`` is recording."""
    return _tracing_state() is not None


def observed() -> bool:
    """Something would see (or transform) dispatched ops: compile (and compiled autograd),
    export, ``torch.jit.trace``, a torch-function or dispatch mode, a torch.func transform,
    forward-mode AD.  Then a call leaky_c serves must dispatch an operator."""
    return (_is_compiling() or _torch_function_mode() or _dispatch_modes() > 0
            or functorch_active() or _forward_ad._current_level >= 0
            or jit_tracing())


def transformed(*tensors: Tensor) -> bool:
    """A torch.func transform or forward-mode AD is active, or a tensor is functorch's
    (vmap, grad, jvp) or batched (batched gradients, ``vectorize=True``): only PyTorch's
    ops have every rule these need."""
    if functorch_active() or _forward_ad._current_level >= 0:
        return True
    # (dynamo cannot trace the tensor checks; compiled, functorch_active tells)
    return not _is_compiling() and any(functorch_wrapped(t) or legacy_batched(t)
                                       for t in tensors)


KERNEL, OPERATOR, TORCH = "kernel", "op", "torch"


def backward_route(grad_output: Tensor, saved: Tensor) -> str:
    """Who computes a backward, decided at each backward (never the forward's choice):

    ``"torch"``: PyTorch's aten backward, under a torch.func transform or forward-mode
    AD (batched gradients, forward-over-reverse), and under ``create_graph=True``
    (grad mode on) on plain tensors, so that higher derivatives are PyTorch's own;
    ``"op"``: leaky_c's backward operator, where dispatch is observed (compile, compiled
    autograd, export, tracing, modes, tensor subclasses): the graph holds the operator;
    ``"kernel"``: leaky_c's kernel on plain CPU tensors of the saved tensor's dtype and
    shape, with nothing observing.  All three give the same bits.
    """
    if transformed(grad_output, saved):
        return TORCH
    if observed() or type(grad_output) not in PLAIN_TENSOR_TYPES or type(
            saved) not in PLAIN_TENSOR_TYPES:
        return OPERATOR
    if (torch.is_grad_enabled() or grad_output.dtype is not saved.dtype
            or grad_output.shape != saved.shape or not grad_output.is_cpu
            or grad_output.layout is not torch.strided or grad_output.is_nested):
        return TORCH
    return KERNEL


def leaky_relu_backward_aten(grad_output: Tensor, saved: Tensor, negative_slope: float,
                             from_output: bool) -> Tensor:
    """PyTorch's own leaky_relu backward (differentiable, batched, forward-AD capable)."""
    grad_input: Tensor = torch.ops.aten.leaky_relu_backward(grad_output, saved, negative_slope,
                                                            from_output)
    return grad_input


def prelu_backward_aten(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """PyTorch's own PReLU backward: ``aten._prelu_kernel_backward`` on the weight as
    ``F.prelu`` broadcasts it, the weight's gradient summed back to its shape."""
    view = channel_view(weight, x)
    grad_input, grad_weight = torch.ops.aten._prelu_kernel_backward(grad_output, x, view)
    return grad_input, grad_weight.sum_to_size(view.shape).reshape(weight.shape)


def leaky_relu_backward(grad_output: Tensor, saved: Tensor, negative_slope: float,
                        from_output: bool, direct: bool) -> Tensor:
    """The gradient by :func:`backward_route` (``direct``: the kernel may be called directly;
    else, on the operator path, the operator stands for it)."""
    if from_output and negative_slope < 0:
        raise RuntimeError(NEGATIVE_SLOPE_INPLACE_MESSAGE)
    route = backward_route(grad_output, saved)
    grad = (leaky_relu_backward_aten if route == TORCH else leaky_relu_backward_new
            if route == KERNEL and direct else leaky_relu_backward_op)
    return grad(grad_output, saved, negative_slope, from_output)


def prelu_backward(grad_output: Tensor, x: Tensor, weight: Tensor,
                   direct: bool) -> tuple[Tensor, Tensor]:
    """(grad_input, grad_weight) by :func:`backward_route`, as :func:`leaky_relu_backward`."""
    route = backward_route(grad_output, x)
    grad = (prelu_backward_aten if route == TORCH else prelu_backward_new
            if route == KERNEL and direct else prelu_backward_op)
    return grad(grad_output, x, weight)


def channel_view(weight: Tensor, x: Tensor) -> Tensor:
    """weight broadcastable against x along dimension 1 (or everywhere for one slope)."""
    if weight.numel() == 1:
        return weight.reshape([1] * x.dim())
    return weight.reshape([1, -1] + [1] * (x.dim() - 2))


# -- the operators --------------------------------------------------------------------

@torch.library.custom_op("leaky_c::leaky_relu", mutates_args=(), device_types="cpu")
def leaky_relu_op(x: Tensor, negative_slope: float, save_output: bool = False) -> Tensor:
    check_dtypes(x=x)
    return leaky_relu_new(x, negative_slope)


@leaky_relu_op.register_fake
def _(x: Tensor, negative_slope: float, save_output: bool = False) -> Tensor:
    check_dtypes(x=x)
    return torch.empty_like(x)


@torch.library.custom_op("leaky_c::leaky_relu_", mutates_args=("x",), device_types="cpu")
def leaky_relu_inplace_op(x: Tensor, negative_slope: float) -> None:
    check_dtypes(x=x)
    leaky_relu_into(x, negative_slope, x)


@leaky_relu_inplace_op.register_fake
def _(x: Tensor, negative_slope: float) -> None:
    check_dtypes(x=x)


@torch.library.custom_op("leaky_c::leaky_relu_backward", mutates_args=(), device_types="cpu")
def leaky_relu_backward_op(grad_output: Tensor, saved: Tensor, negative_slope: float,
                           from_output: bool) -> Tensor:
    check_backward_args(grad_output, saved, negative_slope, from_output)
    return leaky_relu_backward_new(grad_output, saved, negative_slope, from_output)


@leaky_relu_backward_op.register_fake
def _(grad_output: Tensor, saved: Tensor, negative_slope: float, from_output: bool) -> Tensor:
    check_backward_args(grad_output, saved, negative_slope, from_output)
    return torch.empty_like(saved)


def check_backward_args(grad_output: Tensor, saved: Tensor, negative_slope: float,
                        from_output: bool) -> None:
    """What leaky_c.leaky_relu_backward checks, also for fake tensors (it never sees them)."""
    check_dtypes(grad_output=grad_output, saved=saved)
    _check_pair(grad_output, saved, "saved")
    if from_output and negative_slope < 0:
        raise ValueError(f"from_output=True needs negative_slope >= 0, got {negative_slope!r}")


def check_dtypes(**tensors: Tensor) -> None:
    """TypeError naming the first tensor whose dtype leaky_c does not serve."""
    for name, t in tensors.items():
        if t.dtype not in SERVED_DTYPES:
            raise TypeError(f"{name} has dtype {t.dtype}; the leaky_c operators take "
                            f"{', '.join(sorted(str(d) for d in SERVED_DTYPES))}")


def check_prelu_args(x: Tensor, weight: Tensor, grad_output: Optional[Tensor] = None) -> None:
    """PReLU's arguments as the kernels take them: one dtype, one slope or one per channel."""
    check_dtypes(x=x, weight=weight)
    if weight.dtype != x.dtype:
        raise TypeError(f"weight has dtype {weight.dtype} but x has dtype {x.dtype}; "
                        "they must match")
    if weight.dim() > 1 or weight.numel() != 1 and (
            x.dim() < 2 or weight.numel() != x.shape[1]):
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected one slope or one "
                         f"per channel of x (dimension 1 of shape {tuple(x.shape)})")
    if grad_output is not None:
        _check_pair(grad_output, x, "x")


def _check_pair(grad_output: Tensor, other: Tensor, name: str) -> None:
    """grad_output has the dtype (TypeError) and shape (ValueError) of the other tensor."""
    if grad_output.dtype != other.dtype:
        raise TypeError(f"grad_output has dtype {grad_output.dtype} but {name} has dtype "
                        f"{other.dtype}; they must match")
    if grad_output.shape != other.shape:
        raise ValueError(f"grad_output has shape {tuple(grad_output.shape)} but {name} has "
                         f"shape {tuple(other.shape)}; they must match")


def _leaky_relu_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    x, ctx.negative_slope, ctx.save_output = inputs
    ctx.save_for_backward(output if ctx.save_output else x)


def _leaky_relu_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    saved, = ctx.saved_tensors
    return leaky_relu_backward(grad_output, saved, ctx.negative_slope, ctx.save_output,
                               direct=False), None, None


leaky_relu_op.register_autograd(_leaky_relu_grad, setup_context=_leaky_relu_setup)


def _backward_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    _, saved, ctx.negative_slope, ctx.from_output = inputs
    ctx.save_for_backward(saved)


def _backward_grad(ctx: Any, grad_grad_input: Tensor) -> tuple[Any, ...]:
    saved, = ctx.saved_tensors
    # d(grad_input)/d(grad_output) is the same mask; d/d(saved) is zero almost everywhere.
    return (leaky_relu_backward(grad_grad_input, saved, ctx.negative_slope, ctx.from_output,
                                direct=False), None, None, None)


leaky_relu_backward_op.register_autograd(_backward_grad, setup_context=_backward_setup)


@torch.library.custom_op("leaky_c::prelu", mutates_args=(), device_types="cpu")
def prelu_op(x: Tensor, weight: Tensor) -> Tensor:
    check_prelu_args(x, weight)
    return prelu_new(x, weight)


@prelu_op.register_fake
def _(x: Tensor, weight: Tensor) -> Tensor:
    check_prelu_args(x, weight)
    return _prelu_output(x, torch.empty_like)


@torch.library.custom_op("leaky_c::prelu_backward", mutates_args=(), device_types="cpu")
def prelu_backward_op(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    check_prelu_args(x, weight, grad_output)
    return prelu_backward_new(grad_output, x, weight)


@prelu_backward_op.register_fake
def _(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    check_prelu_args(x, weight, grad_output)
    return (_prelu_output(x, torch.empty_like),
            torch.empty_like(weight, memory_format=torch.contiguous_format))


def _prelu_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _prelu_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    x, weight = ctx.saved_tensors
    return prelu_backward(grad_output, x, weight, direct=False)


prelu_op.register_autograd(_prelu_grad, setup_context=_prelu_setup)


def _prelu_backward_grad(ctx: Any, grad_grad_input: Optional[Tensor],
                         grad_grad_weight: Optional[Tensor]) -> tuple[Any, ...]:
    """Gradients of (grad_input, grad_weight) from differentiable aten ops (double backward).

    grad_input = where(x > 0, g, w * g) and grad_weight = sum over x <= 0 of x * g.
    """
    grad_output, x, weight = ctx.saved_tensors
    positive = x >= 0  # PyTorch's double-backward formulas (derivatives.yaml) take >= 0
    zero = x.new_zeros(())
    d_grad = d_x = d_weight = None
    if grad_grad_input is not None:
        dims = [d for d in range(x.dim()) if weight.numel() == 1 or d != 1]
        d_grad = torch.where(positive, grad_grad_input, channel_view(weight, x) * grad_grad_input)
        d_weight = torch.where(positive, zero, grad_output * grad_grad_input).sum(dims)
        d_weight = d_weight.reshape(weight.shape)
    if grad_grad_weight is not None:
        ggw = channel_view(grad_grad_weight, x)
        from_weight = torch.where(positive, zero, x * ggw)
        d_grad = from_weight if d_grad is None else d_grad + from_weight
        d_x = torch.where(positive, zero, grad_output * ggw)
    return d_grad, d_x, d_weight


def _prelu_backward_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
    ctx.save_for_backward(*inputs)


prelu_backward_op.register_autograd(_prelu_backward_grad, setup_context=_prelu_backward_setup)


# -- forward-mode AD and torch.func: the operators complete -----------------------------
#
# torch.library's register_autograd has no forward-mode AD: a dual tensor through
# it would lose its tangent without an error.  So CPU tensors get their own
# autograd kernel (AutogradCPU, which the dispatcher prefers to the Autograd one
# register_autograd made): an autograd.Function with the same setup_context and
# backward, and a jvp with PyTorch's forward-mode formula (derivatives.yaml).  Under
# a torch.func transform (vmap, grad, jvp, ...; an autograd.Function cannot be
# applied from inside the dispatcher there) the kernel runs the PyTorch function
# equal to the operator, whose rules are PyTorch's own.

_AUTOGRAD_LIBRARY = torch.library.Library("leaky_c", "IMPL")


def _leaky_relu_tangent(primals: tuple[Any, ...], tangents: tuple[Any, ...], negative_slope: float,
                        save_output: bool) -> Tensor:
    (x,), (x_t,) = primals, tangents
    tangent: Tensor = torch.ops.aten.leaky_relu_backward(x_t, x, negative_slope, False)
    return tangent


def _leaky_relu_backward_tangent(primals: tuple[Any, ...], tangents: tuple[Any, ...],
                                 negative_slope: float, from_output: bool) -> Tensor:
    (_, saved), (grad_t, _) = primals, tangents  # zero almost everywhere in saved
    tangent: Tensor = torch.ops.aten.leaky_relu_backward(grad_t, saved, negative_slope, from_output)
    return tangent


def _prelu_tangent(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> Tensor:
    (x, weight), (x_t, weight_t) = primals, tangents
    w, w_t = channel_view(weight, x), channel_view(weight_t, x)
    return torch.where(x >= 0, x_t, w * x_t + w_t * x)  # (PyTorch's: >= 0)


def _prelu_backward_tangent(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, ...]:
    (grad, x, weight), (grad_t, x_t, weight_t) = primals, tangents
    w, w_t = channel_view(weight, x), channel_view(weight_t, x)
    positive = x >= 0  # (PyTorch's formulas: >= 0)
    grad_input_t = torch.where(positive, grad_t, grad_t * w + grad * w_t)
    grad_weight_t = torch.where(positive, x.new_zeros(()), grad * x_t + grad_t * x)
    return grad_input_t, grad_weight_t.sum_to_size(w.shape).reshape(weight.shape)


def _register_full_autograd(name: str, op: Any, defaults: tuple[Any, ...], setup: Any,
                            backward: Any, tangent: Any, reference: Any, tensor_count: int,
                            elementwise: bool = False) -> None:
    class Function(torch.autograd.Function):
        @staticmethod
        def forward(*args: Any) -> Any:
            with torch._C._AutoDispatchBelowAutograd():
                return op(*args)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            setup(ctx, inputs, output)
            ctx.save_for_forward(*inputs[:tensor_count])
            ctx.non_tensor_args = inputs[tensor_count:]

        @staticmethod
        def backward(ctx: Any, *grads: Tensor) -> Any:
            return backward(ctx, *grads)

        @staticmethod
        def jvp(ctx: Any, *tangents: Optional[Tensor]) -> Any:
            primals = ctx.saved_tensors
            tangents = tuple(torch.zeros_like(p) if t is None else t
                             for p, t in zip(primals, tangents))
            return tangent(primals, tangents, *ctx.non_tensor_args)

    Function.__name__ = Function.__qualname__ = f"leaky_c_{name}_autograd"
    arity = len(op._opoverload._schema.arguments)

    def kernel(*args: Any) -> Any:
        missing = arity - len(args)  # the dispatcher drops trailing arguments left at default
        args = (*args, *defaults[len(defaults) - missing:]) if missing else args
        if functorch_active():
            return reference(*args)
        return Function.apply(*args)  # type: ignore[no-untyped-call]  # torch leaves it bare
    _AUTOGRAD_LIBRARY.impl(name, kernel, "AutogradCPU")

    if elementwise:
        def vmap_rule(info: Any, in_dims: tuple[Any, ...], *args: Any) -> tuple[Any, ...]:
            """Elementwise: every tensor with its batch dimension first, then the PyTorch
            function (PReLU's operators keep PyTorch's per-sample fallback)."""
            tensors = [t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape)
                       for t, d in zip(args[:tensor_count], in_dims)]
            return reference(*tensors, *args[tensor_count:]), 0
        op.register_vmap(vmap_rule)


_register_full_autograd(
    "leaky_relu", leaky_relu_op, (False,), _leaky_relu_setup, _leaky_relu_grad,
    _leaky_relu_tangent,
    lambda x, negative_slope, save_output=False: torch.nn.functional.leaky_relu(x, negative_slope),
    1, elementwise=True)
_register_full_autograd(
    "leaky_relu_backward", leaky_relu_backward_op, (), _backward_setup, _backward_grad,
    _leaky_relu_backward_tangent, leaky_relu_backward_aten, 2, elementwise=True)
_register_full_autograd("prelu", prelu_op, (), _prelu_setup, _prelu_grad, _prelu_tangent,
                        torch.nn.functional.prelu, 2)
_register_full_autograd("prelu_backward", prelu_backward_op, (), _prelu_backward_setup,
                        _prelu_backward_grad, _prelu_backward_tangent, prelu_backward_aten, 3)
