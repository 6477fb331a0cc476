"""leaky_c where it is used: `python -m leaky_c.benchmarks.where_used`.

Two measurements of issue 22, each a set of ratios timed side by side in one
process (benchmarks/RESULTS.md has the figures and the machine's load):

``--pools``: next to other thread pools.  The float32 forward into ``out=``
at 10^5 and 10^6 elements, timed right after another library's parallel work
with no pause (as in a network's layers): a 2-thread PyTorch 384x384 matmul, a
NumPy (OpenBLAS) 384x384 matmul, both (PyTorch's workers awake while
OpenBLAS's hold the cores), a 2-thread ``F.leaky_relu`` of the same size.
Each round runs the other call, then times one leaky_c call, 20 times; the
best of 15 rounds (of the mean of 20) is kept.  Printed: each case's time over
leaky_c's own 1-thread time alone (target <= 1.1) and the speed-up over 1
thread (target >= 1.3 at 10^6 after PyTorch's ops; alone, 1.9 at 10^6), and
the share of the 2-thread calls that ran on PyTorch's OpenMP team.  The
PyTorch cases are skipped with a note when torch is not installed.  "Alone"
starts QUIET_S after the last other call: OpenBLAS's workers spin for tens of
milliseconds after a matmul (a 10^6 "alone" measured 20 ms after the NumPy
matmul case ran at 1.0x of one thread, 1.5-1.8x a second later).

``--alloc``: the steady allocating loop.  The allocating forward and backward
called again and again on the same shape, each result dropped, against the
same call into ``out=``, at 1 and 2 threads, 2^20 to 2^26 float32 elements
(target: allocating / out= <= 1.1), interleaved (benchmarks/timing.py).  With
ONNX Runtime or TensorFlow installed, their allocating LeakyRelu at the same
thread count is timed alongside (peer / leaky_c allocating); absent, a note.

``--settings``: ``--pools`` again in fresh processes under what a user can set
about the other pools' spinning: ``LEAKY_C_OPENMP=0`` (leaky_c's own pool
only, never PyTorch's team), ``OMP_WAIT_POLICY=PASSIVE`` (libgomp's
workers, PyTorch's, sleep at once after a parallel region), and that plus
``OPENBLAS_NUM_THREADS=1`` (what ``threadpoolctl.threadpool_limits(1, "blas")``
does around a block: NumPy's matmul on one thread, no OpenBLAS worker left).

Without a flag, --pools and --alloc.  ``--quick``: fewer rounds and sizes.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from typing import Any, Callable, Optional

import numpy as np

import leaky_c
from leaky_c import _threads

from .machine import load_average
from .pool_targets import best
from .timing import peer_threads

SLOPE = 0.01


#: Seconds of pause before an "alone" case, so no other pool's thread still spins.
QUIET_S = 1.0


def _load() -> str:
    try:
        one, five, _ = load_average()  # type: ignore[misc]
        return f"load {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"
    except Exception:  # noqa: BLE001 - the load is information, not a requirement
        return "load unknown"


def after(other: Optional[Callable[[], Any]], call: Callable[[], Any],
          rounds: int, per_round: int) -> tuple[float, float]:
    """(1 thread, pool) seconds of `call` timed right after `other`: the best
    over rounds of the mean of per_round calls, the two interleaved by round."""
    clock = time.perf_counter
    best = [float("inf"), float("inf")]
    grain = _threads.grain_bytes()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for side in (0, 1):
                _threads.configure(grain=1 << 62 if side == 0 else grain)  # side 0: 1 thread
                total = 0.0
                for _ in range(per_round):
                    if other is not None:
                        other()
                    start = clock()
                    call()
                    total += clock() - start
                best[side] = min(best[side], total / per_round)
    finally:
        _threads.configure(grain=grain)
        if enabled:
            gc.enable()
    return best[0], best[1]


def pools(threads: int, rounds: int, per_round: int, sizes: tuple) -> None:
    try:
        import torch
    except ImportError:
        torch = None
        print("(torch not installed: the PyTorch cases are skipped; pip install torch)")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((384, 384), dtype=np.float32)
    b = rng.standard_normal((384, 384), dtype=np.float32)
    others: dict[str, Optional[Callable[[], Any]]] = {"alone": None}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        others["after torch matmul"] = lambda: torch.mm(ta, tb)
    others["after NumPy matmul"] = lambda: a @ b
    if torch is not None:  # PyTorch's workers awake, OpenBLAS's holding the cores
        others["after both matmuls"] = lambda: (torch.mm(ta, tb), a @ b)
    print(f"next to other pools: float32 forward out=, {threads} threads against 1 (a grain no "
          f"call reaches), best of {rounds} rounds of {per_round}, interleaved; {_load()}")
    print("  T/1 alone: the pool's time over leaky_c's 1-thread time alone (target <= 1.1);")
    print("  T/1 same: over the 1-thread time after the same call (the pool's own cost or gain)")
    print("  team: the share of the pool's calls that ran on PyTorch's OpenMP team (csrc/openmp.c)")
    print(f"{'n':>8} {'case':<22} {'1 thread':>9} {f'{threads} threads':>10} {'T/1 alone':>10} "
          f"{'T/1 same':>9} {'speed-up':>9} {'team':>5}")
    with peer_threads(threads):
        for n in sizes:
            x = rng.standard_normal(n, dtype=np.float32)
            out = np.empty_like(x)
            cases = dict(others)
            if torch is not None:
                tx = torch.from_numpy(x)
                cases["after F.leaky_relu"] = lambda: torch.nn.functional.leaky_relu(tx, SLOPE)
            call = lambda: leaky_c.leaky_relu(x, SLOPE, out=out)  # noqa: E731
            call()
            alone = None
            for name, other in cases.items():
                if other is None:  # alone: once the other pools' threads have gone to sleep
                    time.sleep(QUIET_S)
                before = _threads.openmp_calls()
                one, pool = after(other, call, rounds, per_round)
                team = (_threads.openmp_calls() - before) / (rounds * per_round)
                alone = one if alone is None else alone
                print(f"{n:>8.0e} {name:<22} {one * 1e6:>7.1f}us {pool * 1e6:>8.1f}us "
                      f"{pool / alone:>10.2f} {pool / one:>9.2f} {alone / pool:>9.2f} {team:>5.2f}",
                      flush=True)


def _onnx_leaky(n: int, threads: int) -> Optional[Callable[[np.ndarray], Any]]:
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    node = helper.make_node("LeakyRelu", ["x"], ["y"], alpha=SLOPE)
    graph = helper.make_graph([node], "leaky", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def _tf_leaky(threads: int) -> Optional[tuple]:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised: the first setting stands
        print(f"   (TensorFlow keeps its first thread count, "
              f"{tf.config.threading.get_intra_op_parallelism_threads()}: it is set once per "
              "process; run --threads alone for TensorFlow at 2 threads)")
    fwd = tf.function(lambda x: tf.nn.leaky_relu(x, SLOPE))
    bwd = tf.function(lambda g, x: tf.raw_ops.LeakyReluGrad(gradients=g, features=x, alpha=SLOPE))
    return tf, fwd, bwd


def alloc(thread_counts: tuple, exponents: tuple, repeat: int) -> None:
    rng = np.random.default_rng(1)
    print(f"steady allocating loop: float32, allocating / out= (target <= 1.1), interleaved, "
          f"best of {repeat}; {_load()}", flush=True)
    for threads in thread_counts:
        onnx_note = tf_note = ""
        with peer_threads(threads):
            tf = _tf_leaky(threads)
            if tf is None:
                tf_note = "TensorFlow not installed (pip install tensorflow-cpu)"
            for e in exponents:
                n = 1 << e
                x = rng.standard_normal(n, dtype=np.float32)
                g = rng.standard_normal(n, dtype=np.float32)
                out = np.empty_like(x)
                fns = {"fwd out=": lambda: leaky_c.leaky_relu(x, SLOPE, out=out),
                       "fwd alloc": lambda: leaky_c.leaky_relu(x, SLOPE),
                       "bwd out=": lambda: leaky_c.leaky_relu_backward(g, x, SLOPE, out=out),
                       "bwd alloc": lambda: leaky_c.leaky_relu_backward(g, x, SLOPE)}
                onnx = _onnx_leaky(n, threads)
                if onnx is None:
                    onnx_note = "ONNX Runtime not installed (pip install onnxruntime onnx)"
                else:
                    fns["onnxruntime fwd alloc"] = lambda: onnx(x)
                if tf is not None:
                    tfm, tf_fwd, tf_bwd = tf
                    tx, tg = tfm.constant(x), tfm.constant(g)
                    fns["tensorflow fwd alloc"] = lambda: tf_fwd(tx)
                    fns["tensorflow bwd alloc"] = lambda: tf_bwd(tg, tx)
                t = best(fns, 0.05 if n < 1 << 24 else 0.0, repeat)
                peers = "".join(f"   {name}: peer/leaky_c {t[name] / t[name.split(' ', 1)[1]]:.2f}"
                                for name in t if name.startswith(("onnx", "tensorflow")))
                print(f"{threads} threads 2^{e}: forward {t['fwd alloc'] / t['fwd out=']:.2f} "
                      f"(out= {t['fwd out='] * 1e6:,.0f} us), backward {t['bwd alloc'] / t['bwd out=']:.2f} "
                      f"(out= {t['bwd out='] * 1e6:,.0f} us){peers}", flush=True)
                del x, g, out, fns
        for note in (onnx_note, tf_note):
            if note:
                print(f"   ({note})")


SETTINGS = ({}, {"LEAKY_C_OPENMP": "0"}, {"OMP_WAIT_POLICY": "PASSIVE"},
            {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"})


def settings(threads: int, quick: bool) -> None:
    for env in SETTINGS:
        name = " ".join(f"{k}={v}" for k, v in env.items()) or "no setting"
        print(f"== {name}", flush=True)
        subprocess.run([sys.executable, "-m", "leaky_c.benchmarks.where_used", "--pools",
                        "--threads", str(threads)] + (["--quick"] if quick else []),
                       env={**os.environ, **env}, check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m leaky_c.benchmarks.where_used",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pools", action="store_true", help="only next to other pools")
    parser.add_argument("--alloc", action="store_true", help="only the allocating loop")
    parser.add_argument("--settings", action="store_true",
                        help="--pools under LEAKY_C_OPENMP=0, OMP_WAIT_POLICY=PASSIVE and "
                        "OPENBLAS_NUM_THREADS=1")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--alloc-threads", type=int, nargs="+", metavar="T",
                        help="thread counts of --alloc (default 1 and --threads)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.settings:
        settings(args.threads, args.quick)
        return
    both = not (args.pools or args.alloc)
    print(f"leaky_c {leaky_c.__version__}, target {leaky_c._backend.active_target()}")
    if args.pools or both:
        pools(args.threads, 5 if args.quick else 15, 20, (10**5, 10**6))
    if args.alloc or both:
        alloc(tuple(args.alloc_threads or (1, args.threads)), (20, 22) if args.quick else (20, 22, 24, 26),
              3 if args.quick else 15)


if __name__ == "__main__":
    main()
