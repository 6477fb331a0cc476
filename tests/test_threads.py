"""Thread and streaming-store paths: every split and store kind is bit-exact."""

from __future__ import annotations

import numpy as np
import pytest

import leaky_c
from leaky_c import _reference, _threads
from arrays import FLOAT_DTYPES, assert_bits_equal, values
from conftest import expected_backward, expected_forward


GRAIN = 4096
THREAD_COUNTS = (1, 2, 3, 7)  # 7: more threads than CI's cores


def sizes_around_the_grain(dtype: np.dtype, threads: int) -> list:
    """Element counts where the split changes: each thread's share at grain - 1,
    grain and grain + 1 elements, one short of a full split, and byte sizes just
    off the grain and its multiples (odd element counts among them)."""
    units = GRAIN // dtype.itemsize
    per_thread = [threads * (units + d) for d in (-1, 0, 1)] + [threads * units - 1]
    in_bytes = [nbytes // dtype.itemsize for nbytes in
                (GRAIN - 64, GRAIN, GRAIN + 4, 2 * GRAIN - 4, 2 * GRAIN, 7 * GRAIN + 12, 64 * GRAIN + 8)]
    return sorted(set(per_thread + in_bytes))


@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_sizes_around_grain_and_stream_threshold(thresholds, target, dtype, threads):
    for stream_threshold in (GRAIN, 1 << 62):
        thresholds(GRAIN, stream_threshold, threads)
        for n in sizes_around_the_grain(dtype, threads):
            x, g = values(dtype, n, n), values(dtype, n, n + 1)
            context = f"{dtype} n={n} threads={threads} stream>={stream_threshold} target={target}"
            for slope in (0.0, 0.01, -0.5):
                assert_bits_equal(leaky_c.leaky_relu(x, slope), expected_forward(x, slope),
                                  "forward " + context)
                assert_bits_equal(leaky_c.leaky_relu_backward(g, x, slope),
                                  expected_backward(g, x, slope), "backward " + context)
                if slope >= 0:  # from_output needs a slope that keeps the sign
                    y = expected_forward(x, slope)
                    assert_bits_equal(leaky_c.leaky_relu_backward(g, y, slope, from_output=True),
                                      expected_backward(g, x, slope), "from_output " + context)
                out = np.full_like(x, 3)
                leaky_c.leaky_relu(x[1:], slope, out=out[1:])  # unaligned start for streaming
                assert_bits_equal(out[1:], expected_forward(x[1:], slope), "offset out " + context)
                assert bits_of(out[0]) == bits_of(np.array(3, dtype)), "wrote before out " + context
                inplace = x.copy()
                leaky_c.leaky_relu(inplace, slope, out=inplace)
                assert_bits_equal(inplace, expected_forward(x, slope), "in place " + context)


@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_strided_splits_around_the_grain(thresholds, target, dtype, threads):
    # The strided path splits the flattened iteration: ranges end inside rows.
    thresholds(GRAIN, 1 << 62, threads)
    slope = 0.2
    for n in sizes_around_the_grain(dtype, threads):
        cols = -(-n // 3)
        views = {  # name: (x, g, a differently strided out of x's shape)
            "sliced": (values(dtype, 2 * n, n)[::2], values(dtype, n, n + 1),
                       np.empty(3 * n, dtype)[1::3]),
            "transposed": (values(dtype, 3 * cols, n).reshape(3, cols).T,
                           values(dtype, 6 * cols, n + 1).reshape(cols, 6)[:, ::2],
                           np.empty((cols, 3), dtype)),
        }
        for name, (x, g, out) in views.items():
            context = f"{dtype} {name} n={x.size} threads={threads} target={target}"
            want_forward, want_backward = expected_forward(x, slope), expected_backward(g, x, slope)
            assert_bits_equal(leaky_c.leaky_relu(x, slope), want_forward, "forward " + context)
            leaky_c.leaky_relu(x, slope, out=out)
            assert_bits_equal(out, want_forward, "forward into a strided out " + context)
            assert_bits_equal(leaky_c.leaky_relu_backward(g, x, slope), want_backward,
                              "backward " + context)
            leaky_c.leaky_relu_backward(g, x, slope, out=out)
            assert_bits_equal(out, want_backward, "backward into a strided out " + context)


@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_prelu_splits_around_the_grain_and_the_blocks(thresholds, target, dtype, threads):
    # The forward splits elements; the backward splits grad_weight's blocks of
    # 64 Ki elements (csrc/prelu.c), so it needs more than one block to split.
    # grad_weight's bits across thread counts: test_prelu.py.
    thresholds(GRAIN, 1 << 62, threads)
    block = 1 << 16
    forward_sizes = [(n, -(-n // 3)) for n in sizes_around_the_grain(dtype, threads)]
    backward_sizes = [(0, threads * block // 3), (0, threads * block // 3 + 2)]  # t blocks, t + 1
    for n, m in forward_sizes + backward_sizes:
        shapes = [((m, 3), 1), ((3, m), 0)]  # channels last (inner 1) and long rows
        if n:
            shapes.append(((n,), 0))  # a weight per element
        for k, (shape, axis) in enumerate(shapes):
            # Other weights for each shape: an output buffer that malloc hands
            # back from the call before holds other values, so a range the
            # split skips cannot pass by accident.
            size, seed = int(np.prod(shape)), 10 * m + k
            x, g = values(dtype, size, seed).reshape(shape), values(dtype, size, seed + 1).reshape(shape)
            w = (np.linspace(-1, 2, shape[axis]) + k / 4).astype(dtype)
            context = f"{dtype} shape={shape} axis={axis} threads={threads} target={target}"
            assert_bits_equal(leaky_c.prelu(x, w, axis=axis), _reference.prelu(x, w, axis),
                              "prelu " + context)
            grad_input, _ = leaky_c.prelu_backward(g, x, w, axis=axis)
            assert_bits_equal(grad_input, _reference.prelu_backward(g, x, w, axis)[0],
                              "prelu grad_input " + context)


def bits_of(value) -> int:
    arr = np.asarray(value)
    return int(arr.view(f"u{arr.dtype.itemsize}"))


def test_set_num_threads_validates_and_round_trips():
    previous = leaky_c.get_num_threads()
    try:
        leaky_c.set_num_threads(3)
        assert leaky_c.get_num_threads() == 3
        for out_of_range in (0, -1, 2**31, 2**64, -2**63 - 1):  # a C int holds 1 .. 2**31 - 1
            with pytest.raises(ValueError, match=f"^n={out_of_range} must be at least 1 and at "
                                                 "most 2147483647$"):
                leaky_c.set_num_threads(out_of_range)
        assert leaky_c.get_num_threads() == 3
        leaky_c.set_num_threads(2**31 - 1)  # the largest: accepted (no call runs with it)
        assert leaky_c.get_num_threads() == 2**31 - 1
        leaky_c.set_num_threads(3)
        for not_an_int in (2.0, True, np.bool_(True), "2"):
            with pytest.raises(TypeError, match="n must be an int"):
                leaky_c.set_num_threads(not_an_int)
        assert leaky_c.get_num_threads() == 3
        leaky_c.set_num_threads(np.int64(2))  # any operator.index integer
        assert leaky_c.get_num_threads() == 2 and type(leaky_c.get_num_threads()) is int
    finally:
        leaky_c.set_num_threads(previous)


def test_thread_count_comes_from_the_environment_else_the_cores():
    import os
    import subprocess
    import sys
    code = "import leaky_c; print(leaky_c.get_num_threads())"
    env = {k: v for k, v in os.environ.items() if k != "LEAKY_C_NUM_THREADS"}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
    assert int(default) == len(os.sched_getaffinity(0))
    forced = subprocess.run([sys.executable, "-c", code], env={**env, "LEAKY_C_NUM_THREADS": "5"},
                            capture_output=True, text=True, check=True).stdout
    assert int(forced) == 5
    bad = subprocess.run([sys.executable, "-c", code], env={**env, "LEAKY_C_NUM_THREADS": "0"},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "LEAKY_C_NUM_THREADS=0 must be at least 1" in bad.stderr


SIZE_MAX = 2**64 - 1 if np.dtype(np.uintp).itemsize == 8 else 2**32 - 1


@pytest.mark.parametrize("name, value, message", [
    ("LEAKY_C_NUM_THREADS", "2147483648", "=2147483648 must be at least 1 and at most 2147483647"),
    ("LEAKY_C_NUM_THREADS", "-5", "=-5 must be at least 1 and at most 2147483647"),
    ("LEAKY_C_GRAIN_BYTES", str(SIZE_MAX + 1), f"={SIZE_MAX + 1} must be at least 1 and at most {SIZE_MAX}"),
    ("LEAKY_C_GRAIN_BYTES", "0", f"=0 must be at least 1 and at most {SIZE_MAX}"),
    ("LEAKY_C_STREAM_THRESHOLD", str(10**23), f"={10**23} must be at least 0 and at most {SIZE_MAX}"),
    ("LEAKY_C_STREAM_THRESHOLD", "-1", f"=-1 must be at least 0 and at most {SIZE_MAX}"),
    ("LEAKY_C_STREAM_THRESHOLD", "1e23", "='1e23' is not an integer"),
])
def test_a_setting_out_of_range_in_the_environment_is_an_import_error(name, value, message):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKY_C_") or k == "LEAKY_C_BACKEND"}
    run = subprocess.run([sys.executable, "-c", "import leaky_c"], env={**env, name: value},
                         capture_output=True, text=True)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last == f"ImportError: {name}{message}", run.stderr


def test_the_largest_settings_are_accepted():
    import os
    import subprocess
    import sys
    code = ("import leaky_c, numpy as np; from leaky_c import _threads; "
            "print(leaky_c.get_num_threads(), _threads.grain_bytes(), _threads.stream_threshold_bytes(), "
            "leaky_c.leaky_relu(np.array([-2.0, 1.0]), 0.5))")
    env = {**os.environ, "LEAKY_C_NUM_THREADS": str(2**31 - 1),
           "LEAKY_C_GRAIN_BYTES": str(SIZE_MAX), "LEAKY_C_STREAM_THRESHOLD": str(SIZE_MAX)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:3] == [str(2**31 - 1), str(SIZE_MAX), str(SIZE_MAX)]


THREADS_EXTRA = "needs threadpoolctl >= 3.5, the threads extra: pip install '.[threads]'"


@pytest.mark.skipif(leaky_c.backend != "cffi",
                    reason="the threadpoolctl controller wraps the compiled module")
def test_threadpoolctl_lists_and_limits_the_pool(thresholds):
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.5", reason=THREADS_EXTRA)
    from leaky_c import _leaky_c
    thresholds(4096, 1 << 62, 3)
    x = values(np.float32, 3 * 4096, 1)  # 12 grains: a 3-way split
    want = expected_forward(x, 0.1)
    assert_bits_equal(leaky_c.leaky_relu(x, 0.1), want, "3 threads")
    assert _threads.pool_workers() == 2
    ours = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "leaky_c"]
    assert len(ours) == 1, threadpoolctl.threadpool_info()
    assert ours[0]["internal_api"] == "leaky_c" and ours[0]["num_threads"] == 3
    assert ours[0]["filepath"] == _leaky_c.__file__ and ours[0]["version"] == leaky_c.__version__
    with threadpoolctl.threadpool_limits(1):  # as it limits BLAS and OpenMP
        assert leaky_c.get_num_threads() == 1
        assert _threads.pool_workers() == 0, "threadpool_limits(1) left workers running"
        assert_bits_equal(leaky_c.leaky_relu(x, 0.1), want, "under threadpool_limits(1)")
        assert _threads.pool_workers() == 0, "a call under threadpool_limits(1) started workers"
    assert leaky_c.get_num_threads() == 3
    with threadpoolctl.threadpool_limits({"leaky_c": 2}):
        assert leaky_c.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # someone else's pool
        assert leaky_c.get_num_threads() == 3
    assert leaky_c.get_num_threads() == 3
