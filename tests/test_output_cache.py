"""Large results in recycled memory (leaky_c/_blocks.py, csrc/blocks.c).

Results of at least FROM_BYTES bytes come from a bounded cache of blocks,
each given back when nothing refers to its array any more.  What must hold:
a result never shares memory with a live array (its views, slices, base
chains, arrays kept in lists, other threads' results, a forked child's), and
it is bit-exact, writable, aligned and of the layout np.empty would give.
The tests lower the threshold so that small arrays take the cache's path,
and one checks the real one.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import leaky_c
from leaky_c import _blocks
from arrays import FLOAT_DTYPES, assert_bits_equal, values
from conftest import count, expected_backward, expected_forward

pytestmark = pytest.mark.skipif(leaky_c.backend != "cffi",
                                reason="the output cache is the C backend's")

SMALL = 1000  # elements from which results use the cache, in these tests (any dtype)


@pytest.fixture
def cache():
    """The cache on (1 GiB), for results of SMALL+ elements; restored afterwards."""
    limit = _blocks.output_cache_bytes()
    leaky_c.set_output_cache(1 << 30)
    _blocks.from_bytes, _blocks.from_items = 2 * SMALL, 2 * SMALL // 8  # float16: 2 bytes
    yield
    leaky_c.set_output_cache(limit)


def address_range(arr: np.ndarray) -> tuple[int, int]:
    lo, hi = np.lib.array_utils.byte_bounds(arr) if hasattr(np.lib, "array_utils") \
        else np.byte_bounds(arr)
    return lo, hi


def from_cache(arr: np.ndarray) -> bool:
    return type(arr.base).__name__ == "buffer" and type(arr.base).__module__ == "_cffi_backend"


def test_results_come_from_the_cache_and_its_blocks_come_back(cache):
    x = values(np.float32, 4 * SMALL, 1)
    y = leaky_c.leaky_relu(x, 0.1)
    assert from_cache(y) and not y.flags.owndata
    where = address_range(y)[0]
    held = _blocks.output_cache_held()
    del y
    assert _blocks.output_cache_held() > held, "a dead result's block did not come back"
    assert address_range(leaky_c.leaky_relu(x, 0.1))[0] == where, "the block was not reused"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_results_are_exact_writable_aligned_and_laid_out_like_np_empty(cache, dtype):
    for shape in ((SMALL + 7,), (3, SMALL), (SMALL, 3, 2)):
        x = values(dtype, int(np.prod(shape)), 2).reshape(shape)
        g = values(dtype, x.size, 3).reshape(shape)
        for order in ("C", "F"):
            xo, go = np.asarray(x, order=order), np.asarray(g, order=order)
            for y, want, what in ((leaky_c.leaky_relu(xo, 0.2), expected_forward(xo, 0.2), "forward"),
                                  (leaky_c.leaky_relu_backward(go, xo, 0.2),
                                   expected_backward(go, xo, 0.2), "backward")):
                context = f"{what} {dtype} {shape} order {order}"
                assert from_cache(y), context
                assert_bits_equal(y, want, context)
                assert y.dtype == x.dtype and y.shape == x.shape, context
                assert y.flags.writeable and y.flags.aligned, context
                # at its input's address modulo 4096 (no 4K aliasing between the two), and
                # at least 16-byte aligned, as np.empty's
                assert y.ctypes.data % 16 == 0, context
                assert (y.ctypes.data - xo.ctypes.data) % 4096 == 0, context
                assert y.flags.c_contiguous if order == "C" or x.ndim == 1 else y.flags.f_contiguous, context
                y[...] = 0  # writable for real
                assert not y.any()


def _disjoint(arrays: list) -> None:
    ranges = sorted(address_range(a) for a in arrays)
    for (lo0, hi0), (lo1, hi1) in zip(ranges, ranges[1:]):
        assert hi0 <= lo1, f"two live results share memory: [{lo0}, {hi0}) and [{lo1}, {hi1})"


def test_no_result_shares_memory_with_a_live_array(cache):
    """Results kept in a list, and views, slices and base chains whose parent
    was dropped: each keeps its memory while later results are made."""
    x = values(np.float32, 3 * SMALL, 4)
    kept, expected = [], []
    for k in range(40):
        slope = 0.1 + k / 64
        y = leaky_c.leaky_relu(x, slope)
        want = expected_forward(x, slope)
        shape = k % 4
        if shape == 1:  # a slice; the parent is dropped
            y, want = y[5:-3], want[5:-3]
        elif shape == 2:  # a base chain: reshape, transpose, step, then a memoryview's array
            y = np.asarray(memoryview(y.reshape(3, SMALL).T[::2]))
            want = want.reshape(3, SMALL).T[::2]
        elif shape == 3:  # a result dropped at once
            del y
            continue
        kept.append(y)
        expected.append(want)
        _disjoint(kept)
    for y, want in zip(kept, expected):  # nothing wrote over a live result
        assert_bits_equal(y, want, "a kept result")
    count("output cache: live results checked for shared memory", len(kept))


def test_writing_a_result_changes_no_other(cache):
    x = values(np.float64, 2 * SMALL, 5)
    a = leaky_c.leaky_relu(x, 0.5)
    view = a[::3]
    del a
    b = leaky_c.leaky_relu_backward(x, x, 0.5)
    b[...] = 7.0
    assert_bits_equal(view, expected_forward(x, 0.5)[::3], "a view, after another result was written")


def test_results_of_threads_calling_at_once_are_distinct_and_exact(cache):
    x = values(np.float32, 2 * SMALL + 1, 6)
    results: list = []
    lock = threading.Lock()
    errors: list = []

    def work(seed: int) -> None:
        try:
            mine = []
            for k in range(60):
                y = leaky_c.leaky_relu(x, seed / 8)
                if k % 3:  # keep some, drop others (their blocks go back meanwhile)
                    mine.append((y, seed / 8))
            with lock:
                results.extend(mine)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    _disjoint([y for y, _ in results])
    for y, slope in results:
        assert_bits_equal(y, expected_forward(x, slope), f"a thread's result, slope {slope}")
    count("output cache: results of concurrent threads checked", len(results))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_the_threshold_is_in_bytes_and_covers_a_million_float32(dtype):
    """From FROM_BYTES bytes of result the cache serves, whatever the dtype; below
    it np.empty does.  10^6 float32 (4 MB), below the former 2^20-element
    threshold, took np.empty's memory, whose cost depended on the process's
    glibc state (benchmarks/RESULTS.md, "Allocating calls")."""
    limit = _blocks.output_cache_bytes()
    leaky_c.set_output_cache(1 << 30)
    try:
        itemsize = np.dtype(dtype).itemsize
        at = _blocks.FROM_BYTES // itemsize
        for n, cached in ((at - 1, False), (at, True), (at + 1, True)):
            x = values(dtype, n, 9)
            for y, what in ((leaky_c.leaky_relu(x, 0.1), "forward"),
                            (leaky_c.leaky_relu_backward(x, x, 0.1), "backward"),
                            (leaky_c.leaky_relu(x[::-1], 0.1), "general path")):
                assert from_cache(y) == cached, f"{what} {dtype} n={n} ({y.nbytes} bytes)"
                assert y.flags.owndata != cached
        if dtype == np.float32:
            assert from_cache(leaky_c.leaky_relu(values(dtype, 10**6, 9), 0.1))
        leaky_c.set_output_cache(0)
        assert leaky_c.leaky_relu(values(dtype, at + 1, 9), 0.1).flags.owndata, "cache off"
    finally:
        leaky_c.set_output_cache(limit)


def test_release_and_limits(cache):
    x = values(np.float32, 2 * SMALL, 7)
    ys = [leaky_c.leaky_relu(x, 0.1) for _ in range(4)]
    del ys
    held = _blocks.output_cache_held()
    assert held >= 4 * x.nbytes
    assert leaky_c.release_output_cache() == held
    assert _blocks.output_cache_held() == 0
    y = leaky_c.leaky_relu(x, 0.1)  # after release: a new block, still right
    assert from_cache(y)
    assert_bits_equal(y, expected_forward(x, 0.1), "after release")
    del y
    one = _blocks.output_cache_held()
    leaky_c.set_output_cache(one)  # room for one block: a second one evicts the first
    a, b = leaky_c.leaky_relu(x, 0.1), leaky_c.leaky_relu(x, 0.2)
    del a, b
    assert _blocks.output_cache_held() == one
    leaky_c.set_output_cache(one - 1)  # a smaller limit frees what exceeds it
    assert _blocks.output_cache_held() == 0
    b = leaky_c.leaky_relu(x, 0.2)  # a block larger than the limit is freed when it dies
    del b
    assert _blocks.output_cache_held() == 0


def test_a_result_of_whole_2_mib_at_its_inputs_offset_keeps_its_block_class():
    """A result starts at its input's address modulo 4096, up to 4080 bytes into its
    block: a result of exactly 2 MiB must still take a 2 MiB block (the spare bytes
    after every block), or a limit of 2 MiB could never keep it."""
    limit = _blocks.output_cache_bytes()
    leaky_c.release_output_cache()
    leaky_c.set_output_cache(_blocks.FROM_BYTES)
    try:
        n = _blocks.FROM_BYTES // 4
        buffer = np.empty(n + 1024, np.float32)
        start = next(k for k in range(1024) if (buffer[k:].ctypes.data % 4096) >= 2048)
        x = buffer[start:start + n]
        x[...] = values(np.float32, n, 10)
        y = leaky_c.leaky_relu(x, 0.1)
        assert from_cache(y) and (y.ctypes.data - x.ctypes.data) % 4096 == 0
        y[-1] = 1.0  # its last bytes are the block's, writable
        del y
        assert _blocks.output_cache_held() == _blocks.FROM_BYTES, "the block was freed, not kept"
    finally:
        leaky_c.set_output_cache(limit)


def test_a_limit_of_zero_turns_the_cache_off(cache):
    x = values(np.float32, 2 * SMALL, 8)
    leaky_c.set_output_cache(0)
    y = leaky_c.leaky_relu(x, 0.1)
    assert y.flags.owndata and y.base is None, "with the cache off, results are np.empty's"
    assert_bits_equal(y, expected_forward(x, 0.1), "cache off")
    assert _blocks.output_cache_held() == 0


def test_set_output_cache_validates():
    limit = _blocks.output_cache_bytes()
    try:
        with pytest.raises(ValueError, match="max_bytes"):
            leaky_c.set_output_cache(-1)
        for bad in ("1", 1.5, None):
            with pytest.raises(TypeError, match="max_bytes"):
                leaky_c.set_output_cache(bad)
        size_max = 2 ** (8 * leaky_c._backend.ffi.sizeof("size_t")) - 1
        message = f"max_bytes={size_max + 1} must be at least 0 and at most {size_max}"
        with pytest.raises(ValueError, match=message):
            leaky_c.set_output_cache(size_max + 1)  # beyond size_t, like every setting
        leaky_c.set_output_cache(size_max)  # the largest is accepted: no limit in effect
        assert _blocks.output_cache_bytes() == size_max
    finally:
        leaky_c.set_output_cache(limit)
    assert _blocks.output_cache_bytes() == limit


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_the_environment_variable_sets_the_limit_and_bad_values_fail_import():
    probe = "import leaky_c; from leaky_c import _blocks; print(_blocks.output_cache_bytes())"
    done = _run(probe, LEAKY_C_OUTPUT_CACHE_BYTES="12345")
    assert done.returncode == 0 and done.stdout.split() == ["12345"], done.stderr
    for bad in ("lots", "-1"):
        done = _run("import leaky_c", LEAKY_C_OUTPUT_CACHE_BYTES=bad)
        assert done.returncode != 0
        assert "ImportError" in done.stderr and "LEAKY_C_OUTPUT_CACHE_BYTES" in done.stderr


def _child_checks(child_end) -> None:
    """In a forked child: the parent's live result is intact, and new results
    (some from blocks the parent left idle) share no memory with it."""
    try:
        x = values(np.float32, 2 * SMALL, 9)
        live = _CHILD_STATE["live"]
        fresh = [leaky_c.leaky_relu(x, 0.3) for _ in range(4)]
        _disjoint([live] + fresh)
        assert_bits_equal(live, expected_forward(x, 0.2), "the parent's result, in the child")
        for y in fresh:
            assert_bits_equal(y, expected_forward(x, 0.3), "a result in the child")
        child_end.send("ok")
    except BaseException as exc:  # noqa: BLE001 - sent to the parent
        child_end.send(repr(exc))


_CHILD_STATE: dict = {}


@pytest.mark.skipif(sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork")
@pytest.mark.skipif(os.environ.get("LEAKY_C_TSAN") == "1",
                    reason="ThreadSanitizer cannot run a forked child of a multi-threaded process")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_a_forked_child_gets_distinct_results(cache):
    x = values(np.float32, 2 * SMALL, 9)
    idle = [leaky_c.leaky_relu(x, 0.1) for _ in range(3)]
    del idle  # three idle blocks, inherited by the child
    _CHILD_STATE["live"] = leaky_c.leaky_relu(x, 0.2)
    try:
        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe()
        child = context.Process(target=_child_checks, args=(child_end,))
        child.start()
        assert parent_end.poll(120), "the forked child did not answer"
        assert parent_end.recv() == "ok"
        child.join(120)
        assert child.exitcode == 0
    finally:
        _CHILD_STATE.clear()
