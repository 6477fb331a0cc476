"""The defects found by running leaky_c.torch outside plain eager use (issue 20), one test each.

Each failed before the fix: a silent wrong result (1, 2) or an error on a valid
call (3-11).  Expected values come from PyTorch's own ops, never from leaky_c.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch==2.13.0)")

import leaky_c.torch as lt  # noqa: E402
from torch_helpers import assert_same, torch_error  # noqa: E402

F = torch.nn.functional


@pytest.fixture(autouse=True)
def quiet_fallbacks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fallbacks' notices
        yield


def x8():
    return torch.tensor([-3.0, -1.0, -0.0, 0.0, 0.5, 2.0, -0.25, 4.0])


@pytest.mark.parametrize("modules", [(lt.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
                                     (lt.PReLU(), torch.nn.PReLU())], ids=["LeakyReLU", "PReLU"])
def test_1_jit_trace_records_the_computation(modules):
    ours, theirs = modules
    with torch.no_grad():
        traced = torch.jit.trace(ours, torch.randn(2, 4))
        assert_same(traced(-3 * torch.ones(2, 4)), theirs(-3 * torch.ones(2, 4)))


def test_2_compiled_forward_mode_ad_gives_the_tangents():
    x = x8()
    for ours, theirs in [(lambda t: lt.leaky_relu(t, 0.1), lambda t: F.leaky_relu(t, 0.1)),
                         (lambda t: lt.prelu(t, torch.tensor([0.25])),
                          lambda t: F.prelu(t, torch.tensor([0.25])))]:
        got = torch.compile(lambda: torch.func.jvp(ours, (x,), (torch.ones_like(x),))[1],
                            backend="aot_eager")()
        assert_same(got, torch.func.jvp(theirs, (x,), (torch.ones_like(x),))[1])
        got = torch.compile(lambda: torch.func.jacfwd(ours)(x), backend="aot_eager")()
        assert_same(got, torch.func.jacfwd(theirs)(x))


def test_2_a_dual_tensor_keeps_its_tangent_through_a_compiled_function():
    fwad = torch.autograd.forward_ad
    compiled = torch.compile(lambda t: lt.leaky_relu(t, 0.1), backend="aot_eager")
    with fwad.dual_level():
        got = fwad.unpack_dual(compiled(fwad.make_dual(x8(), torch.ones(8)))).tangent
        want = fwad.unpack_dual(F.leaky_relu(fwad.make_dual(x8(), torch.ones(8)), 0.1)).tangent
    assert got is not None
    assert_same(got, want)


@pytest.mark.parametrize("transform", [torch.func.grad, torch.func.jacrev])
def test_3_compiled_grad_and_jacrev(transform):
    x = x8()

    def reduce(f):
        return (lambda t: f(t).sum()) if transform is torch.func.grad else f
    for ours, theirs in [(lambda t: lt.leaky_relu(t, 0.1), lambda t: F.leaky_relu(t, 0.1)),
                         (lambda t: lt.prelu(t, torch.tensor([0.25])),
                          lambda t: F.prelu(t, torch.tensor([0.25])))]:
        got = torch.compile(lambda: transform(reduce(ours))(x), backend="aot_eager")()
        assert_same(got, transform(reduce(theirs))(x))


def test_4_batched_gradients_on_the_default_path():
    def batched(f, *inputs):
        leaves = [t.detach().requires_grad_(True) for t in inputs]
        return torch.autograd.grad(f(*leaves), leaves, torch.eye(3), is_grads_batched=True)
    x, weight = torch.tensor([-2.0, 0.0, 3.0]), torch.tensor([0.25])
    for got, want in [
            (batched(lambda t: lt.leaky_relu(t, 0.1), x), batched(lambda t: F.leaky_relu(t, 0.1), x)),
            (batched(lt.prelu, x, weight), batched(F.prelu, x, weight))]:
        for g, w in zip(got, want):
            assert_same(g, w)
    jacobian, hessian = torch.autograd.functional.jacobian, torch.autograd.functional.hessian
    assert_same(jacobian(lambda t: lt.prelu(t, weight), x, vectorize=True),
                jacobian(lambda t: F.prelu(t, weight), x, vectorize=True))
    assert_same(hessian(lambda t: lt.leaky_relu(t, 0.1).pow(2).sum(), x, vectorize=True),
                hessian(lambda t: F.leaky_relu(t, 0.1).pow(2).sum(), x, vectorize=True))


def test_5_compiled_autograd():
    def step(leaky_relu, prelu_module):
        x = torch.tensor([[-2.0, 0.5, 3.0], [1.0, -1.0, 0.0]], requires_grad=True)
        with torch.no_grad():
            prelu_module.weight.copy_(torch.tensor([0.25, -0.5, 1.5]))
        leaky_relu(prelu_module(x), 0.1).pow(2).sum().backward()
        return x.grad, prelu_module.weight.grad
    want = step(F.leaky_relu, torch.nn.PReLU(3))
    torch._dynamo.reset()
    with torch._dynamo.compiled_autograd._enable(torch.compile(backend="aot_eager")):
        got = step(lt.leaky_relu, lt.PReLU(3))
    assert_same(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_6_no_grad_model_compiles_and_exports_in_one_graph(mode):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), lt.LeakyReLU(0.01, inplace=True), lt.PReLU(8))
    x = torch.randn(2, 4)
    with mode():
        want = model(x)
        assert_same(torch.compile(model, fullgraph=True, backend="aot_eager")(x), want)
        if mode is torch.no_grad:
            assert_same(torch.export.export(model, (x,), strict=True).module()(x), want)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_7_compiled_inplace_with_a_negative_slope_behaves_as_torch(backend):
    # PyTorch's compiled op runs the forward; its backward raises under aot_eager and
    # gives the input's gradient under inductor (functionalized): leaky_c does the same.
    def step(leaky_relu):
        torch._dynamo.reset()
        x = torch.tensor([-2.0, -0.5, 0.0, 3.0], requires_grad=True)
        y = torch.compile(lambda t: leaky_relu(t * 1, -0.5, inplace=True), backend=backend)(x)
        try:
            y.sum().backward()
        except RuntimeError as error:
            return y, str(error)
        return y, x.grad
    got, want = step(lt.leaky_relu), step(F.leaky_relu)
    assert_same(got[0], want[0])
    if isinstance(want[1], str):
        assert got[1] == want[1]
    else:
        assert_same(got[1], want[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_8_prelu_backward_of_a_0d_input(dtype):
    def grads(prelu):
        x = torch.tensor(-2.0, dtype=dtype, requires_grad=True)
        weight = torch.tensor([0.25], dtype=dtype, requires_grad=True)
        prelu(x, weight).backward()
        return x.grad, weight.grad
    for got, want in zip(grads(lt.prelu), grads(F.prelu)):
        assert_same(got, want)


@pytest.mark.parametrize("case", ["transposed", "inplace", "requires_grad", "large"])
def test_9_nested_tensors_get_torchs_error(case):
    parts = [torch.randn(2, 3), torch.randn(4, 3)]
    if case == "large":
        parts = [torch.randn(1 << 20), torch.randn(1 << 20)]
    nested = torch.nested.nested_tensor(parts, requires_grad=case == "requires_grad")
    if case == "transposed":
        nested = nested.transpose(1, 2)
    inplace = case == "inplace"
    assert (torch_error(lambda: lt.leaky_relu(nested, 0.1, inplace))[0]
            is torch_error(lambda: F.leaky_relu(nested, 0.1, inplace))[0] is NotImplementedError)


def test_10_prelu_accepts_numpy_integers_as_torch_does():
    ours, theirs = lt.PReLU(np.int64(3)), torch.nn.PReLU(np.int64(3))
    assert ours.weight.shape == theirs.weight.shape == (3,)


def test_11_fx_symbolic_trace_of_a_model_holding_leaky_c_modules():
    model = torch.nn.Sequential(lt.LeakyReLU(0.2), lt.PReLU(4))
    reference = torch.nn.Sequential(torch.nn.LeakyReLU(0.2), torch.nn.PReLU(4))
    x = torch.tensor([[-2.0, 0.5, -0.0, 3.0]])
    traced = torch.fx.symbolic_trace(model)
    assert_same(traced(x), reference(x))
    assert {node.target for node in traced.graph.nodes if node.op == "call_function"} == {
        lt.leaky_relu, lt.prelu}
