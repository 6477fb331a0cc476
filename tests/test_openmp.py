"""PyTorch's OpenMP team (csrc/openmp.c): large calls right after PyTorch's parallel
ops run on its spinning workers, and nowhere it could hang or wait.

What must hold: the runtime is found where PyTorch loaded libgomp, and its worker
also where it never sleeps (``OMP_WAIT_POLICY=ACTIVE``); calls that run on the team
give the bits they give on leaky_c's pool; a team that sleeps
(``OMP_WAIT_POLICY=PASSIVE``), another thread, a forked child (also one that
imported leaky_c after the fork) and ``LEAKY_C_OPENMP=0`` never use it.  The cases
whose state is the process's (the environment, fork) run in fresh interpreters.
"""

from __future__ import annotations

import os
import platform
import sys
import textwrap
import time

import numpy as np
import pytest

import leaky_c
from leaky_c import _config, _threads
from arrays import assert_bits_equal, values
from conftest import expected_backward, expected_forward
from test_concurrency import run_python

try:  # not at module level: the status test runs without PyTorch
    import torch
except ImportError:
    torch = None

N = 1 << 20  # float32: 4 MiB, split over 2 threads at the default grain
SLOPE = 0.2


def torch_libgomp() -> bool:
    """Whether this process has a libgomp and libtorch_cpu loaded (read here from
    /proc/self/maps, not as csrc/openmp.c finds them)."""
    try:
        with open("/proc/self/maps") as maps:
            names = {os.path.basename(line.split()[-1]) for line in maps if "/" in line}
    except OSError:
        return False
    return (any(name.startswith("libgomp") for name in names)
            and any(name.startswith("libtorch_cpu.") for name in names))


needs_team = pytest.mark.skipif(
    leaky_c.backend != "cffi" or torch is None or not torch_libgomp()
    or platform.machine() not in ("x86_64", "AMD64"),
    reason="needs the C backend and a PyTorch on GNU OpenMP (libgomp), on x86-64 Linux (where "
    "a sleeping worker can be found: csrc/openmp.c): pip install torch")


@pytest.fixture
def two_threads(thresholds):
    """leaky_c and PyTorch at 2 threads, the team allowed; restored afterwards."""
    thresholds(_threads.DEFAULT_GRAIN_BYTES, 1 << 62, 2)
    _threads.allow_openmp(True)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(saved)


@pytest.mark.skipif(leaky_c.backend != "cffi", reason="the C backend only")
def test_status_says_whether_torch_libgomp_is_loaded():
    want = (2, 3) if torch_libgomp() else (0,) if not sys.platform.startswith("linux") else (1,)
    status = leaky_c._backend.lib.leaky_openmp_status()
    assert status in want
    assert _config.config()["openmp"] == _threads.OPENMP_STATUS[status]


def find_the_team(x: np.ndarray) -> None:
    """Let PyTorch's workers fall asleep, then make the large call that finds one
    (csrc/openmp.c looks at most every 50 ms)."""
    torch.nn.functional.leaky_relu(torch.from_numpy(x), 0.01)
    time.sleep(0.1)  # past libgomp's spin
    leaky_c.leaky_relu(x, SLOPE)


@needs_team
def test_calls_right_after_torch_ops_run_on_its_team_with_the_same_bits(two_threads):
    x, g = values(np.float32, N, 1), values(np.float32, N, 2)
    tx = torch.from_numpy(x)
    want_forward, want_backward = expected_forward(x, SLOPE), expected_backward(g, x, SLOPE)
    find_the_team(x)
    before = _threads.openmp_calls()
    deadline = time.monotonic() + 20  # the team's worker must be alone on a core then
    while _threads.openmp_calls() == before and time.monotonic() < deadline:
        for attempt in range(10):
            torch.nn.functional.leaky_relu(tx, 0.01)  # PyTorch's workers spin afterwards
            assert_bits_equal(leaky_c.leaky_relu(x, SLOPE), want_forward, f"forward {attempt}")
            torch.nn.functional.leaky_relu(tx, 0.01)
            assert_bits_equal(leaky_c.leaky_relu_backward(g, x, SLOPE), want_backward,
                              f"backward {attempt}")
    assert _threads.openmp_calls() > before, "no call ran on PyTorch's team in 20 s"


@needs_team
def test_other_threads_never_use_the_team(two_threads):
    """libgomp gives each thread that opens a region its own team: only the main
    thread's is PyTorch's.  Each call here comes from another thread right after
    PyTorch's op on the main thread, while the main thread's team spins."""
    from concurrent.futures import ThreadPoolExecutor

    x = values(np.float32, N, 3)
    tx = torch.from_numpy(x)
    want = expected_forward(x, SLOPE)
    find_the_team(x)
    before = _threads.openmp_calls()
    with ThreadPoolExecutor(1) as other:
        for attempt in range(20):
            torch.nn.functional.leaky_relu(tx, 0.01)
            got = other.submit(leaky_c.leaky_relu, x, SLOPE).result(timeout=120)
            assert_bits_equal(got, want, f"from another thread, try {attempt}")
    assert _threads.openmp_calls() == before


# The fresh interpreters' common part: both libraries at 2 threads, PyTorch's
# op before each call, and the count of calls that ran on the team.
PROLOGUE = """
import os, sys, time
import numpy as np, torch
import leaky_c
from leaky_c._backend import lib
from arrays import assert_bits_equal, values
from conftest import expected_forward
torch.set_num_threads(2)
leaky_c.set_num_threads(2)
x = values(np.float32, 1 << 20, 1)
tx = torch.from_numpy(x)
want = expected_forward(x, 0.2)

def calls_after_torch_ops(times):
    before = lib.leaky_openmp_calls()
    for _ in range(times):
        torch.nn.functional.leaky_relu(tx, 0.01)
        assert_bits_equal(leaky_c.leaky_relu(x, 0.2), want)
    return lib.leaky_openmp_calls() - before
"""


@needs_team
def test_a_sleeping_team_is_not_used():
    """With OMP_WAIT_POLICY=PASSIVE PyTorch's workers sleep after each region: a call
    there would wait for a wake-up, so none runs on the team, found or not."""
    out = run_python(PROLOGUE + """
first = calls_after_torch_ops(1)
time.sleep(0.1)
leaky_c.leaky_relu(x, 0.2)  # finds a worker of the team, asleep
print(first, lib.leaky_openmp_status(), calls_after_torch_ops(30))
""", OMP_WAIT_POLICY="PASSIVE")
    assert out.split() == ["0", "3", "0"]  # 3: a worker watched


@needs_team
def test_leaky_c_openmp_0_keeps_every_call_on_leaky_cs_pool():
    out = run_python(PROLOGUE + """
from leaky_c._config import config
print(lib.leaky_openmp_status(), calls_after_torch_ops(30), config()["openmp"])
""", LEAKY_C_OPENMP="0")
    assert out.strip().split(maxsplit=2) == ["0", "0", _threads.OPENMP_STATUS[0]]


def in_forked_child(body: str) -> str:
    """Program text that forks: the child runs ``body``, which ends with ``os._exit``, and
    ends itself after 40 s if it hangs (the test's timeout ends only the parent); the
    parent prints the child's exit code."""
    return ("pid = os.fork()\nif pid == 0:\n    import signal\n    signal.alarm(40)\n"
            + textwrap.indent(body.strip("\n"), "    ")
            + "\n_, status = os.waitpid(pid, 0)\nprint(os.waitstatus_to_exitcode(status))\n")


@needs_team
@pytest.mark.skipif(os.environ.get("LEAKY_C_TSAN") == "1",
                    reason="ThreadSanitizer cannot run a forked child of a multi-threaded process")
def test_a_forked_child_never_uses_the_team_and_does_not_hang():
    """libgomp's team does not survive fork() (PyTorch's own parallel ops hang in the
    child): the child's calls, NumPy and leaky_c.torch, run on leaky_c's pool."""
    out = run_python(PROLOGUE + """
import leaky_c.torch as lt
calls_after_torch_ops(1)
time.sleep(0.1)  # PyTorch's workers asleep: the next large call finds one
leaky_c.leaky_relu(x, 0.2)
deadline = time.monotonic() + 20
while calls_after_torch_ops(10) == 0:
    assert time.monotonic() < deadline, "the parent never used the team"
""" + in_forked_child("""
before = lib.leaky_openmp_calls()
for _ in range(5):
    assert_bits_equal(leaky_c.leaky_relu(x, 0.2), want)
    assert_bits_equal(lt.leaky_relu(tx, 0.2).numpy(), want)
os._exit(0 if lib.leaky_openmp_status() == 0 and lib.leaky_openmp_calls() == before else 3)
"""), timeout=60)
    assert out.split() == ["0"]


@needs_team
@pytest.mark.skipif(os.environ.get("LEAKY_C_TSAN") == "1",
                    reason="ThreadSanitizer cannot run a forked child of a multi-threaded process")
def test_a_child_forked_before_leaky_c_was_imported_does_not_hang():
    """The parent ran PyTorch's team, then forked; the child imports leaky_c only then
    (no fork handler of leaky_c ran) and finds libgomp loaded, while another of its
    threads runs (as a team's spinning worker would): the child tells it is a fork
    from its parent's map of libgomp, so no region looks for a team that is not
    there (it would never end) and its large calls run on leaky_c's pool."""
    out = run_python("""
import os, threading, time, torch
torch.set_num_threads(2)
a = torch.randn(384, 384)
torch.mm(a, a)
""" + in_forked_child("""
import numpy as np, leaky_c
from leaky_c._backend import lib
stop = threading.Event()
def busy():  # NumPy's sort runs without the GIL: this thread is seen running
    values = np.random.default_rng(0).random(1 << 16)
    while not stop.is_set():
        np.sort(values)
other = threading.Thread(target=busy)
other.start()
x = np.linspace(-1, 1, 1 << 20, dtype=np.float32)
for _ in range(5):
    ok = np.array_equal(leaky_c.leaky_relu(x, 0.5), np.where(x > 0, x, x * np.float32(0.5)))
    time.sleep(0.06)  # past the 50 ms between looks for a worker
stop.set()
other.join()
os._exit(0 if ok and lib.leaky_openmp_status() == 0 and lib.leaky_openmp_calls() == 0 else 3)
"""), timeout=60)
    assert out.split() == ["0"]


@needs_team
def test_a_team_that_never_sleeps_is_found_and_used():
    """With OMP_WAIT_POLICY=ACTIVE PyTorch's workers spin between its ops and never
    sleep, as in a training loop whose ops follow each other within libgomp's spin:
    no worker is ever seen asleep, and an empty region finds one instead."""
    out = run_python(PROLOGUE + """
deadline = time.monotonic() + 20
calls = 0
while calls == 0 and time.monotonic() < deadline:
    calls = calls_after_torch_ops(10)
print(lib.leaky_openmp_status(), calls > 0)
""", OMP_WAIT_POLICY="ACTIVE")
    assert out.split() == ["3", "True"]
