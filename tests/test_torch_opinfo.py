"""PyTorch's own test inputs as the judge: the OpInfo and ModuleInfo entries for these ops.

``torch.testing._internal`` ships in the torch wheel; its one extra dependency is
``expecttest``.  For ``nn.functional.leaky_relu`` and ``nn.functional.prelu``
(``op_db``) every sample of ``sample_inputs`` and ``reference_inputs`` runs
through leaky_c.torch and through PyTorch, in float32, float64, float16 and
bfloat16: outputs and input gradients bit for bit (PReLU's weight gradient, a
sum, to summation tolerance); in float64 ``gradcheck`` and ``gradgradcheck``
with PyTorch's batched-gradient and forward-mode checks on; every
``error_inputs`` entry raises PyTorch's error.  The same for the ``module_db``
entries of ``torch.nn.LeakyReLU`` and ``torch.nn.PReLU`` against leaky_c's modules.
"""

from __future__ import annotations

import warnings

import pytest

INSTALL = "needs PyTorch's test helpers: pip install torch==2.13.0 expecttest"
torch = pytest.importorskip("torch", reason=INSTALL)
pytest.importorskip("expecttest", reason=INSTALL)

from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402
from torch.testing._internal.common_modules import module_db  # noqa: E402

import leaky_c.torch as lt  # noqa: E402
from torch_helpers import assert_same, assert_sum_close  # noqa: E402

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
#: PyTorch's OpInfo name -> leaky_c's function taking the same arguments.
OURS = {"nn.functional.leaky_relu": lt.leaky_relu, "nn.functional.prelu": lt.prelu}
OPS = {op.name: op for op in op_db if op.name in OURS and op.variant_test_name == ""}
MODULES = {info.module_cls: info for info in module_db
           if info.module_cls in (torch.nn.LeakyReLU, torch.nn.PReLU)}
OUR_MODULES = {torch.nn.LeakyReLU: lt.LeakyReLU, torch.nn.PReLU: lt.PReLU}
GRADCHECK = dict(check_batched_grad=True, check_forward_ad=True, check_backward_ad=True,
                 check_batched_forward_grad=True, check_undefined_grad=True)
GRADGRADCHECK = dict(check_batched_grad=True, check_fwd_over_rev=True, check_rev_over_rev=True)


@pytest.fixture(autouse=True)
def quiet_fallbacks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # leaky_c's fallback notices
        yield


def test_the_entries_exist():
    assert sorted(OPS) == sorted(OURS) and len(MODULES) == 2


def detached(value, requires_grad: bool):
    """A fresh copy of a sample's tensor argument (other arguments as they are)."""
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(requires_grad and copy.is_floating_point())
    return value


def run(fn, sample, requires_grad: bool) -> tuple:
    """(output, gradients of the tensor arguments or None, the tensor arguments, the
    output's gradient) of fn on a copy of the sample."""
    inputs = [detached(sample.input, requires_grad)]
    args = [detached(a, requires_grad) for a in sample.args]
    kwargs = {k: detached(v, requires_grad) for k, v in sample.kwargs.items()}
    output = fn(*inputs, *args, **kwargs)
    leaves = [t for t in (*inputs, *args, *kwargs.values())
              if isinstance(t, torch.Tensor) and t.requires_grad]
    if not leaves:
        return output, None, leaves, None
    # A fixed gradient with both signs (PyTorch's generator, seeded).
    grad = torch.randn(output.shape, generator=torch.Generator().manual_seed(0)).to(output.dtype)
    return output, torch.autograd.grad(output, leaves, grad), leaves, grad


def compare(op_name, sample, dtype, requires_grad: bool, label: str) -> None:
    want, want_grads, tensors, grad = run(OPS[op_name].op, sample, requires_grad)
    got, got_grads, _, _ = run(OURS[op_name], sample, requires_grad)
    assert_same(got, want, label)
    assert got.stride() == want.stride() or got.numel() <= 1, label
    if want_grads is None:
        return
    assert_same(got_grads[0], want_grads[0], f"{label}: input gradient")
    if len(want_grads) == 2:  # PReLU's weight gradient: a sum
        assert_sum_close(got_grads[1], want_grads[1], *tensors, grad, f"{label}: weight gradient")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("source", ["sample_inputs", "reference_inputs"])
@pytest.mark.parametrize("op_name", sorted(OURS))
def test_samples_match_torch_bit_for_bit(op_name, source, dtype):
    samples = list(getattr(OPS[op_name], source)("cpu", dtype, requires_grad=False))
    assert samples
    for i, sample in enumerate(samples):
        for requires_grad in (False, True):
            compare(op_name, sample, dtype, requires_grad,
                    f"{op_name} {source}[{i}] {dtype} requires_grad={requires_grad}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_leaky_relu_inplace_samples_match_torch(dtype):
    op = OPS["nn.functional.leaky_relu"]
    for i, sample in enumerate(op.sample_inputs("cpu", dtype)):
        ours, theirs = sample.input.clone(), sample.input.clone()
        got = lt.leaky_relu(ours, *sample.args, **sample.kwargs, inplace=True)
        want = op.inplace_variant(theirs, *sample.args, **sample.kwargs)
        assert got is ours, i
        assert_same(ours, theirs, f"in place sample {i}")
        assert_same(got, want, f"in place sample {i}")


def tensor_arguments(sample) -> tuple:
    """The sample's tensors in call order, and a function of them calling fn."""
    names = [k for k, v in sample.kwargs.items() if isinstance(v, torch.Tensor)]
    positions = [i for i, a in enumerate(sample.args) if isinstance(a, torch.Tensor)]
    tensors = [sample.input, *(sample.args[i] for i in positions),
               *(sample.kwargs[k] for k in names)]

    def bind(fn):
        def call(*ts):
            args = list(sample.args)
            for i, t in zip(positions, ts[1:]):
                args[i] = t
            kwargs = dict(sample.kwargs)
            kwargs.update(zip(names, ts[1 + len(positions):]))
            return fn(ts[0], *args, **kwargs)
        return call
    return [t.detach().clone().requires_grad_(True) for t in tensors], bind


@pytest.mark.parametrize("op_name", sorted(OURS))
def test_gradcheck_and_gradgradcheck_float64(op_name):
    op = OPS[op_name]
    for i, sample in enumerate(op.sample_inputs("cpu", torch.float64, requires_grad=True)):
        tensors, bind = tensor_arguments(sample)
        fn = bind(OURS[op_name])
        assert torch.autograd.gradcheck(fn, tensors, **GRADCHECK), (i, sample)
        assert torch.autograd.gradgradcheck(fn, tensors, **GRADGRADCHECK), (i, sample)


def test_error_inputs_raise_torchs_errors():
    op = OPS["nn.functional.prelu"]
    errors = list(op.error_inputs("cpu"))
    assert errors
    for error in errors:
        sample = error.sample_input
        with pytest.raises(error.error_type, match=error.error_regex):
            lt.prelu(sample.input, *sample.args, **sample.kwargs)
    assert OPS["nn.functional.leaky_relu"].error_inputs_func is None  # (none to run)


def module_pairs(module_cls, dtype, training: bool = True):
    """(ours, theirs, forward args, forward kwargs) per ModuleInfo input; same parameters."""
    info = MODULES[module_cls]
    for module_input in info.module_inputs_func(info, device="cpu", dtype=dtype,
                                                requires_grad=True, training=training):
        constructor = module_input.constructor_input
        theirs = module_cls(*constructor.args, **constructor.kwargs).to(dtype)
        ours = OUR_MODULES[module_cls](*constructor.args, **constructor.kwargs).to(dtype)
        ours.load_state_dict(theirs.state_dict())
        forward = module_input.forward_input
        yield ours, theirs, forward.args, forward.kwargs, module_input.desc


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("module_cls", [torch.nn.LeakyReLU, torch.nn.PReLU],
                         ids=lambda c: c.__name__)
def test_module_inputs_match_torch(module_cls, dtype):
    pairs = list(module_pairs(module_cls, dtype))
    assert pairs
    for ours, theirs, args, kwargs, desc in pairs:
        label = f"{module_cls.__name__} {desc!r} {dtype}"
        assert repr(ours) == repr(theirs)
        x_ours = [a.detach().clone().requires_grad_(True) for a in args]
        x_theirs = [a.detach().clone().requires_grad_(True) for a in args]
        got, want = ours(*x_ours, **kwargs), theirs(*x_theirs, **kwargs)
        assert_same(got, want, label)
        grad = torch.randn(want.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
        got.backward(grad)
        want.backward(grad)
        for a, b in zip(x_ours, x_theirs):
            assert_same(a.grad, b.grad, f"{label}: input gradient")
        if module_cls is torch.nn.PReLU:  # the weight's gradient: a sum
            assert_sum_close(ours.weight.grad, theirs.weight.grad, x_theirs[0], theirs.weight,
                             grad, f"{label}: weight gradient")


@pytest.mark.parametrize("module_cls", [torch.nn.LeakyReLU, torch.nn.PReLU],
                         ids=lambda c: c.__name__)
def test_module_gradcheck_float64(module_cls):
    for ours, _, args, kwargs, desc in module_pairs(module_cls, torch.float64):
        params = list(ours.parameters())
        inputs = [a.detach().clone().requires_grad_(True) for a in args]

        def fn(*tensors):
            with torch.nn.utils.stateless._reparametrize_module(
                    ours, dict(zip([n for n, _ in ours.named_parameters()],
                                   tensors[len(inputs):]))):
                return ours(*tensors[:len(inputs)], **kwargs)
        tensors = (*inputs, *(p.detach().clone().requires_grad_(True) for p in params))
        assert torch.autograd.gradcheck(fn, tensors, **GRADCHECK), desc
        assert torch.autograd.gradgradcheck(fn, tensors, **GRADGRADCHECK), desc
