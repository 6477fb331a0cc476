"""Threads and processes: concurrent callers, the GIL, and fork.

The grain and streaming thresholds are lowered (and restored afterwards) so
that mid-sized arrays take leaky_c's own thread pool and streaming stores
while 16 Python threads call at once.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time

import numpy as np
import pytest

import leaky_c
from leaky_c import _threads
from arrays import FLOAT_DTYPES, assert_bits_equal, bits, values
from conftest import count, expected_backward, expected_forward

pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")

needs_c = pytest.mark.skipif(leaky_c.backend != "cffi",
                             reason="the thread pool and GIL release belong to the C backend")
GRAIN = 16 << 10
STREAM_THRESHOLD = 256 << 10
CALLER_THREADS = 16


@pytest.fixture
def small_thresholds(thresholds):
    """A 16 KiB grain, 256 KiB streaming threshold and 4 pool threads."""
    thresholds(GRAIN, STREAM_THRESHOLD, 4)


def _task_inputs() -> list:
    """(dtype, x, grad_output) shared by every thread: small, mid-sized (pool)
    and above the streaming threshold, for every float dtype and an int dtype."""
    inputs = []
    for dtype in list(FLOAT_DTYPES) + [np.dtype(np.int32)]:
        pool, streamed = 3 * GRAIN // dtype.itemsize + 5, 2 * STREAM_THRESHOLD // dtype.itemsize + 3
        for n in (1, 100, 4099, pool, streamed):
            inputs.append((dtype, values(dtype, n, n), values(dtype, n, n + 1)))
    return inputs


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and np.array_equal(bits(got), bits(want))


def test_sixteen_threads_on_shared_and_separate_arrays(small_thresholds):
    inputs = _task_inputs()
    inputs_before = [(x.copy(), g.copy()) for _, x, g in inputs]
    slopes = (0.0, 0.01, -0.5, 1.5)
    forward = {(i, s): expected_forward(x, s) for i, (_, x, _) in enumerate(inputs) for s in slopes}
    backward = {(i, s): expected_backward(g, x, s) for i, (_, x, g) in enumerate(inputs)
                for s in slopes}
    # One shared output that every thread writes a disjoint strided part of.
    shared_x = values(np.float32, CALLER_THREADS * 50_000, 99)
    shared_out = np.full_like(shared_x, 7)
    rounds = 6
    start = threading.Barrier(CALLER_THREADS)
    failures: list = []
    calls = [0] * CALLER_THREADS

    def caller(t: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                for i in range(len(inputs)):
                    k = (i + t + r) % len(inputs)  # threads work on different arrays at once
                    dtype, x, g = inputs[k]
                    slope = slopes[(t + r) % len(slopes)]
                    label = f"thread {t} round {r} {dtype} n={x.size} slope={slope}"
                    if not _same_bits(leaky_c.leaky_relu(x, slope), forward[k, slope]):
                        failures.append("forward " + label)
                    if not _same_bits(leaky_c.leaky_relu_backward(g, x, slope), backward[k, slope]):
                        failures.append("backward " + label)
                    calls[t] += 2
                    if dtype in FLOAT_DTYPES:  # separate arrays: out= and in place
                        own = x.copy()
                        leaky_c.leaky_relu(own, slope, out=own)
                        out = np.empty_like(x)
                        leaky_c.leaky_relu_backward(g, x, slope, out=out)
                        if not (_same_bits(own, forward[k, slope])
                                and _same_bits(out, backward[k, slope])):
                            failures.append("in place / out= " + label)
                        calls[t] += 2
                part = slice(t, None, CALLER_THREADS)
                leaky_c.leaky_relu(shared_x[part], 0.2, out=shared_out[part])
                calls[t] += 1
        except Exception as exc:  # reported below, with the thread
            failures.append(f"thread {t}: {exc!r}")

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(CALLER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads), "a caller thread hung"
    assert not failures, failures[:10]
    assert_bits_equal(shared_out, expected_forward(shared_x, 0.2), "shared out, disjoint parts")
    for (dtype, x, g), (x_before, g_before) in zip(inputs, inputs_before):
        assert_bits_equal(x, x_before, f"shared {dtype} x of size {x.size} was modified")
        assert_bits_equal(g, g_before, f"shared {dtype} grad_output of size {g.size} was modified")
    count("concurrency: caller threads", CALLER_THREADS)
    count("concurrency: calls from them", sum(calls))


@needs_c
def test_the_gil_is_released_during_a_large_call():
    # A counter thread that gives the GIL back between increments; with a huge
    # switch interval nobody is forced to give it up, so the counter can only
    # move while the main thread has released the GIL of its own accord.
    # Holding it through the call would leave the count exactly unchanged:
    # no timing threshold is involved.
    x = values(np.float64, 1 << 23, 5)
    out = np.empty_like(x)
    progress = [0]
    running, stop = threading.Event(), threading.Event()

    def counter() -> None:
        running.set()
        while not stop.is_set():
            progress[0] += 1
            time.sleep(0.0002)

    def moved_during(call) -> int:
        before = progress[0]
        call()
        return progress[0] - before

    previous_threads = leaky_c.get_num_threads()
    previous_interval = sys.getswitchinterval()
    thread = threading.Thread(target=counter, daemon=True)
    leaky_c.set_num_threads(1)  # the call runs on this thread only
    sys.setswitchinterval(1000.0)
    try:
        thread.start()
        running.wait(60)
        # The control: a builtin that holds the GIL throughout.
        held = moved_during(lambda: sum(range(3_000_000)))
        # One large call (tens of milliseconds); a few tries, so a descheduled
        # counter thread on a loaded machine cannot fail the test.
        released = 0
        for _ in range(20):
            released = moved_during(lambda: leaky_c.leaky_relu(x, 0.01, out=out))
            if released:
                break
    finally:
        sys.setswitchinterval(previous_interval)
        stop.set()
        thread.join(60)
        leaky_c.set_num_threads(previous_threads)
    assert held == 0, "the control should hold the GIL: the probe is broken"
    assert released > 0, "the counter never ran during a large leaky_c call: the GIL was held"
    assert_bits_equal(out, expected_forward(x, 0.01), "the large call")


def _pool_alive() -> bool:
    """leaky_c's native pool has started workers in this process."""
    return _threads.pool_workers() > 0


def _child(x: np.ndarray, g: np.ndarray, want_forward: np.ndarray, want_backward: np.ndarray,
           slope: float) -> None:
    """In the forked child: threaded calls from three threads must be right,
    and the C backend must have run them on a live pool of its own."""
    results = {}

    def work(name: str) -> None:
        for _ in range(3):
            results[name] = (leaky_c.leaky_relu(x, slope), leaky_c.leaky_relu_backward(g, x, slope))

    work("alone")
    threads = [threading.Thread(target=work, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    work("main")
    for thread in threads:
        thread.join()
    ok = all(_same_bits(f, want_forward) and _same_bits(b, want_backward)
             for f, b in results.values())
    sys.exit(0 if ok and (_pool_alive() or leaky_c.backend != "cffi") else 1)


def _fork_children(context, args: tuple, n: int) -> list:
    exit_codes = []
    for _ in range(n):
        child = context.Process(target=_child, args=args)
        child.start()
        child.join(timeout=120)
        if child.is_alive():
            child.kill()
            child.join()
            pytest.fail("a forked child hung (no result within 120 s)")
        exit_codes.append(child.exitcode)
    return exit_codes


@pytest.mark.skipif(sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork")
def test_fork_after_threaded_calls_gives_a_working_child(small_thresholds):
    n = STREAM_THRESHOLD // 2 + 3  # float32: twice the streaming threshold, on the pool
    x, g = values(np.float32, n, 1), values(np.float32, n, 2)
    slope = 0.2
    want_forward, want_backward = expected_forward(x, slope), expected_backward(g, x, slope)
    for _ in range(3):
        assert_bits_equal(leaky_c.leaky_relu(x, slope), want_forward, "parent")
    if leaky_c.backend == "cffi":
        assert _pool_alive(), "the parent never used its pool"
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            leaky_c.leaky_relu(x, slope)

    context = multiprocessing.get_context("fork")
    args = (x, g, want_forward, want_backward, slope)
    # Fork while the pool sits idle, then while another thread is inside
    # threaded calls (holding the pool).
    exit_codes = _fork_children(context, args, 2)
    background = threading.Thread(target=busy)
    background.start()
    try:
        exit_codes += _fork_children(context, args, 4)
    finally:
        stop.set()
        background.join(60)
    assert exit_codes == [0] * 6, exit_codes
    count("fork: children forked after threaded calls", len(exit_codes))
