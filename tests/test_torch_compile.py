"""leaky_c.torch under torch.compile and torch.export: no graph breaks, leaky_c's op in the graph.

Compiling is slow (tens of seconds for a forward plus backward), so there are
few compiled functions, shared through module-scoped fixtures, on small tensors.
Expected values come from eager PyTorch (torch.nn.LeakyReLU, torch.nn.PReLU).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

import leaky_c.torch as lt  # noqa: E402
from leaky_c.benchmarks.models import layout_copies  # noqa: E402
from torch_helpers import assert_same, paths, spy_on  # noqa: E402,F401

F = torch.nn.functional
SHAPE = (2, 3, 4, 5)


def activations(module_types: tuple) -> torch.nn.Sequential:
    leaky_type, prelu_type = module_types
    model = torch.nn.Sequential(leaky_type(0.2), prelu_type(3), leaky_type(0.1, inplace=True))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.25, -0.5, 1.5]))
    return model


def functional(prelu, leaky_relu):
    def fn(x, weight):
        return prelu(leaky_relu(x * 2, 0.2), weight) + leaky_relu(x, -0.5)
    return fn


def inputs(requires_grad: bool):
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0] = 0.0
    return x.requires_grad_(requires_grad)


@pytest.fixture(scope="module")
def compiled_model():
    return torch.compile(activations((lt.LeakyReLU, lt.PReLU)), fullgraph=True)


def graph_operators(explanation) -> list:
    """The operators (OpOverloads) in dynamo's graphs, by name."""
    return [str(op) for ops in explanation.ops_per_graph for op in ops
            if isinstance(op, torch._ops.OpOverload)]


def test_dynamo_finds_no_graph_break_and_keeps_leaky_c_ops():
    model = activations((lt.LeakyReLU, lt.PReLU))
    explanation = torch._dynamo.explain(model)(inputs(True))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0)
    assert graph_operators(explanation) == [
        "leaky_c.leaky_relu.default", "leaky_c.prelu.default", "leaky_c.leaky_relu.default"]
    fn = functional(lt.prelu, lt.leaky_relu)
    explanation = torch._dynamo.explain(fn)(inputs(False), torch.full((3,), 0.25))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0)
    assert graph_operators(explanation) == [
        "leaky_c.leaky_relu.default", "leaky_c.prelu.default", "leaky_c.leaky_relu.default"]


def test_compiled_module_is_bit_identical_to_eager_torch(compiled_model, paths):
    x_ours, x_theirs = inputs(True), inputs(True)
    got = compiled_model(x_ours)
    want = activations((torch.nn.LeakyReLU, torch.nn.PReLU))(x_theirs)
    assert_same(got, want)
    grad = torch.randn(SHAPE)
    got.backward(grad)
    want.backward(grad)
    assert_same(x_ours.grad, x_theirs.grad)
    assert paths == {}  # compiled calls are not counted: the graph holds the ops


def test_compiled_graph_runs_leaky_c_kernels(compiled_model, monkeypatch):
    x = inputs(True)
    compiled_model(x).sum().backward()  # compiled (or cached) before profiling
    calls = spy_on(monkeypatch, "leaky_relu", "leaky_relu_backward", "prelu", "prelu_backward")
    x = inputs(True)
    with torch.profiler.profile() as profile:
        compiled_model(x).sum().backward()
    names = {event.name for event in profile.events()}
    assert {"leaky_c::leaky_relu", "leaky_c::prelu", "leaky_c::leaky_relu_backward",
            "leaky_c::prelu_backward"} <= names
    assert not {"aten::leaky_relu", "aten::leaky_relu_backward", "aten::_prelu_kernel"} & names
    # The C kernels themselves ran, not only operators of that name.
    assert sorted(calls) == sorted(["leaky_relu", "leaky_relu", "prelu",
                                    "leaky_relu_backward", "leaky_relu_backward(from_output)",
                                    "prelu_backward"])


def test_compiled_functional_form_is_bit_identical_to_eager_torch():
    fn = torch.compile(functional(lt.prelu, lt.leaky_relu), fullgraph=True)
    weight = torch.tensor([0.25, -0.5, 1.5])
    x = inputs(False)
    assert_same(fn(x, weight), functional(F.prelu, F.leaky_relu)(x, weight))


def exported_ops(program) -> list:
    return [str(node.target) for node in program.graph.nodes if node.op == "call_function"]


def test_export_captures_leaky_c_ops():
    model = activations((lt.LeakyReLU, lt.PReLU))
    program = torch.export.export(model, (inputs(False),))
    assert exported_ops(program) == [
        "leaky_c.leaky_relu.default", "leaky_c.prelu.default", "leaky_c.leaky_relu.default",
        "aten.copy_.default"]
    x = inputs(False)
    assert_same(program.module()(x), activations((torch.nn.LeakyReLU, torch.nn.PReLU))(x))
    with torch.no_grad():  # the program may run with grad later: the functional op, copied
        program = torch.export.export(model, (inputs(False),))
    assert exported_ops(program)[-2:] == ["leaky_c.leaky_relu.default", "aten.copy_.default"]
    x = inputs(True)
    program.module()(x * 1).backward(torch.ones(SHAPE))
    x_torch = inputs(True)
    activations((torch.nn.LeakyReLU, torch.nn.PReLU))(x_torch * 1).backward(torch.ones(SHAPE))
    assert_same(x.grad, x_torch.grad)


def test_a_fallback_under_compile_shows_in_the_graph(monkeypatch, paths):
    # No CPU dtype that PyTorch computes is unserved, so pretend float64 is.
    monkeypatch.setattr(lt._ops, "SERVED_DTYPES", frozenset({torch.float32}))

    def fn(x):
        return lt.leaky_relu(x, 0.1)
    explanation = torch._dynamo.explain(fn)(torch.ones(3, dtype=torch.float64))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0)
    assert graph_operators(explanation) == []
    assert torch.nn.functional.leaky_relu in explanation.ops_per_graph[0]
    assert paths == {}


def test_channels_last_network_compiles_without_layout_copies():
    """conv -> leaky_c -> conv in channels_last, forward and backward: Inductor hands
    the convolutions' buffers to leaky_c's ops and theirs to the next convolution,
    with no copy kernel, clone or strided copy between them (issue 22 item 4)."""
    from torch._inductor.utils import run_and_get_code

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(4, 4, 3, padding=1), None, torch.nn.Conv2d(4, 4, 3, padding=1)]
    ours = torch.nn.Sequential(*(layer or lt.LeakyReLU(0.1) for layer in layers))
    theirs = torch.nn.Sequential(*(layer or torch.nn.LeakyReLU(0.1) for layer in layers))
    ours, theirs = (m.to(memory_format=torch.channels_last) for m in (ours, theirs))
    x = torch.randn(2, 4, 6, 6).to(memory_format=torch.channels_last)
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    compiled = torch.compile(ours, fullgraph=True)
    grad = torch.randn(2, 4, 6, 6).to(memory_format=torch.channels_last)

    def step():
        output = compiled(x_ours)
        output.backward(grad)  # compiles the backward too
        return output
    got, codes = run_and_get_code(step)
    code = "\n".join(codes)
    assert "torch.ops.leaky_c.leaky_relu.default(" in code
    assert "torch.ops.leaky_c.leaky_relu_backward.default(" in code
    want = theirs(x_theirs)
    want.backward(grad)
    assert_same(got, want)
    assert got.stride() == want.stride()
    assert_same(x_ours.grad, x_theirs.grad)
    assert x_ours.grad.stride() == x_theirs.grad.stride()
    assert layout_copies(code) == []

