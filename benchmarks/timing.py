"""How a group of implementations is timed, and the thread count every peer is set to.

- Warm-up: each implementation's first call (the one whose result is checked)
  is not timed; it also faults in the pages of preallocated buffers.  Nor is
  the first call of the autoscaling (``calibrate``).
- Autoscale: calls per timing are chosen so one timing lasts ``min_time``
  seconds or more (one call per timing when a call takes longer).
- Repeats are interleaved: repeat r of every implementation in the group runs
  before repeat r + 1 of any, so drift on a shared machine hits all alike.
  Each repeat gives seconds per call; the report uses the best and the median.
  The repeats are shared among passes over the whole plan (``suite.PASSES``),
  so that a row's repeats are seconds apart, not all within one second.
- Settle: with more than one thread, a timing that follows one of an
  implementation whose pool keeps spinning after a call (``Plan.spins``:
  PyTorch, JAX, TensorFlow, numexpr) starts once the pool has gone to
  sleep: on Linux, once the process's other threads have used under a
  tenth of a core over two polls of a millisecond in a row (each thread's
  own CPU clock, exact to the nanosecond), at most about ``SETTLE_S``;
  elsewhere after a pause of ``SETTLE_S``.  (A spinning thread that other
  work keeps off the cores for two polls also reads as quiet.)  PyTorch's
  OpenMP workers spin for about 9 ms of CPU after each parallel region
  (libgomp's default); on a 2-core machine they took a core from whatever
  was timed next, and that
  alone made leaky_c look 20-40% slower than PyTorch at 3*10^6 elements
  (benchmarks/RESULTS.md).  ONNX Runtime's spinning is turned off
  (ml_peers.py); leaky_c's workers spin 0.2 ms.
- Garbage collection is off while timing, as in ``timeit``.
- Each timing also records the process's CPU time over its wall time
  (``Plan.cores``): the cores the implementation kept busy.
- In place: applying Leaky ReLU again to its own output is a different
  workload (negative values shrink by the slope each time, pass through
  subnormals and end at -0.0 after ~20 calls), so every in-place call gets a
  fresh copy of the input.  The copies are restored outside the timed region:
  ``batch`` scratch rows are refilled from the input, then the calls on all
  rows are timed together, so the timer's own cost (measured, and subtracted)
  is spread over enough calls to stay below ~1% of the time.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import leaky_c

#: Longest pause before each timing when threads are used: longer than any peer's
#: pool spins after a call (libgomp: about 9 ms here; leaky_c: 0.2 ms).
SETTLE_S = 0.03
#: The settle's poll, and the share of one core the other threads may use during
#: QUIET_POLLS polls in a row for the process to count as quiet.
SETTLE_POLL_S = 0.001
QUIET_SHARE = 0.1
QUIET_POLLS = 2
#: Peers whose workers spin after a call (their --peers families).
SPINNING_FAMILIES = ("torch", "jax", "tensorflow", "numexpr")

#: Timer cost kept below this fraction of a batch of in-place calls.
TIMER_SHARE = 0.01
MAX_BATCH = 4096


def timer_overhead(samples: int = 20000) -> float:
    """Seconds one empty timed region costs (two perf_counter calls), the best of 5."""
    clock = time.perf_counter
    best = math.inf
    for _ in range(5):
        total = 0.0
        for _ in range(samples):
            start = clock()
            total += clock() - start
        best = min(best, total / samples)
    return best


@dataclass
class Plan:
    """How one implementation is timed: its calls, their count, and the restore step."""

    calls: list[Callable[[], Any]]  # one call per scratch row in place, else one call
    restore: Optional[Callable[[int], None]] = None  # refill the first k rows, untimed
    number: int = 1  # calls per timing
    times: list[float] = field(default_factory=list)  # seconds per call, one per repeat
    cores: list[float] = field(default_factory=list)  # the process's CPU / wall time, per repeat
    spins: bool = True  # its pool may keep a core busy after a call (suite.py knows which do)

    @property
    def batch(self) -> int:
        return len(self.calls)


def time_once(plan: Plan, overhead: float) -> float:
    """Seconds per call over one timing of ``plan.number`` calls."""
    clock = time.perf_counter
    if plan.restore is None:
        call = plan.calls[0]
        loop = itertools.repeat(None, plan.number)
        start = clock()
        for _ in loop:
            call()
        return (clock() - start) / plan.number
    rounds = -(-plan.number // plan.batch)
    total = 0.0
    for _ in range(rounds):
        plan.restore(plan.batch)
        start = clock()
        for call in plan.calls:
            call()
        total += clock() - start
    return max(total - rounds * overhead, 0.0) / (rounds * plan.batch)


def calibrate(plan: Plan, min_time: float, overhead: float) -> float:
    """Set ``plan.number`` so one timing lasts ``min_time`` or more; return seconds per call.

    The first call is not counted: it can be many times slower than the next
    ones (a fresh output block faulted in with huge-page compaction, caches
    cold after the previous implementation), and a count chosen from it made
    every timing a handful of calls, each repeat then led by one such slow
    call.  That is how leaky_c's allocating forward at 10^6 elements read
    150-260 us in some runs and 90 us in others (benchmarks/RESULTS.md)."""
    plan.number = 1
    time_once(plan, overhead)
    while True:
        per_call = time_once(plan, overhead)
        elapsed = per_call * plan.number
        if elapsed >= min_time / 10 or plan.number >= 10 ** 9:
            break
        grow = (min_time / 10) / max(elapsed, 1e-9) * 1.5
        plan.number = math.ceil(plan.number * min(max(grow, 2.0), 100.0))
    plan.number = max(1, math.ceil(min_time / max(per_call, 1e-12)))
    return per_call


def inplace_batch(per_call: float, overhead: float, number: int) -> int:
    """Fresh copies per timed batch so the timer costs at most TIMER_SHARE of it."""
    wanted = math.ceil(overhead / (TIMER_SHARE * max(per_call, 1e-12)))
    return max(1, min(wanted, number, MAX_BATCH))


def _thread_clock(tid: int) -> int:
    """The kernel's CPU clock id of thread ``tid`` of this process (Linux:
    MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)), exact to the nanosecond."""
    return (~tid << 3) | 6


def other_threads_cpu_ns() -> Optional[dict[int, int]]:
    """CPU nanoseconds used so far by each of this process's threads other than the
    caller, by thread id, read from each thread's own clock; None without such clocks
    (not Linux, or the caller's own clock does not read as its CPU time).  The process
    clock would not do: it counts other running threads' time only at the scheduler's
    tick (4 ms)."""
    if not sys.platform.startswith("linux"):
        return None
    me = threading.get_native_id()
    try:
        own = time.thread_time_ns()
        if time.clock_gettime_ns(_thread_clock(me)) < own:
            return None  # not this thread's clock
        tids = [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return None
    if me not in tids:  # a /proc of another PID namespace: its ids are not ours
        return None
    used: dict[int, int] = {}
    for tid in tids:
        if tid != me:
            with contextlib.suppress(OSError):  # the thread ended since the listing
                used[tid] = time.clock_gettime_ns(_thread_clock(tid))
    return used


def settle() -> float:
    """Wait until the process's other threads use no CPU (a pool asleep, or one that has
    no core), about SETTLE_S at most; return the seconds waited.  Without per-thread
    clocks, wait SETTLE_S."""
    clock = time.perf_counter
    start = polled = clock()
    before = used = other_threads_cpu_ns()
    quiet = 0
    while before is not None and quiet < QUIET_POLLS and polled - start < SETTLE_S:
        time.sleep(SETTLE_POLL_S)
        used, now = other_threads_cpu_ns(), clock()
        if used is None:
            break
        # threads that ended since the last poll are left out; a new one counts whole
        spent = sum(ns - before.get(tid, 0) for tid, ns in used.items())
        quiet = quiet + 1 if spent / 1e9 < QUIET_SHARE * (now - polled) else 0
        before, polled = used, now
    if before is None or used is None:  # no per-thread clocks: the fixed pause
        time.sleep(max(SETTLE_S - (clock() - start), 0.0))
    return clock() - start


def measure(plans: list[Plan], repeat: int, overhead: float) -> None:
    """Append ``repeat`` timings to each plan, interleaved across plans."""
    enabled = gc.isenabled()
    threaded = len(plans) > 1 and leaky_c.get_num_threads() > 1
    gc.disable()
    try:
        for _ in range(repeat):
            for i, plan in enumerate(plans):
                if threaded and plans[i - 1].spins:
                    settle()
                cpu, wall = time.process_time(), time.perf_counter()
                plan.times.append(time_once(plan, overhead))
                plan.cores.append((time.process_time() - cpu)
                                  / max(time.perf_counter() - wall, 1e-9))
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def peer_threads(n: int) -> Iterator[None]:
    """Set leaky_c, PyTorch and numexpr (if imported) to n threads; restore them afterwards.

    NumPy and numba @vectorize (target "cpu") are single-threaded; see peers.py.
    """
    restores: list[Callable[[], None]] = []
    previous = leaky_c.get_num_threads()
    leaky_c.set_num_threads(n)
    restores.append(lambda: leaky_c.set_num_threads(previous))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch_previous = torch.get_num_threads()
        torch.set_num_threads(n)
        restores.append(lambda: torch.set_num_threads(torch_previous))
    numexpr = sys.modules.get("numexpr")
    if numexpr is not None:
        numexpr_previous = numexpr.set_num_threads(n)
        restores.append(lambda: numexpr.set_num_threads(numexpr_previous))
    try:
        yield
    finally:
        for restore in reversed(restores):
            restore()
