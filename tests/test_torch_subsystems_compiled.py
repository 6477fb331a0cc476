"""leaky_c.torch under torch.compile, torch.export and compiled autograd, bit for bit with
torch.nn.functional, for {leaky_relu, leaky_relu_ (in place), prelu, LeakyReLU, PReLU}.

Compiling costs seconds per function on a 2-core machine, so this matrix is
lean, in float32: inductor (the default backend) for compile default /
fullgraph / dynamic, one function holding all five call forms, compared with
eager PyTorch; ``aot_eager`` (the same dynamo and AOTAutograd tracing, no code
generation) for the rest, each form on its own, compared with PyTorch's ops
through the same compiled runner.  Dynamo's caches are reset around each
compilation, so nothing runs a stale graph or falls back to eager after too
many recompiles.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch==2.13.0)")

from torch_helpers import assert_same  # noqa: E402
from torch_subsystems import (CASES, OURS, THEIRS, compare, forward_backward, grad_of,  # noqa: E402
                              Wrapper, inputs, make, outcome)

func = torch.func
fwad = torch.autograd.forward_ad


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch._dynamo.reset()


def all_cases(ns, dtype) -> torch.nn.Module:
    """One module calling every case, each on its own input."""
    class AllCases(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fns = [make(case, ns, dtype) for case in CASES]
            self.modules_ = torch.nn.ModuleList(
                f for f in self.fns if isinstance(f, torch.nn.Module))

        def forward(self, *xs):
            return tuple(fn(x) for fn, x in zip(self.fns, xs))
    return AllCases()


def forward_backward_all(fn, xs) -> tuple:
    leaves = [x.clone().requires_grad_(True) for x in xs]
    ys = fn(*leaves)
    return (*ys, *torch.autograd.grad(ys, leaves, [grad_of(y) for y in ys]))


@pytest.mark.parametrize("options", [{}, {"fullgraph": True}, {"dynamic": True}],
                         ids=["default", "fullgraph", "dynamic"])
def test_inductor_compile_matches_eager_torch(options):
    xs = [inputs(torch.float32, seed) for seed in range(len(CASES))]
    want = forward_backward_all(all_cases(THEIRS, torch.float32), xs)
    got = forward_backward_all(torch.compile(all_cases(OURS, torch.float32), **options), xs)
    for i, (g, w) in enumerate(zip(got, want)):
        case = CASES[i % len(CASES)]
        assert_same(g, w, f"inductor {options} {case}: {'output' if i < len(CASES) else 'grad'}")


def compiled_no_grad(fn, x):
    with torch.no_grad():
        return torch.compile(fn, fullgraph=True, backend="aot_eager")(x)


def exported(strict: bool):
    def runner(fn, x):
        program = torch.export.export(Wrapper(fn), (x,), strict=strict)
        return forward_backward(program.module(), x)
    return runner


def compiled_transform(transform):
    def runner(fn, x):
        return torch.compile(lambda t: transform(fn, t), backend="aot_eager", fullgraph=True)(x)
    return runner


TRANSFORMS = {
    "grad": lambda fn, x: func.grad(lambda t: fn(t).sum())(x),
    "vjp": lambda fn, x: func.vjp(fn, x)[1](grad_of(x)),
    "jvp": lambda fn, x: func.jvp(fn, (x,), (grad_of(x),)),
    "vmap": lambda fn, x: func.vmap(fn)(torch.stack([x, -x])),
    "jacrev": lambda fn, x: func.jacrev(fn)(x),
    "jacfwd": lambda fn, x: func.jacfwd(fn)(x),
    "hessian": lambda fn, x: func.hessian(lambda t: fn(t).sum())(x),
}


def dual_into_compiled(fn, x):
    compiled_fn = torch.compile(fn, backend="aot_eager")
    with fwad.dual_level():
        result = fwad.unpack_dual(compiled_fn(fwad.make_dual(x, grad_of(x))))
        return result.primal, result.tangent


def compiled_autograd(fn, x):
    with torch._dynamo.compiled_autograd._enable(torch.compile(backend="aot_eager")):
        return forward_backward(fn, x)


RUNNERS = {
    "compile_no_grad_fullgraph": compiled_no_grad,
    "export_strict": exported(True),
    "export_non_strict": exported(False),
    "dual_into_compiled": dual_into_compiled,
    "compiled_autograd": compiled_autograd,
    **{f"compiled_{name}": compiled_transform(t) for name, t in TRANSFORMS.items()},
}
#: Where PyTorch's own op raises (leaky_c must raise the same error type): a dual
#: tensor into a compiled nn.PReLU (NotImplementedError from PyTorch's compiled PReLU).
TORCH_RAISES = {("dual_into_compiled", "PReLU")}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_compiled_subsystem_matches_torch(runner, case):
    dtype = torch.float32
    want = outcome(RUNNERS[runner], make(case, THEIRS, dtype), inputs(dtype))
    assert isinstance(want, type) == ((runner, case) in TORCH_RAISES), (runner, case, want)
    torch._dynamo.reset()
    compare(RUNNERS[runner], case, dtype, runner)


def test_fullgraph_compile_of_our_calls_keeps_leaky_c_ops_in_the_graph():
    for case in CASES:
        explanation = torch._dynamo.explain(make(case, OURS, torch.float32))(inputs(torch.float32))
        assert explanation.graph_break_count == 0, case
        ops = [str(op) for ops in explanation.ops_per_graph for op in ops]
        assert any(op.startswith("leaky_c.") for op in ops), (case, ops)
