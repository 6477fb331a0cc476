"""leaky_c.torch against PyTorch's own LeakyReLU and PReLU: same bits, same gradients.

The expected values always come from PyTorch (torch.nn.functional and its
autograd), never from leaky_c.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

import leaky_c  # noqa: E402
import leaky_c.torch as lt  # noqa: E402
from arrays import assert_bits_equal, layouts  # noqa: E402
from torch_helpers import as_tensor, assert_same, paths, served, spy_on, torch_error  # noqa: E402,F401

SLOPES = (0.0, 0.01, 0.2, 1.5, -0.5)
TORCH_DTYPES = (torch.float32, torch.float64)
NUMPY_DTYPES = (np.float32, np.float64)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Calls into leaky_c's Leaky ReLU kernels during the test."""
    return spy_on(monkeypatch, "leaky_relu", "leaky_relu_backward")


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("slope", SLOPES)
def test_forward_and_backward_bits_match_torch(dtype, slope, kernel_calls):
    for case in layouts(dtype):
        x_ref = as_tensor(case.array).clone().requires_grad_(True)
        x_ours = x_ref.detach().clone().requires_grad_(True)
        want = torch.nn.functional.leaky_relu(x_ref, slope)
        got = lt.leaky_relu(x_ours, slope)
        assert_same(got, want, f"forward {case.label} slope={slope}")
        assert got.numel() == 0 or got.stride() == want.stride(), case.label
        grad = as_tensor(np.random.default_rng(1).standard_normal(case.array.shape)
                         .astype(dtype))
        want.backward(grad)
        got.backward(grad)
        assert_same(x_ours.grad, x_ref.grad, f"backward {case.label} slope={slope}")
    assert "leaky_relu" in kernel_calls and "leaky_relu_backward" in kernel_calls


@pytest.mark.parametrize("slope", SLOPES)
def test_gradcheck_float64(slope):
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    # Keep away from the kink at 0, where finite differences straddle two slopes.
    with torch.no_grad():
        x[x.abs() < 0.05] += 0.2
    assert torch.autograd.gradcheck(lambda t: lt.leaky_relu(t, slope), (x,))
    assert torch.autograd.gradgradcheck(lambda t: lt.leaky_relu(t, slope), (x,))
    if slope >= 0:
        assert torch.autograd.gradcheck(lambda t: lt.leaky_relu(t * 1, slope, inplace=True), (x,))
        assert torch.autograd.gradgradcheck(
            lambda t: lt.leaky_relu(t * 1, slope, inplace=True), (x,))


def make_mlp(activation: type, seed: int, dtype, **kwargs):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(12, 32), activation(**kwargs), torch.nn.Linear(32, 32),
        activation(**kwargs), torch.nn.Linear(32, 3)).to(dtype)


def train(model, steps: int, dtype) -> tuple[list, list]:
    generator = torch.Generator().manual_seed(123)
    inputs = torch.randn(64, 12, generator=generator, dtype=dtype)
    targets = torch.randint(0, 3, (64,), generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses, grads = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        losses.append(loss.detach().clone())
        grads.append([p.grad.clone() for p in model.parameters()])
        optimizer.step()
    return losses, grads


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("inplace", [False, True], ids=["out-of-place", "inplace"])
def test_mlp_training_is_bit_identical_to_torch(dtype, inplace, kernel_calls):
    kwargs = {"negative_slope": 0.1, "inplace": inplace}
    theirs = make_mlp(torch.nn.LeakyReLU, 0, dtype, **kwargs)
    ours = make_mlp(lt.LeakyReLU, 0, dtype, **kwargs)
    want_losses, want_grads = train(theirs, 6, dtype)
    got_losses, got_grads = train(ours, 6, dtype)
    for step, (got, want) in enumerate(zip(got_losses, want_losses)):
        assert_same(got, want, f"loss at step {step}")
    for step, (got_step, want_step) in enumerate(zip(got_grads, want_grads)):
        for index, (got, want) in enumerate(zip(got_step, want_step)):
            assert_same(got, want, f"gradient of parameter {index} at step {step}")
    # The run went through leaky_c, and it learnt something.
    assert kernel_calls.count("leaky_relu") == 2 * 6
    assert want_losses[-1] < want_losses[0]


def test_inplace_returns_and_overwrites_its_input(kernel_calls):
    base = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    want_base = base.detach().clone().requires_grad_(True)
    hidden = base * 2
    out = lt.leaky_relu(hidden, 0.2, inplace=True)
    assert out is hidden
    want = torch.nn.functional.leaky_relu(want_base * 2, 0.2, inplace=True)
    assert_same(out, want)
    out.sum().backward()
    want.sum().backward()
    assert_same(base.grad, want_base.grad)
    assert kernel_calls == ["leaky_relu", "leaky_relu_backward(from_output)"]


def test_inplace_module_in_a_model_without_grad():
    model = torch.nn.Sequential(torch.nn.Linear(5, 5), lt.LeakyReLU(0.3, inplace=True))
    x = torch.randn(7, 5)
    with torch.no_grad():
        got = model(x)
        want = torch.nn.functional.leaky_relu(model[0](x), 0.3)
    assert_same(got, want)


def test_inplace_negative_slope_follows_torch():
    def run(leaky_relu):
        x = torch.randn(6, dtype=torch.float64, requires_grad=True)
        leaky_relu(x * 1, -0.5, inplace=True).sum().backward()
    want_type, want_message = torch_error(lambda: run(torch.nn.functional.leaky_relu))
    got_type, got_message = torch_error(lambda: run(lt.leaky_relu))
    assert got_type is want_type is RuntimeError
    assert want_message.startswith(got_message)
    # Without a backward pass the negative slope is fine, as in PyTorch.
    x = torch.randn(6)
    assert_same(lt.leaky_relu(x.clone(), -0.5, inplace=True),
                torch.nn.functional.leaky_relu(x.clone(), -0.5, inplace=True))


@pytest.mark.parametrize("view", [False, True], ids=["leaf", "view-of-leaf"])
def test_inplace_on_a_leaf_that_requires_grad_raises_like_torch_and_writes_nothing(view):
    def run(leaky_relu):
        leaf = torch.tensor([-1.0, 2.0, -3.0], requires_grad=True)
        before = leaf.detach().clone()
        error = torch_error(lambda: leaky_relu(leaf[:2] if view else leaf, 0.1, inplace=True))
        assert_same(leaf, before)
        return error
    want_type, want_message = run(torch.nn.functional.leaky_relu)
    assert run(lt.leaky_relu) == (want_type, want_message)
    assert "leaf" in want_message


def test_inplace_without_grad_still_invalidates_saved_tensors():
    def run(leaky_relu):
        weight = torch.randn(3, requires_grad=True)
        hidden = torch.randn(3)
        product = weight * hidden  # saves hidden for weight's gradient
        leaky_relu(hidden, 0.1, inplace=True)
        product.sum().backward()
    want_type, want_message = torch_error(lambda: run(torch.nn.functional.leaky_relu))
    got_type, got_message = torch_error(lambda: run(lt.leaky_relu))
    assert got_type is want_type is RuntimeError
    assert "modified by an inplace operation" in want_message
    assert "modified by an inplace operation" in got_message


def test_inplace_on_an_inference_tensor_follows_torch():
    with torch.inference_mode():
        x = torch.randn(4)
        inside = lt.leaky_relu(x.clone(), 0.1, inplace=True)
        assert_same(inside, torch.nn.functional.leaky_relu(x, 0.1))
    want = torch_error(lambda: torch.nn.functional.leaky_relu(x, 0.1, inplace=True))
    with pytest.warns(RuntimeWarning, match="inference tensor"):
        assert torch_error(lambda: lt.leaky_relu(x, 0.1, inplace=True)) == want


def test_inplace_on_a_non_contiguous_view_runs_leaky_c(kernel_calls, paths):
    base = torch.randn(4, 6, dtype=torch.float64)
    want = base.clone()
    torch.nn.functional.leaky_relu(want[:, ::2], 0.1, inplace=True)
    view = base[:, ::2]
    assert lt.leaky_relu(view, 0.1, inplace=True) is view
    assert_same(base, want)
    assert kernel_calls == ["leaky_relu"]
    assert paths == {("leaky_relu", "direct"): 1}


def test_inplace_on_overlapping_memory_gets_torchs_error(paths):
    x = torch.randn(1, 3).expand(4, 3)
    want = torch_error(lambda: torch.nn.functional.leaky_relu(x, 0.1, inplace=True))
    with pytest.warns(RuntimeWarning, match="overlap"):
        assert torch_error(lambda: lt.leaky_relu(x, 0.1, inplace=True)) == want
    assert paths == {("leaky_relu", "torch"): 1}


@pytest.mark.parametrize("dtype", served(torch.float16, torch.bfloat16), ids=str)
def test_16_bit_floats_run_leaky_c_bit_exact(dtype, kernel_calls):
    # Random values (no NaN, whose 16-bit payloads PyTorch's own paths disagree on).
    x_ref = torch.randn(5, 3, 7, dtype=torch.float64).to(dtype).requires_grad_(True)
    x_ours = x_ref.detach().clone().requires_grad_(True)
    want, got = torch.nn.functional.leaky_relu(x_ref, 0.1), lt.leaky_relu(x_ours, 0.1)
    assert_same(got, want)
    grad = torch.randn(5, 3, 7, dtype=torch.float64).to(dtype)
    want.backward(grad)
    got.backward(grad)
    assert_same(x_ours.grad, x_ref.grad)
    assert kernel_calls == ["leaky_relu", "leaky_relu_backward"]


def test_meta_tensors_run_the_operator(kernel_calls, paths):
    x = torch.randn(5, 3, device="meta").requires_grad_(True)
    got = lt.leaky_relu(x, 0.1)
    assert (got.device.type, got.dtype, got.shape) == ("meta", x.dtype, x.shape)
    assert got.grad_fn is not None
    assert kernel_calls == []
    assert paths == {("leaky_relu", "op"): 1}


def test_integer_tensors_get_torchs_error_and_the_fallback_is_counted(paths):
    want_type, want_message = torch_error(lambda: torch.nn.functional.leaky_relu(torch.arange(3)))
    with pytest.warns(RuntimeWarning, match="dtype torch.int64"):
        got_type, got_message = torch_error(lambda: lt.leaky_relu(torch.arange(3)))
    assert (got_type, got_message) == (want_type, want_message)
    assert paths == {("leaky_relu", "torch"): 1}


def test_functorch_transforms_fall_back_visibly(paths):
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="torch.func transform"):
        got = torch.func.vmap(lambda row: lt.leaky_relu(row, 0.1))(x)
    assert_same(got, torch.nn.functional.leaky_relu(x, 0.1))
    got_grad = torch.func.grad(lambda t: lt.leaky_relu(t, 0.1).sum())(x)
    want_grad = torch.func.grad(lambda t: torch.nn.functional.leaky_relu(t, 0.1).sum())(x)
    assert_same(got_grad, want_grad)
    assert paths == {("leaky_relu", "torch"): 2}


def test_a_fallback_warns_once_per_reason(paths):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            torch_error(lambda: lt.leaky_relu(torch.arange(3)))
    assert len(caught) == 1 and "dtype torch.int64" in str(caught[0].message)
    assert paths == {("leaky_relu", "torch"): 3}


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="input"):
        lt.leaky_relu(np.ones(3))
    with pytest.raises(TypeError, match="negative_slope"):
        lt.leaky_relu(torch.ones(3), "0.1")
    with pytest.raises(ValueError, match="negative_slope"):
        lt.LeakyReLU(float("nan"))
    with pytest.raises(TypeError, match="num_parameters"):
        lt.PReLU(2.0)
    with pytest.raises(ValueError, match="num_parameters"):
        lt.PReLU(0)


def test_module_repr_matches_torch():
    assert repr(lt.LeakyReLU(0.2, inplace=True)) == repr(torch.nn.LeakyReLU(0.2, inplace=True))
    assert repr(lt.LeakyReLU()) == repr(torch.nn.LeakyReLU())
    assert repr(lt.PReLU(3)) == repr(torch.nn.PReLU(3))


@pytest.mark.parametrize("num_parameters", [1, 3])
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_prelu_matches_torch(num_parameters, dtype):
    ours = lt.PReLU(num_parameters, init=0.25, dtype=dtype)
    theirs = torch.nn.PReLU(num_parameters, init=0.25, dtype=dtype)
    assert_same(ours.weight, theirs.weight)
    with torch.no_grad():
        ours.weight.copy_(torch.linspace(-0.5, 0.75, num_parameters, dtype=dtype))
        theirs.weight.copy_(ours.weight)
    x = torch.randn(4, 3, 5, 2, dtype=dtype)
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, want = ours(x_ours), theirs(x_theirs)
    assert_same(got, want)
    grad = torch.randn_like(x)
    got.backward(grad)
    want.backward(grad)
    assert_same(x_ours.grad, x_theirs.grad)
    # The slope gradient is a sum: equal to summation-order tolerance.
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)


def test_prelu_runs_leaky_c_kernels(monkeypatch):
    calls = spy_on(monkeypatch, "prelu", "prelu_backward")
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lt.prelu, (x, weight))
    assert {"prelu", "prelu_backward"} <= set(calls)


def test_prelu_channel_mismatch_raises_torchs_error():
    x = torch.randn(2, 4, 3)
    weight = torch.full((3,), 0.25)
    want_type, want_message = torch_error(lambda: torch.nn.functional.prelu(x, weight))
    with pytest.warns(RuntimeWarning, match="does not fit"):
        got_type, got_message = torch_error(lambda: lt.prelu(x, weight))
    assert (got_type, got_message) == (want_type, want_message)
