"""The machine-learning runtimes a user might call instead: ONNX Runtime, JAX, TensorFlow.

Each is optional (``pip install '.[bench-peers]'`` in the source directory installs ONNX Runtime
and JAX; TensorFlow on its own, ``pip install tensorflow-cpu``) and skipped with
a note when absent.  Each call is the one a user of that runtime writes:

- ONNX Runtime: a one-node ``LeakyRelu`` model (the backward, which ONNX has
  no operator for, as ``Where(x > 0, g, g * a)``), run allocating
  (``session.run``) and into a preallocated output (I/O binding).  Threads:
  ``intra_op_num_threads`` per session; spinning is off
  (``session.intra_op.allow_spinning``), as its workers would otherwise spin
  tens of milliseconds after each call and take a core from the next timing.
- JAX: ``jax.jit(jax.nn.leaky_relu)`` and the ``jax.vjp`` of it, on arrays
  already on the device, waited for with ``block_until_ready``.  JAX arrays are
  immutable: no ``out=``.  Threads: ``XLA_FLAGS``, read once when jaxlib
  starts, so only a process started for one thread count (the suite starts
  one per thread count) runs JAX at that count; elsewhere its rows say so.
- TensorFlow: ``tf.nn.leaky_relu`` eager and under ``tf.function``, the
  backward as ``tf.raw_ops.LeakyReluGrad``.  Threads:
  ``tf.config.threading``, settable once per process, before TensorFlow runs
  anything.

Their results are checked like every peer's (peers.check; in float16, which JAX,
TensorFlow and the Where model compute in float16 with the slope rounded to
float16, within the tolerance of NumPy's float16 forms): JAX and TensorFlow
do not agree with leaky_c (and PyTorch) on zeros and subnormals, which the
special-values check (special.py) lists; on the timing arrays such a peer is
timed when it differs only at those values, and marked.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import numpy as np

from leaky_c import _extras

from .peers import DESTINATION_LABEL, Impl, Workload, _skip, destination, optional_module

#: The thread count this process was started for (the suite's worker sets it,
#: with XLA_FLAGS, before anything imports jaxlib); None: not known.
PROCESS_THREADS: Optional[int] = None


def xla_flags(threads: int) -> str:
    """XLA_FLAGS for a process that runs JAX on ``threads`` threads (added to the user's)."""
    eigen = "true" if threads > 1 else "false"
    own = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
    return f"{os.environ.get('XLA_FLAGS', '')} {own}".strip()


# --- ONNX Runtime -------------------------------------------------------------------

_ORT_SESSIONS: dict[tuple, Any] = {}


def _ort_session(ort: Any, op: str, dtype: np.dtype, slope: float, threads: int) -> Any:
    """A session of the one-node model (forward) or the Where model (backward), cached."""
    key = (op, dtype.str, slope, threads)
    if key not in _ORT_SESSIONS:
        from onnx import TensorProto, helper, numpy_helper
        elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
                np.dtype(np.float16): TensorProto.FLOAT16}[dtype]

        def tensor(name: str) -> Any:
            return helper.make_tensor_value_info(name, elem, ["n"])
        if op == "forward":
            nodes = [helper.make_node("LeakyRelu", ["x"], ["y"], alpha=slope)]
            inputs, inits = [tensor("x")], []
        else:
            nodes = [helper.make_node("Greater", ["x", "zero"], ["positive"]),
                     helper.make_node("Mul", ["g", "a"], ["scaled"]),
                     helper.make_node("Where", ["positive", "g", "scaled"], ["y"])]
            inputs = [tensor("g"), tensor("x")]
            inits = [numpy_helper.from_array(np.array(0, dtype), "zero"),
                     numpy_helper.from_array(np.array(slope, dtype), "a")]
        graph = helper.make_graph(nodes, "leaky_relu", inputs, [tensor("y")], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        _ORT_SESSIONS[key] = ort.InferenceSession(model.SerializeToString(), options,
                                                  providers=["CPUExecutionProvider"])
    return _ORT_SESSIONS[key]


def onnxruntime(w: Workload) -> list[Impl]:
    ort, note = optional_module("onnxruntime")
    forward, mode = w.case.op == "forward", w.case.mode
    call = "LeakyRelu" if forward else "Where(x > 0, g, g*a)"
    label = (f"ort {call} session.run" if mode == "alloc"
             else f"ort {call} I/O binding{DESTINATION_LABEL[mode]}")
    impl = "onnxruntime" if mode == "alloc" else "onnxruntime.iobinding"
    if ort is None or optional_module("onnx")[0] is None:
        note = note or f"skipped: onnx not installed, which builds the model ({_extras.hint('bench-peers')})"
        return [_skip(impl, "onnxruntime", label, "peer", note)]
    if w.x.dtype not in (np.float32, np.float64, np.float16):
        return [_skip(impl, "onnxruntime", label, "peer", f"skipped: no {w.x.dtype} model")]
    session = _ort_session(ort, w.case.op, w.x.dtype, w.slope, w.threads)
    g = w.grad

    def bind(x: np.ndarray) -> Callable[[], Any]:
        feeds = {"x": x} if forward else {"g": g, "x": x}
        if mode == "alloc":
            run = session.run
            return lambda: run(None, feeds)[0]
        out = destination(w, x)
        assert out is not None
        binding = session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output("y", "cpu", 0, out.dtype, out.shape, out.ctypes.data)
        run_bound = session.run_with_iobinding

        def call() -> np.ndarray:
            run_bound(binding)
            return out
        return call
    return [Impl(impl, "onnxruntime", label, "peer", w.threads, bind,
                 float16_tolerance=w.x.dtype == np.float16)]


# --- JAX -----------------------------------------------------------------------------

_JAX_FUNCTIONS: dict[tuple, Any] = {}


def _jax_function(jax: Any, op: str, slope: float) -> Any:
    if (op, slope) not in _JAX_FUNCTIONS:
        def forward(x: Any) -> Any:
            return jax.nn.leaky_relu(x, slope)

        def backward(g: Any, x: Any) -> Any:
            return jax.vjp(forward, x)[1](g)[0]
        _JAX_FUNCTIONS[(op, slope)] = jax.jit(forward if op == "forward" else backward)
    return _JAX_FUNCTIONS[(op, slope)]


def jax_peer(w: Workload) -> list[Impl]:
    jax, note = optional_module("jax")
    forward = w.case.op == "forward"
    label = ("jax.jit(jax.nn.leaky_relu)(x)" if forward
             else "jax.jit(jax.vjp(jax.nn.leaky_relu))(g, x)")
    if jax is None:
        return [_skip("jax", "jax", label, "peer", note or "")]
    if w.case.mode != "alloc":
        return [_skip("jax", "jax", label, "peer", "skipped: JAX arrays are immutable (no out=)")]
    jax.config.update("jax_enable_x64", True)  # float64 stays float64
    f = _jax_function(jax, w.case.op, w.slope)
    g = jax.device_put(w.grad)
    threads = w.threads if PROCESS_THREADS == w.threads else None
    note = None if threads else ("threads: as XLA_FLAGS were when jaxlib started (read once "
                                 "per process; the suite's default runs one process per "
                                 "thread count)")

    def bind(x: np.ndarray) -> Callable[[], Any]:
        xj = jax.device_put(x)
        if forward:
            return lambda: f(xj).block_until_ready()
        return lambda: f(g, xj).block_until_ready()
    return [Impl("jax", "jax", label, "peer", threads or 0, bind, note=note,
                 result_of=np.asarray, float16_tolerance=w.x.dtype == np.float16)]


# --- TensorFlow ----------------------------------------------------------------------

_TF_STATE: dict[str, Any] = {}


def _tf_threads(tf: Any, threads: int) -> Optional[int]:
    """Set TensorFlow's thread pools to ``threads`` if it has not run yet; the count in force."""
    if "threads" not in _TF_STATE:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            _TF_STATE["threads"] = threads
        except RuntimeError:  # TensorFlow already ran: the pools are fixed
            _TF_STATE["threads"] = None
    return _TF_STATE["threads"]


def tensorflow(w: Workload) -> list[Impl]:
    forward = w.case.op == "forward"
    call = "tf.nn.leaky_relu(x, a)" if forward else "tf.raw_ops.LeakyReluGrad(g, x, a)"
    labels = (("tensorflow.eager", f"tf {call}"),
              ("tensorflow.function", f"tf.function({call})"))
    tf, note = optional_module("tensorflow")
    if tf is None:
        return [_skip(impl, "tensorflow", label, "peer", note or "")
                for impl, label in labels]
    if w.case.mode != "alloc":
        return [_skip(impl, "tensorflow", label, "peer",
                      "skipped: TensorFlow tensors are immutable (no out=)")
                for impl, label in labels]
    in_force = _tf_threads(tf, w.threads)
    threads = w.threads if in_force == w.threads else 0
    note = None if threads else (f"threads: {in_force or 'as first set'} (fixed once "
                                 "TensorFlow has run; the suite's default runs one process "
                                 "per thread count)")
    a = float(w.slope)

    def eager_forward(x: Any) -> Any:
        return tf.nn.leaky_relu(x, alpha=a)

    def eager_backward(g: Any, x: Any) -> Any:
        return tf.raw_ops.LeakyReluGrad(gradients=g, features=x, alpha=a)
    eager = eager_forward if forward else eager_backward
    compiled = _TF_STATE.setdefault(("function", w.case.op, a), tf.function(eager))
    g = tf.constant(w.grad)

    def binder(f: Callable[..., Any]) -> Callable[[np.ndarray], Callable[[], Any]]:
        def bind(x: np.ndarray) -> Callable[[], Any]:
            xt = tf.constant(x)
            return (lambda: f(xt)) if forward else (lambda: f(g, xt))
        return bind
    return [Impl(impl, "tensorflow", label, "peer", threads, binder(f), note=note,
                 result_of=lambda value: value.numpy(), float16_tolerance=w.x.dtype == np.float16)
            for (impl, label), f in zip(labels, (eager, compiled))]
