"""ONNX's LeakyRelu and PRelu tests, bit for bit.

The node tests (onnx/backend/test/case/node/leakyrelu.py and prelu.py: the
same nodes, attributes and shapes) are regenerated here with onnx's reference
implementation, onnx.reference.ReferenceEvaluator, on the suite's own arrays;
the PyTorch-exported models and their stored inputs and outputs are read from
the onnx package's bundled test data."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

import leaky_c
from arrays import assert_bits_equal, values

onnx = pytest.importorskip(
    "onnx", reason="onnx is not installed (pip install onnx, or pip install -e '.[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402


def run_node(op_type: str, inputs: dict, **attributes) -> np.ndarray:
    """One ONNX node over float32 inputs, run by onnx's reference implementation."""
    node = helper.make_node(op_type, list(inputs), ["y"], **attributes)
    graph = helper.make_graph(
        [node], op_type,
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, arr.shape) for name, arr in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    with np.errstate(all="ignore"):  # overflow to inf: the IEEE result here too
        return ReferenceEvaluator(model).run(None, inputs)[0]


def finite(n: int, seed: int, shape: tuple) -> np.ndarray:
    """float32 values of every kind but NaN (whose payload under a product is
    the compiler's choice of operand order), shaped."""
    arr = values(np.float32, n, seed)
    arr[np.isnan(arr)] = -1.5
    return arr.reshape(shape)


# The node tests: name, shape of x, alpha (None: the default, 0.01).
LEAKY_RELU_NODES = [("test_leakyrelu_example", (3,), 0.1), ("test_leakyrelu", (3, 4, 5), 0.1),
                    ("test_leakyrelu_default", (3, 4, 5), None)]


@pytest.mark.parametrize("name, shape, alpha", LEAKY_RELU_NODES, ids=[n[0] for n in LEAKY_RELU_NODES])
def test_leakyrelu_node_tests(name, shape, alpha):
    x = finite(int(np.prod(shape)), 1, shape)
    if name == "test_leakyrelu_example":
        x = np.array([-1, 0, 1], np.float32)
    attributes = {} if alpha is None else {"alpha": alpha}
    want = run_node("LeakyRelu", {"x": x}, **attributes)
    slope = 0.01 if alpha is None else alpha
    # ONNX keeps alpha as a float32 attribute; leaky_c rounds the slope to float32 too.
    assert_bits_equal(leaky_c.leaky_relu(x, slope), want, name)


# The node tests: name, shape of x, shape of the slope.
PRELU_NODES = [("test_prelu_example", (3, 4, 5), (3, 4, 5)),
               ("test_prelu_broadcast", (3, 4, 5), (5,))]


@pytest.mark.parametrize("name, x_shape, slope_shape", PRELU_NODES, ids=[n[0] for n in PRELU_NODES])
def test_prelu_node_tests(name, x_shape, slope_shape):
    x = finite(int(np.prod(x_shape)), 2, x_shape)
    slope = finite(int(np.prod(slope_shape)), 3, slope_shape)
    want = run_node("PRelu", {"x": x, "slope": slope})
    # ONNX's slope broadcasts to x by NumPy's rules: axis=None (a 3-D slope does anyway).
    assert_bits_equal(leaky_c.prelu(x, slope, axis=None), want, name)
    if slope.ndim >= 2:
        assert_bits_equal(leaky_c.prelu(x, slope), want, name + " (default axis)")


def bundled(kind: str) -> list:
    """The bundled test directories of PyTorch-exported models whose name has kind."""
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "pytorch-converted")
    return sorted(glob.glob(os.path.join(root, f"test_{kind}*")))


def load(directory: str) -> tuple:
    """(the model's one node, its initializers, its inputs, its outputs) from directory."""
    model = onnx.load(os.path.join(directory, "model.onnx"))
    tensors = {stem: [numpy_helper.to_array(onnx.load_tensor(f)) for f in
                      sorted(glob.glob(os.path.join(directory, "test_data_set_0", stem + "_*.pb")))]
               for stem in ("input", "output")}
    (node,) = model.graph.node
    initializers = [numpy_helper.to_array(t) for t in model.graph.initializer]
    return node, initializers, tensors["input"], tensors["output"]


def test_the_bundled_pytorch_models_are_found():
    assert len(bundled("PReLU")) == 6 and len(bundled("LeakyReLU")) == 2


@pytest.mark.parametrize("directory", bundled("LeakyReLU"), ids=os.path.basename)
def test_bundled_pytorch_leakyrelu(directory):
    node, _, (x,), (want,) = load(directory)
    (alpha,) = [a.f for a in node.attribute if a.name == "alpha"]
    assert_bits_equal(leaky_c.leaky_relu(x, alpha), want, os.path.basename(directory))


@pytest.mark.parametrize("directory", bundled("PReLU"), ids=os.path.basename)
def test_bundled_pytorch_prelu(directory):
    # Exported from torch.nn.PReLU: one slope, or one per channel (axis 1; the
    # old opset these use did not broadcast by NumPy's rules).
    node, (slope,), (x,), (want,) = load(directory)
    assert node.op_type == "PRelu" and slope.ndim == 1
    assert_bits_equal(leaky_c.prelu(x, slope), want, os.path.basename(directory))
