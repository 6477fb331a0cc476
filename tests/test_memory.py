"""Memory: no leaks over many calls, no hidden copies, sizes beyond 2**31.

The arrays of more than 2**31 elements need several GB and run only with
LEAKY_C_BIGMEM=1 (marker ``bigmem``), and only where the memory they need
(measured, see _bytes_needed_in_place) is available:

    LEAKY_C_BIGMEM=1 python -m pytest -m bigmem tests/test_memory.py
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

import numpy as np
import pytest

import leaky_c
from arrays import assert_bits_equal, bits, values
from conftest import count, expected_backward, expected_forward, report

needs_c = pytest.mark.skipif(leaky_c.backend != "cffi",
                             reason="the no-copy guarantee is the C backend's; the NumPy "
                                    "reference allocates temporaries")
# The sanitizer build (tools/sanitize.sh) keeps freed memory in quarantine.
not_under_sanitizer = pytest.mark.skipif(os.environ.get("LEAKY_C_SANITIZER") == "1",
                                         reason="ASan's quarantine grows the resident set")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mixed_small_calls() -> list:
    """Small calls through every path: fast, general, strided, 16-bit, integer,
    out=, in place, backward, a scalar, and one that raises."""
    x32, g32 = values(np.float32, 64, 1), values(np.float32, 64, 2)
    x64 = values(np.float64, 33, 3)
    x16 = values(np.float16, 40, 4)
    out32 = np.empty_like(x32)
    strided = values(np.float64, 60, 5).reshape(6, 10)[::2, ::-3]
    ints = [1, -2, 3, -4]
    bad = np.zeros(3, np.complex64)

    def raises() -> None:
        try:
            leaky_c.leaky_relu(bad)
        except TypeError:
            pass

    return [
        lambda: leaky_c.leaky_relu(x32, 0.1),
        lambda: leaky_c.leaky_relu(x32, 0.1, out=out32),
        lambda: leaky_c.leaky_relu_backward(g32, x32, 0.1),
        lambda: leaky_c.leaky_relu(x64, np.float64(0.2)),
        lambda: leaky_c.leaky_relu(x16, 0.3),
        lambda: leaky_c.leaky_relu(strided, 0.3),
        lambda: leaky_c.leaky_relu(ints, 0.5),
        lambda: leaky_c.leaky_relu(-2.0, 0.5),
        lambda: leaky_c.leaky_relu_backward(x16, x16, 0.1, out=x16.copy()),
        raises,
    ]


@not_under_sanitizer
def test_many_small_calls_do_not_grow_resident_memory():
    calls = _mixed_small_calls()
    rounds = 30_000  # 300,000 calls
    for _ in range(2_000):  # warm up: caches, free lists, arenas
        for call in calls:
            call()
    gc.collect()
    before = _resident_bytes()
    for _ in range(rounds):
        for call in calls:
            call()
    gc.collect()
    grown = _resident_bytes() - before
    count("memory: small calls checked for leaks", rounds * len(calls))
    # A leak of even 16 bytes a call would be 4.8 MB here.
    assert grown < 2 << 20, \
        f"resident memory grew by {grown / 2**20:.1f} MiB over {rounds * len(calls)} calls"


def _traced_peak(call) -> int:
    """Peak bytes allocated (NumPy reports its buffers to tracemalloc) during call()."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - start


SLACK = 64 << 10  # cffi buffers, futures and the like: bytes, not a copy of anything


@needs_c
@pytest.mark.parametrize("n", [4099, 1 << 21], ids=["small", "threaded"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=str)
def test_contiguous_inputs_take_no_temporary_copy(dtype, order, n):
    x = np.asarray(values(dtype, n, 1).reshape(-1, 1 if n % 2 else 2), order=order)
    g = np.asarray(values(dtype, n, 2).reshape(x.shape), order=order)
    out = np.empty_like(x)
    nbytes = x.nbytes
    peaks = {
        "forward": _traced_peak(lambda: leaky_c.leaky_relu(x, 0.1)),
        "backward": _traced_peak(lambda: leaky_c.leaky_relu_backward(g, x, 0.1)),
        "forward, out=": _traced_peak(lambda: leaky_c.leaky_relu(x, 0.1, out=out)),
        "backward, out=": _traced_peak(lambda: leaky_c.leaky_relu_backward(g, x, 0.1, out=out)),
        "in place": _traced_peak(lambda: leaky_c.leaky_relu(out, 0.1, out=out)),
    }
    allowed = {"forward": nbytes, "backward": nbytes}  # the result itself; nothing else
    for name, peak in peaks.items():
        assert peak <= allowed.get(name, 0) + SLACK, (
            f"{name}: {peak} bytes allocated for a {nbytes}-byte {np.dtype(dtype)} input")
    assert_bits_equal(leaky_c.leaky_relu(x, 0.1), expected_forward(x, 0.1), "forward")
    assert_bits_equal(leaky_c.leaky_relu_backward(g, x, 0.1), expected_backward(g, x, 0.1), "backward")


# --- more than 2**31 elements ------------------------------------------------

PERIOD = 1021  # prime: a misplaced 2**31 or 2**32 offset would not line up with it


def _pattern(dtype: np.dtype) -> np.ndarray:
    """PERIOD values, most of them negative, so that an element the kernel
    skips keeps its input and shows (slope 0.5 changes every negative)."""
    tile = values(dtype, PERIOD, 11)
    with np.errstate(invalid="ignore"):
        tile[::4] = np.abs(tile[::4])
        tile[1::4] = -np.abs(tile[1::4])
        tile[2::4] = -np.abs(tile[2::4])
    return tile


def _bytes_needed_in_place(dtype: np.dtype, n: int) -> int:
    """The array plus what an in-place call allocates, measured on 2**20 elements
    (the C path needs nothing; a path through the NumPy reference needs its
    temporaries), plus 1 GiB of checking buffers and room."""
    probe = values(dtype, 1 << 20, 3)
    peak = _traced_peak(lambda: leaky_c.leaky_relu(probe, 0.5, out=probe))
    return n * dtype.itemsize + int(n * peak / probe.size) + (1 << 30)


def _available_bytes() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _in_place_beyond_2_31(dtype: np.dtype, n: int) -> None:
    need, available = _bytes_needed_in_place(dtype, n), _available_bytes()
    if need > available:
        pytest.skip(f"needs {need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available")
    slope = 0.5
    tile = _pattern(dtype)
    repeats = 1 << 16  # chunks of PERIOD * 2**16 elements, each starting at phase 0
    chunk = np.tile(tile, repeats)
    x = np.empty(n, dtype)
    for start in range(0, n, chunk.size):
        stop = min(n, start + chunk.size)
        x[start:stop] = chunk[: stop - start]
    del chunk
    began = time.perf_counter()
    assert leaky_c.leaky_relu(x, slope, out=x) is x
    seconds = time.perf_counter() - began
    want = np.tile(bits(expected_forward(tile, slope)), repeats)
    wrong = 0
    for start in range(0, n, want.size):
        stop = min(n, start + want.size)
        wrong += int(np.count_nonzero(bits(x[start:stop]) != want[: stop - start]))
    for i in (2**31 - 1, 2**31, 2**31 + 1, n - 1):  # either side of the 32-bit boundary
        assert bits(x[i:i + 1])[0] == want[i % PERIOD], f"element {i}"
    report(f"2**31+ elements: {dtype} in place, {n:,} elements ({x.nbytes / 2**30:.1f} GiB)",
           f"{wrong} wrong, {seconds:.2f} s, {leaky_c.get_num_threads()} threads, "
           f"backend {leaky_c.backend}")
    assert wrong == 0, f"{wrong} of {n} elements wrong"


@pytest.mark.bigmem
def test_float32_in_place_beyond_2_31_elements():
    # 8.6 GB: the C path works in place, with no temporary.
    _in_place_beyond_2_31(np.dtype(np.float32), 2**31 + 33)


@pytest.mark.bigmem
def test_float16_in_place_beyond_2_31_elements():
    # 4.3 GB through the float16 C kernels (the NumPy reference would need
    # about 17 GB more for its float32 temporaries; the measured need decides).
    _in_place_beyond_2_31(np.dtype(np.float16), 2**31 + 2**20)
