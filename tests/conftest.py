"""Shared fixtures, and the guard that the suite tests the backend it claims to."""

from __future__ import annotations

import os

import numpy as np
import pytest

import leaky_c
from leaky_c import _backend, _reference, _threads

FORCED_NUMPY = os.environ.get("LEAKY_C_BACKEND", "").strip().lower() == "numpy"


def pytest_report_header(config):
    target = _backend.active_target()
    return (f"leaky_c {leaky_c.__version__} from {os.path.dirname(leaky_c.__file__)}: "
            f"backend={leaky_c.backend}, target={target}, "
            f"runnable targets={_backend.runnable_targets()}")


def pytest_sessionstart(session):
    # A pass on the NumPy fallback says nothing about the C: refuse to run on it
    # unless it was chosen on purpose.
    if leaky_c.backend != "cffi" and not FORCED_NUMPY:
        pytest.exit(
            f"leaky_c imported from {leaky_c.__file__} runs the {leaky_c.backend!r} backend: "
            "the compiled module is missing. Install with `pip install -e .` (or run with "
            "LEAKY_C_BACKEND=numpy to test the NumPy fallback on purpose).", returncode=1)
    if FORCED_NUMPY:
        assert leaky_c.backend == "numpy"


def pytest_collection_modifyitems(config, items):
    # The bigmem tests need several GB: they are deselected (not skipped, which
    # would read as a missing dependency) unless LEAKY_C_BIGMEM=1.
    if os.environ.get("LEAKY_C_BIGMEM") == "1":
        return
    big = [item for item in items if item.get_closest_marker("bigmem")]
    if big:
        config.hook.pytest_deselected(items=big)
        items[:] = [item for item in items if not item.get_closest_marker("bigmem")]


@pytest.fixture(params=_backend.runnable_targets() or [None])
def target(request):
    """Run a test once per CPU target this machine can run (once on NumPy)."""
    if request.param is None:
        yield None
        return
    with _backend.using_target(request.param):
        yield request.param


@pytest.fixture
def thresholds():
    """set(grain, stream_threshold, threads): small thresholds so the thread and
    streaming paths run on small arrays, on leaky_c's own pool (never on PyTorch's
    OpenMP team, which an earlier test's PyTorch may have left loaded: that is
    tests/test_openmp.py's); everything is restored afterwards."""
    def set_thresholds(grain: int, stream: int, threads: int) -> None:
        _threads.configure(grain, stream)
        leaky_c.set_num_threads(threads)
    previous = (leaky_c.get_num_threads(), _threads.grain_bytes(), _threads.stream_threshold_bytes())
    team = _threads.openmp_allowed()
    _threads.allow_openmp(False)
    yield set_thresholds
    _threads.allow_openmp(team)
    leaky_c.set_num_threads(previous[0])
    _threads.configure(*previous[1:])


def promoted(arr: np.ndarray) -> np.ndarray:
    """What the API computes on: native byte order, integers and bools as float64."""
    arr = np.asarray(arr)
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return arr.astype(np.float64) if arr.dtype.kind in "iub" else arr


def expected_forward(x, slope):
    """The oracle: the NumPy reference on the promoted input (scalars for 0-d)."""
    x = promoted(x)
    result = _reference.leaky_relu(x, float(slope))
    return result[()] if x.ndim == 0 else result


def expected_backward(grad, x, slope):
    grad, x = promoted(grad), promoted(x)
    result = _reference.leaky_relu_backward(grad, x, float(slope))
    return result[()] if x.ndim == 0 else result


#: What the reliability tests exercised (hypothesis examples, bad inputs, threads
#: and calls, the big-array run), printed at the end of the run so the numbers
#: can be quoted.
COUNTS: dict[str, object] = {}


def count(name: str, n: int = 1) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + n


def report(name: str, value: object) -> None:
    COUNTS[name] = value


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        terminalreporter.section("leaky_c counts")
        for name, value in COUNTS.items():
            terminalreporter.write_line(f"{name}: {value:,}" if isinstance(value, int)
                                        else f"{name}: {value}")
