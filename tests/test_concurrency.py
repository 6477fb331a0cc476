"""Threads and processes: concurrent callers, the GIL, fork and exit.

The grain and streaming thresholds are lowered (and restored afterwards) so
that mid-sized arrays take leaky_c's own thread pool and streaming stores
while 16 Python threads call at once.

A hang must fail, not block CI: callers are daemon threads joined against a
deadline, and the cases that could wedge the process itself (a deadlock on the
pool would also block the fixtures' set_num_threads) run in a fresh
interpreter under subprocess.run(timeout=...).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import leaky_c
from leaky_c import _reference, _threads
from arrays import FLOAT_DTYPES, assert_bits_equal, bits, values
from conftest import count, expected_backward, expected_forward

pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")

needs_c = pytest.mark.skipif(leaky_c.backend != "cffi",
                             reason="the thread pool and GIL release belong to the C backend")
GRAIN = 16 << 10
STREAM_THRESHOLD = 256 << 10
CALLER_THREADS = 16


TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def join_or_fail(threads: list, timeout: float) -> None:
    """Join daemon threads against one deadline; fail (not hang) if any is left."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"{len(stuck)} threads hung (still running after {timeout} s): {stuck}"


def run_python(code: str, timeout: float = 120, **env: str) -> str:
    """Run code in a fresh interpreter (tests/ importable); a hang fails the test.
    It must exit with 0; returns its stdout."""
    environ = {**os.environ, **env,
               "PYTHONPATH": os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environ,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        hung = exc
    else:
        hung = None
    if hung is not None:  # its output comes as bytes, whatever text= said
        said = [(part or b"").decode(errors="replace")[-2000:] for part in (hung.stdout, hung.stderr)]
        pytest.fail(f"the interpreter hung: no exit within {timeout} s; stdout {said[0]!r}, "
                    f"stderr {said[1]!r}")
    assert done.returncode == 0, (f"exit code {done.returncode}; stdout {done.stdout[-2000:]!r}; "
                                  f"stderr {done.stderr[-4000:]}")
    return done.stdout


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
    # The strided path (rows split between threads) and PReLU (its backward
    # split over three 64 Ki-element blocks), shared by all threads too.
    strided_x = values(np.float32, 6 * GRAIN, 5).reshape(-1, 6)[:, ::2]
    strided_g = values(np.float32, 6 * GRAIN, 6).reshape(-1, 6)[:, 1::2]
    prelu_x = values(np.float32, 3 * 43692, 7).reshape(-1, 3)
    prelu_g = values(np.float32, 3 * 43692, 8).reshape(-1, 3)
    prelu_w = np.array([-0.5, 0.25, 2.0], np.float32)
    others = {  # name: (call, its expected result)
        "strided forward": (lambda: leaky_c.leaky_relu(strided_x, 0.2),
                            expected_forward(strided_x, 0.2)),
        "strided backward": (lambda: leaky_c.leaky_relu_backward(strided_g, strided_x, 0.2),
                             expected_backward(strided_g, strided_x, 0.2)),
        "prelu": (lambda: leaky_c.prelu(prelu_x, prelu_w), _reference.prelu(prelu_x, prelu_w, 1)),
        "prelu grad_input": (lambda: leaky_c.prelu_backward(prelu_g, prelu_x, prelu_w)[0],
                             _reference.prelu_backward(prelu_g, prelu_x, prelu_w, 1)[0]),
    }
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
                for name, (call, want) in others.items():
                    if not _same_bits(call(), want):
                        failures.append(f"{name} thread {t} round {r}")
                    calls[t] += 1
        except Exception as exc:  # reported below, with the thread
            failures.append(f"thread {t}: {exc!r}")

    threads = [threading.Thread(target=caller, args=(t,), daemon=True) for t in range(CALLER_THREADS)]
    for thread in threads:
        thread.start()
    join_or_fail(threads, 300)
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
@pytest.mark.skipif(os.environ.get("LEAKY_C_TSAN") == "1",
                    reason="ThreadSanitizer cannot run a forked child of a multi-threaded process "
                    "that starts threads ('starting new threads after multi-threaded fork is not "
                    "supported'); the plain and ASan runs cover fork")
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


def test_set_num_threads_while_other_threads_compute():
    # Six callers on a tiny grain, a switch interval of 1 µs, and a seventh
    # thread cycling the thread count: the old pool read the count before its
    # lock and let a valid call raise.  Every call must succeed and be exact.
    # In a fresh interpreter: a deadlock must not wedge the test process.
    out = run_python("""
        import sys, threading
        import numpy as np
        import leaky_c
        from leaky_c import _reference, _threads
        from arrays import bits, values

        _threads.configure(grain=256, stream_threshold=1 << 62)
        sys.setswitchinterval(1e-6)
        x, g = values(np.float32, 1 << 14, 1), values(np.float32, 1 << 14, 2)
        xt = values(np.float32, 1 << 14, 3).reshape(128, 128).T
        w = np.linspace(-1, 2, 128).astype(np.float32)
        calls = {
            "forward": (lambda: leaky_c.leaky_relu(x, 0.1), _reference.leaky_relu(x, 0.1)),
            "backward": (lambda: leaky_c.leaky_relu_backward(g, x, 0.1),
                         _reference.leaky_relu_backward(g, x, 0.1)),
            "strided": (lambda: leaky_c.leaky_relu(xt, 0.1), _reference.leaky_relu(xt, 0.1)),
            "prelu": (lambda: leaky_c.prelu(xt, w), _reference.prelu(xt, w, 1)),
        }
        stop = threading.Event()
        failures, done = [], [0] * 6

        def caller(t):
            try:
                while not stop.is_set():
                    for name, (call, want) in calls.items():
                        if not np.array_equal(bits(call()), bits(want)):
                            failures.append(f"{name} in thread {t}: wrong bits")
                        done[t] += 1
            except BaseException as exc:
                failures.append(f"thread {t}: {exc!r}")
                stop.set()

        def toggler():
            try:
                for k in range(1500):
                    leaky_c.set_num_threads(1 + k % 3)
                    if k % 100 == 0:
                        assert 0 <= _threads.pool_workers() <= 2
            except BaseException as exc:
                failures.append(f"toggler: {exc!r}")
            stop.set()

        threads = [threading.Thread(target=caller, args=(t,)) for t in range(6)]
        threads.append(threading.Thread(target=toggler))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("calls", min(done), sum(done))
        print("failures", failures[:10])
        sys.exit(1 if failures else 0)
    """, timeout=180)
    assert "failures []" in out, out
    assert int(out.split()[1]) > 0, f"a caller never ran a call while the count changed: {out}"
    count("concurrency: calls during set_num_threads changes", int(out.split()[2]))


@needs_c
def test_switching_targets_while_other_threads_compute():
    # The active target is one atomic pointer: switching it while four callers
    # compute on the pool (tiny grain) is no data race (ThreadSanitizer runs
    # this file) and every result stays exact, since every target gives the
    # same bits.
    out = run_python("""
        import sys, threading, time
        import numpy as np
        import leaky_c
        from leaky_c import _backend, _reference, _threads
        from arrays import bits, values

        _threads.configure(grain=256, stream_threshold=1 << 62)
        leaky_c.set_num_threads(3)
        targets = [_backend.compiled_targets().index(t) for t in _backend.runnable_targets()]
        arrays = [(values(dt, 1 << 13, 1), values(dt, 1 << 13, 2)) for dt in (np.float32, np.float16)]
        stop = threading.Event()
        failures, done = [], [0] * 4

        def caller(t):
            try:
                while not stop.is_set():
                    for x, g in arrays:
                        if not np.array_equal(bits(leaky_c.leaky_relu(x, 0.1)),
                                              bits(_reference.leaky_relu(x, 0.1))):
                            failures.append(f"forward {x.dtype} in thread {t}")
                        if not np.array_equal(bits(leaky_c.leaky_relu_backward(g, x, 0.1)),
                                              bits(_reference.leaky_relu_backward(g, x, 0.1))):
                            failures.append(f"backward {x.dtype} in thread {t}")
                        done[t] += 1
            except BaseException as exc:
                failures.append(f"thread {t}: {exc!r}")

        threads = [threading.Thread(target=caller, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        switches, deadline = 0, time.monotonic() + 60
        try:
            while min(done) < 20 and time.monotonic() < deadline and not failures:
                assert _backend.lib.leaky_set_target(targets[switches % len(targets)]) == 0
                switches += 1
        finally:
            stop.set()
        for thread in threads:
            thread.join()
        print("calls", min(done), "switches", switches, "targets", len(targets))
        print("failures", failures[:10])
        sys.exit(1 if failures else 0)
    """, timeout=180)
    assert "failures []" in out, out
    assert int(out.split()[1]) >= 20, f"the callers did not run while the target changed: {out}"


@pytest.mark.parametrize("pool_started", [True, False], ids=["pool started", "first call at exit"])
def test_a_large_call_in_an_atexit_handler_is_computed(pool_started):
    # The old Python pool raised "cannot schedule new futures after interpreter
    # shutdown" here.  An exception in an atexit handler leaves the exit code
    # at 0, so the handler prints what it found and the output is checked.
    out = run_python(f"""
        import atexit
        import numpy as np
        import leaky_c
        from leaky_c import _reference, _threads
        from arrays import bits, values

        _threads.configure(grain=4096)
        leaky_c.set_num_threads(2)
        x = values(np.float32, 1 << 18, 1)

        def at_exit():
            y = leaky_c.leaky_relu(x, 0.1)
            exact = np.array_equal(bits(y), bits(_reference.leaky_relu(x, 0.1)))
            print("at exit:", "exact" if exact else "WRONG", flush=True)

        atexit.register(at_exit)
        if {pool_started}:
            leaky_c.leaky_relu(x, 0.1)
            assert _threads.pool_workers() == (leaky_c.backend == "cffi")
    """, LEAKY_C_STREAM_THRESHOLD=str(1 << 62))
    assert "at exit: exact" in out, out


@needs_c
@pytest.mark.parametrize("when", ["idle", "right after a call", "a daemon thread in calls"])
def test_the_interpreter_exits_cleanly_while_workers_exist(when):
    # Nothing joins the workers at exit: they are asleep (idle), spinning
    # (right after a call), or running ranges for a daemon thread's calls.
    out = run_python(f"""
        import threading, time
        import numpy as np
        import leaky_c
        from leaky_c import _threads
        from arrays import values

        _threads.configure(grain=4096)
        leaky_c.set_num_threads(3)
        x = values(np.float32, 1 << 18, 1)
        leaky_c.leaky_relu(x, 0.1)
        assert _threads.pool_workers() == 2
        when = {when!r}
        if when == "idle":
            time.sleep(0.2)  # far past the 200 µs spin: the workers sleep
        elif when == "a daemon thread in calls":
            started = threading.Event()
            def loop():
                while True:
                    leaky_c.leaky_relu_backward(x, x, 0.1)
                    started.set()
            threading.Thread(target=loop, daemon=True).start()
            started.wait(60)
        leaky_c.leaky_relu(x, 0.1)
        print("exiting", flush=True)
    """)
    assert out == "exiting\n"


@needs_c
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc/self/task (Linux)")
def test_no_thread_leak_after_many_calls_and_thread_count_changes():
    # At most threads - 1 OS threads beyond those at the start, whatever ran;
    # none once set_num_threads(1).  A fresh interpreter: no other test's threads.
    out = run_python("""
        import os, threading, time
        import numpy as np
        import leaky_c
        from leaky_c import _threads
        from arrays import values

        def os_threads(at_most=None):
            # Python's join() returns just before the OS thread is gone: give
            # the joined callers a moment to leave /proc (a leak stays).
            deadline = time.monotonic() + 10
            while at_most is not None and n_tasks() > at_most and time.monotonic() < deadline:
                time.sleep(0.01)
            return n_tasks()

        def n_tasks():
            return len(os.listdir("/proc/self/task"))

        _threads.configure(grain=4096, stream_threshold=1 << 62)
        leaky_c.set_num_threads(1)
        base = os_threads()
        x = values(np.float32, 1 << 16, 1)
        xt = x.reshape(256, 256).T
        w = np.linspace(-1, 2, 256).astype(np.float32)

        def calls(n):
            for _ in range(n):
                leaky_c.leaky_relu(x, 0.1)
                leaky_c.leaky_relu_backward(x, x, 0.1)
                leaky_c.leaky_relu(xt, 0.1)
                leaky_c.prelu(xt, w)

        for threads in (3, 2, 5, 1, 4, 7, 2):
            leaky_c.set_num_threads(threads)
            calls(50)
            callers = [threading.Thread(target=calls, args=(20,)) for _ in range(4)]
            for caller in callers:
                caller.start()
            for caller in callers:
                caller.join()
            print(threads, os_threads(base + threads - 1) - base, _threads.pool_workers())
        leaky_c.set_num_threads(1)
        print(1, os_threads(base) - base, _threads.pool_workers())
    """)
    rows = [tuple(map(int, line.split())) for line in out.splitlines()]
    assert len(rows) == 8, out
    for threads, extra, workers in rows:
        assert workers == threads - 1, f"{threads} threads: {workers} workers, not {threads - 1}: {rows}"
        assert extra <= threads - 1, f"{threads} threads: {extra} extra OS threads: {rows}"
    assert rows[-1][1:] == (0, 0), f"workers left after set_num_threads(1): {rows}"
