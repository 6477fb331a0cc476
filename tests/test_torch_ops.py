"""The custom operators torch.ops.leaky_c.*: opcheck, double backward, layouts, tensor flags.

Expected values come from PyTorch (torch.nn.functional and its autograd).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

import leaky_c  # noqa: E402
import leaky_c.torch as lt  # noqa: E402
from torch_helpers import assert_same, paths, served, spy_on  # noqa: E402,F401

F = torch.nn.functional
OPS = torch.ops.leaky_c
DTYPES = served(torch.float32, torch.float64, torch.float16, torch.bfloat16)


@pytest.fixture
def op_path():
    """Every call leaky_c serves goes through torch.ops.leaky_c, as under compile."""
    lt.use_direct_path(False)
    yield
    lt.use_direct_path(True)


def sample(dtype, contiguous: bool, requires_grad: bool, seed: int = 0):
    """(4, 3, 5, 6) values of both signs with zeros; non-contiguous: a strided, permuted view."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, 10, 6, generator=generator, dtype=torch.float64)
    x[0, 0, :2] = 0.0
    x = x.to(dtype)
    x = x[:, :, ::2] if contiguous is False else x[:, :, :5].contiguous()
    if contiguous is False:
        assert not x.is_contiguous()
    return x.requires_grad_(requires_grad)


@pytest.mark.parametrize("requires_grad", [False, True], ids=["no-grad", "requires-grad"])
@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "strided"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_opcheck(dtype, contiguous, requires_grad):
    x = sample(dtype, contiguous, requires_grad)
    grad = sample(dtype, contiguous, requires_grad, seed=1)
    weight = torch.tensor([0.25, -0.5, 1.5], dtype=dtype, requires_grad=requires_grad)
    one_weight = torch.tensor([0.1], dtype=dtype, requires_grad=requires_grad)
    cases = [
        (OPS.leaky_relu, (x, 0.1)),
        (OPS.leaky_relu, (x, -0.5, False)),
        (OPS.leaky_relu, (x, 0.1, True)),
        (OPS.leaky_relu_, (x.detach().clone(), 0.1)),
        (OPS.leaky_relu_backward, (grad, x, 0.1, False)),
        (OPS.leaky_relu_backward, (grad, x, 0.2, True)),
        (OPS.prelu, (x, weight)),
        (OPS.prelu, (x, one_weight)),
        (OPS.prelu_backward, (grad, x, weight)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


BAD_CALLS = [
    (TypeError, "x has dtype torch.int64", lambda t: OPS.leaky_relu(t(torch.arange(3)), 0.1)),
    (TypeError, "x has dtype torch.int64", lambda t: OPS.leaky_relu_(t(torch.arange(3)), 0.1)),
    (ValueError, "negative_slope", lambda t: OPS.leaky_relu_backward(
        t(torch.ones(3)), t(torch.ones(3)), -0.5, True)),
    (ValueError, "grad_output has shape", lambda t: OPS.leaky_relu_backward(
        t(torch.ones(2)), t(torch.ones(3)), 0.1, False)),
    (TypeError, "grad_output has dtype", lambda t: OPS.leaky_relu_backward(
        t(torch.ones(3, dtype=torch.float64)), t(torch.ones(3)), 0.1, False)),
    (ValueError, "weight has shape", lambda t: OPS.prelu(t(torch.ones(2, 3)), t(torch.ones(2)))),
    (TypeError, "weight has dtype", lambda t: OPS.prelu(
        t(torch.ones(2, 3)), t(torch.ones(3, dtype=torch.float64)))),
    (ValueError, "grad_output has shape", lambda t: OPS.prelu_backward(
        t(torch.ones(2, 4)), t(torch.ones(2, 3)), t(torch.ones(3)))),
]


@pytest.mark.parametrize("fake", [False, True], ids=["cpu-kernel", "fake-kernel"])
@pytest.mark.parametrize("error, match, call", BAD_CALLS, ids=[b[1] for b in BAD_CALLS])
def test_bad_operator_arguments_are_named(error, match, call, fake):
    """The CPU and the fake kernels raise the same errors (compile meets them at trace time)."""
    if not fake:
        with pytest.raises(error, match=match):
            call(lambda t: t)
        return
    with torch._subclasses.FakeTensorMode() as mode:
        with pytest.raises(error, match=match):
            call(mode.from_tensor)


def away_from_zero(x):
    """Finite differences straddle two slopes at the kink; keep the inputs off it."""
    with torch.no_grad():
        x[x.abs() < 0.05] += 0.2
    return x


@pytest.mark.parametrize("path", ["direct", "op"])
def test_double_backward_leaky_relu(path, request):
    if path == "op":
        request.getfixturevalue("op_path")
    x = away_from_zero(torch.randn(4, 5, dtype=torch.float64)).requires_grad_(True)
    for slope in (0.0, 0.2, -0.5):
        assert torch.autograd.gradgradcheck(lambda t: lt.leaky_relu(t, slope), (x,))
    assert torch.autograd.gradgradcheck(lambda t: lt.leaky_relu(t * 1, 0.2, inplace=True), (x,))


@pytest.mark.parametrize("path", ["direct", "op"])
@pytest.mark.parametrize("channels", [1, 3])
def test_double_backward_prelu(channels, path, request):
    if path == "op":
        request.getfixturevalue("op_path")
    x = away_from_zero(torch.randn(2, 3, 4, dtype=torch.float64)).requires_grad_(True)
    weight = torch.linspace(-0.5, 0.75, channels, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lt.prelu, (x, weight))
    assert torch.autograd.gradgradcheck(lt.prelu, (x, weight))


def test_gradient_penalty_through_prelu_matches_torch():
    """The use case of double backward: a penalty on the input gradient's norm."""
    def penalty(prelu, x, weight):
        y = prelu(x, weight)
        grad_x, = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        grad_x.square().sum().backward()
        return x.grad, weight.grad
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    want = penalty(F.prelu, x.clone().requires_grad_(True),
                   torch.full((4,), 0.25, dtype=torch.float64, requires_grad=True))
    got = penalty(lt.prelu, x.clone().requires_grad_(True),
                  torch.full((4,), 0.25, dtype=torch.float64, requires_grad=True))
    # Sums of products in another order: equal to summation tolerance.
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("path", ["direct", "op"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_negative_bit_tensors_match_torch(dtype, path, request, paths):
    if path == "op":
        request.getfixturevalue("op_path")
    base = torch.randn(3, 4, dtype=torch.float64).to(dtype)
    weight = torch.tensor([0.25, -0.5, 1.5, 0.1], dtype=dtype)
    negated = torch._neg_view(base)
    assert negated.is_neg()
    assert_same(lt.leaky_relu(negated, 0.1), F.leaky_relu(negated, 0.1))
    assert_same(lt.prelu(negated, weight), F.prelu(negated, weight))
    assert_same(lt.prelu(base, torch._neg_view(weight)), F.prelu(base, torch._neg_view(weight)))
    # In place: the result is written through the negative view, as PyTorch does.
    ours, theirs = base.clone(), base.clone()
    lt.leaky_relu(torch._neg_view(ours), 0.1, inplace=True)
    F.leaky_relu(torch._neg_view(theirs), 0.1, inplace=True)
    assert_same(ours, theirs)
    # And through autograd.
    x_ours = base.clone().requires_grad_(True)
    x_theirs = base.clone().requires_grad_(True)
    lt.leaky_relu(torch._neg_view(x_ours * 1), 0.1).sum().backward()
    F.leaky_relu(torch._neg_view(x_theirs * 1), 0.1).sum().backward()
    assert_same(x_ours.grad, x_theirs.grad)
    # An in-place call on a negative view runs the operator and copy_ on either path.
    want = collections.Counter({("leaky_relu", path): 2, ("prelu", path): 2})
    want["leaky_relu", "op"] += 1
    assert paths == want


@pytest.mark.parametrize("path", ["direct", "op"])
def test_channels_last_is_kept_bit_exact_without_copies(path, request, monkeypatch):
    if path == "op":
        request.getfixturevalue("op_path")
    shared = []

    def spy(name):
        original = getattr(leaky_c, name)

        def call(*args, **kwargs):
            # The input handed to the kernel is a view of x, not a copy.
            shared.append(np.shares_memory(args[0], x.numpy()))
            return original(*args, **kwargs)
        monkeypatch.setattr(leaky_c, name, call)
    spy("leaky_relu")
    spy("prelu")
    x = torch.randn(2, 3, 4, 5, dtype=torch.float32).to(memory_format=torch.channels_last)
    weight = torch.tensor([0.25, -0.5, 1.5])
    for ours, theirs in [(lt.leaky_relu(x, 0.1), F.leaky_relu(x, 0.1)),
                         (lt.prelu(x, weight), F.prelu(x, weight))]:
        assert ours.is_contiguous(memory_format=torch.channels_last)
        assert ours.stride() == theirs.stride()
        assert_same(ours, theirs)
    assert shared == [True, True]
    # Gradients keep the layout too.
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    w_ours, w_theirs = weight.clone().requires_grad_(True), weight.clone().requires_grad_(True)
    grad = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    lt.prelu(lt.leaky_relu(x_ours, 0.1), w_ours).backward(grad)
    F.prelu(F.leaky_relu(x_theirs, 0.1), w_theirs).backward(grad)
    assert x_ours.grad.stride() == x_theirs.grad.stride()
    assert_same(x_ours.grad, x_theirs.grad)
    torch.testing.assert_close(w_ours.grad, w_theirs.grad)


@pytest.mark.parametrize("path", ["direct", "op"])
def test_inplace_uses_from_output_where_torch_does(path, request, monkeypatch):
    if path == "op":
        request.getfixturevalue("op_path")
    calls = spy_on(monkeypatch, "leaky_relu", "leaky_relu_backward")
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    ours = lt.LeakyReLU(0.2, inplace=True)(x * 2)
    theirs = torch.nn.LeakyReLU(0.2, inplace=True)(x * 2)
    assert_same(ours, theirs)
    grad_ours, = torch.autograd.grad(ours.sum(), x)
    grad_theirs, = torch.autograd.grad(theirs.sum(), x)
    assert_same(grad_ours, grad_theirs)
    assert calls == ["leaky_relu", "leaky_relu_backward(from_output)"]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_op_path_equals_direct_path_and_torch(dtype, op_path, paths):
    x = sample(dtype, False, True)
    weight = torch.tensor([0.25, -0.5, 1.5], dtype=dtype, requires_grad=True)
    grad = sample(dtype, False, False, seed=1)
    for ours, theirs in [(lambda t: lt.leaky_relu(t, 0.1), lambda t: F.leaky_relu(t, 0.1)),
                         (lambda t: lt.prelu(t, weight), lambda t: F.prelu(t, weight))]:
        got, want = ours(x), theirs(x)
        assert_same(got, want)
        assert_same(torch.autograd.grad(got, x, grad)[0], torch.autograd.grad(want, x, grad)[0])
    assert paths == {("leaky_relu", "op"): 1, ("prelu", "op"): 1}


def test_use_direct_path_switches_the_path_and_takes_a_bool(paths):
    with pytest.raises(TypeError, match="enabled"):
        lt.use_direct_path(1)
    x = torch.linspace(-1, 1, 7)
    try:
        lt.use_direct_path(False)
        lt.leaky_relu(x, 0.1)
        lt.use_direct_path(True)
        lt.leaky_relu(x, 0.1)
    finally:
        lt.use_direct_path(True)
    assert [path for (_, path) in paths if paths[_, path]] == ["op", "direct"]


def test_op_path_inplace_errors_follow_torch(op_path, paths):
    def negative_slope_backward(leaky_relu):
        x = torch.randn(6, dtype=torch.float64, requires_grad=True)
        leaky_relu(x * 1, -0.5, inplace=True).sum().backward()

    def leaf(leaky_relu):
        leaky_relu(torch.randn(3, requires_grad=True), 0.1, inplace=True)
    for run in (negative_slope_backward, leaf):
        with pytest.raises(RuntimeError) as want:
            run(F.leaky_relu)
        with pytest.raises(RuntimeError) as got:
            run(lt.leaky_relu)
        assert str(want.value).startswith(str(got.value)), run.__name__
    assert paths == {("leaky_relu", "op"): 2}


@pytest.mark.parametrize("through_api", [False, True], ids=["C-directly", "leaky_c-API"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_small_tensors_call_the_c_directly_with_the_same_bits(dtype, through_api, monkeypatch):
    from leaky_c import _torch_ops
    if through_api:
        monkeypatch.setattr(_torch_ops, "_C_KERNELS", {})  # no C entry: the API's path
    api_calls = []
    for name in ("leaky_relu", "leaky_relu_backward"):
        def call(*args, _original=getattr(leaky_c, name), _name=name, **kwargs):
            api_calls.append(_name)
            return _original(*args, **kwargs)
        monkeypatch.setattr(leaky_c, name, call)
    x = sample(dtype, True, True)
    grad = sample(dtype, True, False, seed=1)
    for slope, inplace in [(0.1, False), (-0.5, False), (0.2, True)]:
        x_ours, x_theirs = x.detach().clone(), x.detach().clone()
        x_ours.requires_grad_(True)
        x_theirs.requires_grad_(True)
        got = lt.leaky_relu(x_ours * 1, slope, inplace)
        want = F.leaky_relu(x_theirs * 1, slope, inplace)
        assert_same(got, want)
        assert_same(torch.autograd.grad(got, x_ours, grad)[0],
                    torch.autograd.grad(want, x_theirs, grad)[0])
    # Without the C (the NumPy backend) every call goes through the API.
    via_api = through_api or leaky_c.backend != "cffi"
    assert api_calls == (["leaky_relu", "leaky_relu_backward"] * 3 if via_api else [])


@pytest.mark.parametrize("path", ["direct", "op"])
def test_new_outputs_from_the_size_threshold_are_advised_huge_pages(path, request, monkeypatch):
    """Every new output of HUGEPAGE_BYTES or more, forward and backward, on each path,
    gets the huge-page advice (lowered here to 4 KiB), and smaller ones do not."""
    if path == "op":
        request.getfixturevalue("op_path")
    from leaky_c import _torch_ops
    advised = []
    monkeypatch.setattr(_torch_ops, "HUGEPAGE_BYTES", 4096)
    monkeypatch.setattr(_torch_ops, "_advise_hugepages", lambda t: advised.append(t.nbytes))
    for n in (1023, 1024):  # float32: just below and at 4 KiB
        advised.clear()
        x = torch.randn(n, requires_grad=True)
        got = lt.leaky_relu(x, 0.1)
        torch.autograd.grad(got, x, torch.ones_like(got))
        assert advised == ([] if n < 1024 else [4096, 4096]), n


def sum_pair(grads):
    """grad_input plus the weight's gradient summed (one tensor to differentiate)."""
    return grads[0] + grads[1].sum()


def test_the_operators_have_forward_mode_ad_and_torch_func_rules():
    # Called directly (leaky_c.torch's functions hand these cases to PyTorch's ops),
    # the operators still give PyTorch's tangents and batching, never a lost tangent.
    fwad, func, F = torch.autograd.forward_ad, torch.func, torch.nn.functional
    ops = torch.ops.leaky_c
    x = torch.tensor([[-2.0, -0.0, 0.5], [3.0, -1.0, 0.0]]).T.contiguous()  # (3, 2): 2 channels
    w, g = torch.tensor([0.25, -0.5]), torch.linspace(-1, 1, 6).reshape(3, 2)
    pairs = [(lambda t: ops.leaky_relu(t, 0.1), lambda t: F.leaky_relu(t, 0.1)),
             (lambda t: ops.leaky_relu_backward(g, t, 0.1, False) + ops.leaky_relu_backward(
                 t, x, 0.1, False), lambda t: torch.ops.aten.leaky_relu_backward(
                 g, t, 0.1, False) + torch.ops.aten.leaky_relu_backward(t, x, 0.1, False)),
             (lambda t: ops.prelu(t, w * t[0, 0]), lambda t: F.prelu(t, w * t[0, 0])),
             (lambda t: sum_pair(ops.prelu_backward(g, t, w * t[0, 0])),
              lambda t: sum_pair(torch.ops.aten._prelu_kernel_backward(
                  g, t, (w * t[0, 0]).reshape(1, 2))))]
    for i, (ours, theirs) in enumerate(pairs):
        with fwad.dual_level():
            got = fwad.unpack_dual(ours(fwad.make_dual(x, g))).tangent
            want = fwad.unpack_dual(theirs(fwad.make_dual(x, g))).tangent
        assert got is not None, i
        assert_same(got, want, f"{i} dual")
        assert_same(func.jvp(ours, (x,), (g,))[1], func.jvp(theirs, (x,), (g,))[1], f"{i} jvp")
        assert_same(func.jacfwd(ours)(x), func.jacfwd(theirs)(x), f"{i} jacfwd")
        assert_same(func.vmap(ours)(torch.stack([x, -x])), func.vmap(theirs)(torch.stack([x, -x])),
                    f"{i} vmap")
        assert_same(func.hessian(lambda t: ours(t).sum())(x),
                    func.hessian(lambda t: theirs(t).sum())(x), f"{i} hessian")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_large_calls_from_several_threads_give_torch_bits(dtype):
    """Contiguous tensors large enough to split, right after PyTorch's parallel ops (the
    main thread's calls may run on its OpenMP team: tests/test_openmp.py), from several
    Python threads at once, and with the team not allowed, give PyTorch's bits."""
    import threading

    from leaky_c import _threads
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(1 << 20, generator=generator, dtype=dtype)
        x[::7] = 0.0
        grad = torch.randn(1 << 20, generator=generator, dtype=dtype)
        want = (F.leaky_relu(x, 0.1), torch.ops.aten.leaky_relu_backward(grad, x, 0.1, False))
        results: list = [None] * 5

        def run(k: int) -> None:
            leaf = x.detach().requires_grad_(True)
            F.leaky_relu(x, 0.01)
            output = lt.leaky_relu(leaf, 0.1)
            output.backward(grad)
            results[k] = (output.detach(), leaf.grad)
        threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
        for thread in threads:
            thread.start()
        run(3)
        for thread in threads:
            thread.join()
        _threads.allow_openmp(False)
        try:
            run(4)
        finally:
            _threads.allow_openmp(True)
        for got in results:
            assert_same(got[0], want[0])
            assert_same(got[1], want[1])
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4)], ids=["0-d", "1-d", "3-d"])
def test_prelu_backward_without_ml_dtypes_keeps_float64(shape, monkeypatch):
    """Without ml_dtypes (no bfloat16), the PReLU backward's hand-over to torch must not
    take float64 for bfloat16 (``dtype == None`` compares with float64 in NumPy): a 0-d
    float64 input raised ValueError there."""
    from leaky_c import _torch_ops

    monkeypatch.setattr(_torch_ops, "_BFLOAT16", None)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(shape, dtype=torch.float64, generator=gen)
    g = torch.randn(shape, dtype=torch.float64, generator=gen)
    weight = torch.tensor([0.25], dtype=torch.float64)
    grad_input, grad_weight = _torch_ops.prelu_backward_new(g, x, weight)
    want_input, want_weight = _torch_ops.prelu_backward_aten(g, x, weight)
    assert_same(grad_input, want_input, f"grad_input {shape}")
    assert grad_weight.dtype == torch.float64 and grad_weight.shape == weight.shape
    torch.testing.assert_close(grad_weight, want_weight, rtol=1e-12, atol=0)
