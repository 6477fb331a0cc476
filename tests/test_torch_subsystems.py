"""leaky_c.torch under PyTorch's eager subsystems, bit for bit with torch.nn.functional.

Every runner x {leaky_relu, leaky_relu_ (in place), prelu, LeakyReLU, PReLU} x
{float32, float64, float16, bfloat16}: tracing (jit.trace, fx.symbolic_trace,
fx with the modules as leaves, jit.script of the modules), every torch.func
transform, dual tensors, batched gradients, double backward, no_grad,
inference_mode, anomaly mode, checkpointing, autocast and nested tensors.
The compiled ones are in tests/test_torch_subsystems_compiled.py.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch==2.13.0)")

import leaky_c.torch as lt  # noqa: E402
from torch_subsystems import (CASES, MODULE_CASES, OURS, THEIRS, compare, forward_backward,  # noqa: E402
                              Wrapper, grad_of, inputs, make, outcome)

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
fwad = torch.autograd.forward_ad
func = torch.func


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # leaky_c's fallback notices, tracer and jit notices
        yield


def summed(fn):
    return lambda t: fn(t).float().sum()


def no_grad(fn, x):
    with torch.no_grad():
        return fn(x)


def inference_mode(fn, x):
    with torch.inference_mode():
        return fn(x.clone())


def anomaly(fn, x):
    with torch.autograd.detect_anomaly(check_nan=False):
        return forward_backward(fn, x)


def checkpoint(fn, x):
    return forward_backward(lambda t: torch.utils.checkpoint.checkpoint(
        fn, t, use_reentrant=False), x)


def checkpoint_reentrant(fn, x):
    return forward_backward(lambda t: torch.utils.checkpoint.checkpoint(
        fn, t, use_reentrant=True), x)


def module_of(fn) -> torch.nn.Module:
    return fn if isinstance(fn, torch.nn.Module) else Wrapper(fn)


def jit_trace(fn, x):
    # Traced on other values than it runs on: a trace that recorded no computation
    # (only the output's allocation) returns garbage.
    with torch.no_grad():
        traced = torch.jit.trace(fn, inputs(x.dtype, seed=7), check_trace=False)
    return (*forward_backward(traced, x), no_grad(traced, x))


def fx_trace(fn, x):
    return forward_backward(torch.fx.symbolic_trace(module_of(fn)), x)


class LeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualified_name):
        return isinstance(m, (lt.LeakyReLU, lt.PReLU)) or super().is_leaf_module(m, qualified_name)


def fx_leaves(fn, x):
    root = torch.nn.Sequential(module_of(fn))
    graph = LeafTracer().trace(root)
    return forward_backward(torch.fx.GraphModule(root, graph), x)


def jit_script(fn, x):  # the modules (leaky_c's compile PyTorch's in their place)
    return forward_backward(torch.jit.script(fn), x)


def grad(fn, x):
    return func.grad(summed(fn))(x)


def vjp(fn, x):
    y, pullback = func.vjp(fn, x)
    return (y, *pullback(grad_of(y)))


def jvp(fn, x):
    return func.jvp(fn, (x,), (grad_of(x),))


def vmap(fn, x):
    return func.vmap(fn)(torch.stack([x, -x])), func.vmap(fn, in_dims=3)(x.unsqueeze(3))


def jacrev(fn, x):
    return func.jacrev(fn)(x)


def jacfwd(fn, x):
    return func.jacfwd(fn)(x)


def hessian(fn, x):
    return func.hessian(summed(fn))(x)


def dual(fn, x):
    with fwad.dual_level():
        result = fwad.unpack_dual(fn(fwad.make_dual(x, grad_of(x))))
        return result.primal, result.tangent


def batched_grads(fn, x):
    leaf = x.clone().requires_grad_(True)
    y = fn(leaf)
    grads = torch.stack([grad_of(y), -grad_of(y), torch.ones_like(y)])
    return torch.autograd.grad(y, leaf, grads, is_grads_batched=True)


def vectorized_jacobian(fn, x):
    return torch.autograd.functional.jacobian(fn, x, vectorize=True)


def double_backward(fn, x):
    leaf = x.clone().requires_grad_(True)
    y = fn(leaf)
    g = grad_of(y).requires_grad_(True)
    first, = torch.autograd.grad(y, leaf, g, create_graph=True)
    second = torch.autograd.grad((first * first).sum(), (leaf, g), allow_unused=True,
                                 materialize_grads=True)
    return (first, *second)


def autocast(fn, x):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return forward_backward(fn, x)


def nested(fn, x):
    return fn(torch.nested.nested_tensor([x[0], x[1, :2]]))


def nested_jagged(fn, x):
    return fn(torch.nested.nested_tensor([x[0], x[1, :2]], layout=torch.jagged)).values()


RUNNERS = {f.__name__: f for f in (
    forward_backward, no_grad, inference_mode, anomaly, checkpoint, checkpoint_reentrant,
    jit_trace, fx_trace, fx_leaves, grad, vjp, jvp, vmap, jacrev, jacfwd, hessian, dual,
    batched_grads, vectorized_jacobian, double_backward, autocast, nested, nested_jagged)}
#: Where PyTorch's own op raises (leaky_c must raise the same error type).
TORCH_RAISES = {("nested", case) for case in CASES} | {
    ("nested_jagged", "prelu"), ("nested_jagged", "PReLU")}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_subsystem_matches_torch(runner, case, dtype):
    want = outcome(RUNNERS[runner], make(case, THEIRS, dtype), inputs(dtype))
    assert isinstance(want, type) == ((runner, case) in TORCH_RAISES), (runner, case, dtype, want)
    compare(RUNNERS[runner], case, dtype, runner)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", MODULE_CASES)
def test_jit_script_of_the_modules(case, dtype):
    compare(jit_script, case, dtype, "jit.script")
    scripted = torch.jit.script(torch.nn.Sequential(make(case, OURS, dtype)))
    assert "leaky_c" not in scripted.code  # PyTorch's module was compiled in its place


def test_jit_script_of_the_functions_is_a_clear_error():
    def fn(x: torch.Tensor) -> torch.Tensor:
        return lt.leaky_relu(x, 0.2)
    with pytest.raises(Exception, match="leaky_relu"):
        torch.jit.script(fn)


def test_fx_graphs_hold_leaky_c():
    for case in CASES:
        fn = make(case, OURS, torch.float32)
        graph = torch.fx.symbolic_trace(module_of(fn)).graph
        assert {n.target for n in graph.nodes if n.op == "call_function"} & {
            lt.leaky_relu, lt.prelu}, case
        root = torch.nn.Sequential(module_of(fn))
        leaves = LeafTracer().trace(root)
        if case in MODULE_CASES:
            assert [n.op for n in leaves.nodes] == ["placeholder", "call_module", "output"]
