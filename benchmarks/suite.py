"""The sweep: every dtype, size, case and thread count, each timed as one group."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import statistics
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, Optional, Protocol

import numpy as np

import leaky_c
from leaky_c import _config, _reference

from . import machine, peers, timing
from .peers import CASES, DTYPES, FAMILIES, Impl, Workload

#: The JSON's identity; SCHEMA_VERSION changes whenever a field changes meaning
#: or goes away (see README.md in this directory).
SCHEMA = "leaky_c.bench"
SCHEMA_VERSION = 3


class BenchError(ValueError):
    """A bad option or file: reported as one line by the CLI, never a traceback."""


DEFAULT_SIZES = (100, 10_000, 1_000_000, 2 ** 24)
#: The cases of the default run and its headline table.
DEFAULT_CASES = ("forward-alloc", "forward-out", "backward-alloc")
#: The thread-scaling view (--scaling): these sizes, forward into out=, leaky_c,
#: PyTorch and the C copy bound at 1, 2, ... threads up to the core count.
SCALING_SIZES = (100_000, 1_000_000, 10_000_000, 2 ** 26)
SCALING_CASE = "forward-out"
SCALING_FAMILIES = ("torch", "bounds")
#: 10, 30, 100, 300, ..., 10^8 (about every half decade), plus 2^24 and 2^28 (1 GiB of float32).
FULL_SIZES = tuple(sorted({m * 10 ** e for e in range(1, 9) for m in (1, 3)
                           if m * 10 ** e <= 10 ** 8} | {2 ** 24, 2 ** 28}))
#: Arrays of n elements alive at once in the worst case (inputs, expected results,
#: buffers, a peer's temporaries): sizes that do not fit in free memory are skipped.
ARRAYS_ALIVE = 11
#: Passes over the plan per thread count, the repeats shared among them.  The machine's
#: state changes within seconds (a 1-thread copy of 10^6 float32 switched between 83
#: and 120-140 us every few seconds in one process, benchmarks/RESULTS.md); one pass
#: put a row's five repeats within about a second, so they could all fall in one state,
#: and two identical runs then differed beyond their own spread.
PASSES = 2

#: What each implementation id in the results means.
IMPLEMENTATIONS = {
    "leaky_c": "leaky_c itself, at the group's thread count",
    "numpy.where": "np.where(x > 0, x, a*x): what most users write (1 thread)",
    "numpy.maximum": "np.maximum(x, a*x): correct only for 0 <= a <= 1 (1 thread)",
    "numpy.ufuncs": "the fastest NumPy form into preallocated buffers (1 thread)",
    "numexpr": "numexpr.evaluate with a where(), at the group's thread count",
    "numba": "numba @vectorize, target 'cpu' (1 thread; see peers.py for why not 'parallel')",
    "torch": "PyTorch CPU on tensors sharing the arrays' memory, at the group's thread count",
    "bound.numpy": "copy bound in NumPy, 1 thread: np.copyto (glibc memcpy) forward, "
                   "np.bitwise_or of the two inputs backward",
    "bound.nt": "copy bound in C (benchmarks/bounds.c: copy forward, a | b backward) at the "
                "group's thread count, non-temporal stores for outputs of at least "
                "stream_threshold_bytes (the largest cache): the bound leaky_c is held to; in "
                "allocating cases it allocates its output (np.empty_like) on each call",
    "bound.nt.out": "allocating cases only: bound.nt into an output allocated beforehand, so "
                    "its memory is mapped, as leaky_c's output cache has it in a steady loop: "
                    "the copy-bound column of allocating rows",
}
#: Units of the fields that carry one; every name ending in _s is seconds.
UNITS = {
    "*_s": "seconds (per call, for timings)",
    "times_s": "seconds per call, one per interleaved repeat (the first pass's, then the "
               "second's: suite.PASSES)",
    "gbps": "1e9 bytes per second: bytes_moved / best_s",
    "gbps_median": "1e9 bytes per second: bytes_moved / median_s",
    "*_bytes": "bytes", "bytes_moved": "bytes read and written by one call",
    "ratio": "this row's best_s / leaky_c's best_s in the same group (no unit)",
    "spread": "median_s / best_s - 1 (no unit): the run-to-run noise of this row",
    "cores": "CPU seconds of the measuring process per wall second while the row was timed",
}


class Progress(Protocol):
    """What the suite reports progress to (a tqdm bar, or a stand-in that does nothing)."""

    def set_description_str(self, desc: str) -> Any: ...

    def update(self, n: int = 1) -> Any: ...


class NoProgress:
    def set_description_str(self, desc: str) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass



@dataclass
class Options:
    """What to measure, and how long each timing lasts."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    dtypes: tuple[str, ...] = ("float32",)
    threads: tuple[int, ...] = field(
        default_factory=lambda: tuple(sorted({1, machine.available_cores()})))
    cases: tuple[str, ...] = DEFAULT_CASES
    families: tuple[str, ...] = FAMILIES
    min_time: float = 0.02
    repeat: int = 5
    scaling_threads: tuple[int, ...] = ()  # empty: no thread-scaling view
    slope: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        # each size, dtype, case and family once (a repeated one would be one group twice)
        for name in ("sizes", "dtypes", "cases", "families", "threads", "scaling_threads"):
            setattr(self, name, tuple(dict.fromkeys(getattr(self, name))))

    def validate(self, names: Mapping[str, str] = MappingProxyType({})) -> None:
        """BenchError naming the option that is out of range (as ``names`` spells it)."""
        def name(field_name: str) -> str:
            return names.get(field_name, field_name)

        for field_name, valid in (("dtypes", DTYPES), ("cases", tuple(CASES)),
                                  ("families", FAMILIES)):
            values = getattr(self, field_name)
            bad = [value for value in values if value not in valid]
            if bad or not values:
                raise BenchError(f"{name(field_name)} must be one or more of {', '.join(valid)}; "
                                 f"got {', '.join(map(str, bad)) or 'nothing'}")
        if not self.sizes or any(n < 1 for n in self.sizes):
            raise BenchError(f"{name('sizes')} must be positive element counts, "
                             f"got {list(self.sizes)}")
        if not self.threads or any(t < 1 for t in self.threads + self.scaling_threads):
            raise BenchError(f"{name('threads')} must be positive counts, got {list(self.threads)}")
        if not self.min_time > 0:
            raise BenchError(f"{name('min_time')} must be positive seconds, got {self.min_time}")
        if self.repeat < 1:
            raise BenchError(f"{name('repeat')} must be at least 1, got {self.repeat}")
        if not np.isfinite(self.slope):
            raise BenchError(f"{name('slope')} must be finite, got {self.slope}")


def header(options: Options, overhead: float, versions: dict[str, Optional[str]]
           ) -> dict[str, Any]:
    """Everything in the JSON but the timings: machine, versions, leaky_c's target, options."""
    cfg = _config.config()
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "units": UNITS,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "machine": machine.describe(),
        "load_average": {"start": machine.load_average(), "end": None},
        "cpu": None, "isolation": None, "processes": [],
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                     "leaky_c": leaky_c.__version__, **versions},
        "target": cfg["active_target"],
        "leaky_c_config": cfg,
        "threads": list(options.threads),
        "scaling_threads": list(options.scaling_threads),
        "options": asdict(options),
        "timer_overhead_s": overhead,
        "stream_threshold_bytes": machine.stream_threshold_bytes(),
        "implementations": IMPLEMENTATIONS,
        "unavailable": {}, "notes": [], "semantics": [], "results": [], "extras": [],
    }


def _row(w: Workload, impl: Impl, section: str) -> dict[str, Any]:
    case = w.case
    return {
        "section": section, "dtype": str(w.x.dtype), "n": int(w.x.size), "case": case.name, "op": case.op,
        "mode": case.mode, "threads": w.threads, "impl": impl.impl, "family": impl.family,
        "label": impl.label, "role": impl.role, "threads_used": impl.threads_used,
        "status": "skipped", "verified": False, "verification": None, "note": impl.note,
        "bytes_moved": case.streams * w.x.nbytes, "number": None, "batch": None,
        "times_s": [], "best_s": None, "median_s": None, "gbps": None, "gbps_median": None,
        "spread": None, "ratio": None, "ratio_median": None, "cores": None,
    }


def _prepare(w: Workload, impl: Impl, row: dict[str, Any], min_time: float,
             overhead: float, scaled: Optional[dict[str, Any]] = None
             ) -> Optional[timing.Plan]:
    """Warm up, check the result, and autoscale: the plan to time, or None (row says why).
    ``scaled``: this implementation's row from an earlier pass of the group, whose calls
    per timing and batch are kept (the same work on the same values: the autoscaling
    would choose them again, and a later pass's repeats stay comparable with the first's)."""
    assert impl.bind is not None
    inplace = w.case.mode == "inplace" and impl.role != "bound"
    expected = w.expected if impl.expected is None else impl.expected
    try:
        if inplace:
            block = w.inplace_rows(1)
            np.copyto(block, w.x)
            impl.bind(block[0])()
            result: Any = block[0]
        else:
            call = impl.bind(w.x)
            result = impl.result_of(call())
        ok, how = peers.check(result, expected, impl.float16_tolerance)
        only_special = not ok and impl.role == "peer" and peers.agrees_outside(
            result, expected, w.special, impl.float16_tolerance)
        del result  # an allocating call's steady loop drops each result: so does the timing
    except Exception as exc:  # a peer that cannot run this case is reported, not fatal
        row.update(status="failed", note=f"failed: {type(exc).__name__}: {exc}")
        return None
    row.update(verified=ok, verification=how if ok else None)
    if not ok and not only_special:
        row.update(status="mismatch", note=how)
        return None
    if not ok:  # a runtime's own treatment of zeros and subnormals (special.py): timed, marked
        row.update(verification=f"differs only at +-0 or subnormal values: {how}")

    def restorer(rows: np.ndarray) -> Callable[[int], None]:
        return lambda k: np.copyto(rows[:k], w.x)

    plan = timing.Plan([impl.bind(block[0])], restorer(block)) if inplace else timing.Plan([call])
    if scaled is None:
        per_call = timing.calibrate(plan, min_time, overhead)
        batch = timing.inplace_batch(per_call, overhead, plan.number) if inplace else 1
    else:
        timing.time_once(plan, overhead)  # untimed, as the autoscaling's first call
        plan.number, batch = scaled["number"], scaled["batch"]
    if batch > 1:
        block = w.inplace_rows(batch)
        plan = timing.Plan([impl.bind(row_) for row_ in block], restorer(block), plan.number)
    return plan


def time_group(w: Workload, options: Options, overhead: float, families: tuple[str, ...],
               section: str = "sweep", repeat: Optional[int] = None,
               earlier: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Time every implementation of one workload, interleaved, ``repeat`` times (default:
    ``options.repeat``); one row each, its ``times_s`` filled in (see :func:`summarise`).
    ``earlier``: the group's rows from an earlier pass, whose autoscaling is kept."""
    impls = peers.implementations(w, families)
    rows, plans = [], []
    for index, impl in enumerate(impls):
        row = _row(w, impl, section)
        rows.append(row)
        if impl.bind is None:
            continue
        scaled = None
        if earlier is not None and earlier[index]["status"] == "ok":
            scaled = earlier[index]
            assert scaled["impl"] == impl.impl, "a later pass lists the same implementations"
        plan = _prepare(w, impl, row, options.min_time, overhead, scaled)
        if plan is not None:
            plan.spins = impl.family in timing.SPINNING_FAMILIES
            plans.append((row, plan))
    timing.measure([plan for _, plan in plans], options.repeat if repeat is None else repeat,
                   overhead)
    for row, plan in plans:
        row.update(status="ok", number=plan.number, batch=plan.batch, times_s=plan.times,
                   cores=statistics.median(plan.cores))
    return rows


def merge_pass(rows: list[dict[str, Any]], later: list[dict[str, Any]]) -> None:
    """Add a later pass's timings of the same group to ``rows`` (same implementations,
    same order).  A row that failed in either pass keeps the failure."""
    for row, again in zip(rows, later):
        if row["status"] == "ok" and again["status"] == "ok":
            row["times_s"] = row["times_s"] + again["times_s"]
            row["cores"] = max(row["cores"], again["cores"])
        elif row["status"] == "ok":
            row.update(again)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best, median, spread, throughput and ratio to leaky_c from each row's timings."""
    for row in rows:
        if row["status"] != "ok":
            continue
        times = row["times_s"]
        best, median = min(times), statistics.median(times)
        row.update(best_s=best, median_s=median, spread=median / best - 1 if best > 0 else None,
                   gbps=row["bytes_moved"] / best / 1e9 if best > 0 else None,
                   gbps_median=row["bytes_moved"] / median / 1e9 if median > 0 else None)
    reference = rows[0]  # leaky_c
    if reference["status"] == "ok":
        for row in rows:
            if row["status"] == "ok":
                row["ratio"] = row["best_s"] / reference["best_s"]
                row["ratio_median"] = row["median_s"] / reference["median_s"]
    return rows


def _results(op: str, x: np.ndarray, grad: np.ndarray, slope: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """leaky_c's result (what peers must match) and its NumPy reference's (what leaky_c must)."""
    if op == "forward":
        return leaky_c.leaky_relu(x, slope), _reference.leaky_relu(x, slope)
    return (leaky_c.leaky_relu_backward(grad, x, slope),
            _reference.leaky_relu_backward(grad, x, slope))


def _installed(name: str) -> tuple[bool, Optional[str]]:
    """Whether module ``name`` can be found, and its distribution's version, without importing it.

    The measuring processes import the peers; this one only describes the run.
    """
    if name in sys.modules:
        module = sys.modules[name]
        return module is not None, getattr(module, "__version__", None)
    try:
        if importlib.util.find_spec(name) is None:
            return False, None
    except (ImportError, ValueError):
        return False, None
    for dist in (name, f"{name}-cpu", f"{name}-intel"):
        try:
            return True, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return True, None


def versions_and_skips(families: tuple[str, ...]) -> tuple[dict[str, Optional[str]],
                                                              dict[str, str]]:
    """Each optional peer's version (None: absent), and why absent ones are skipped."""
    versions: dict[str, Optional[str]] = {}
    unavailable: dict[str, str] = {}
    for name, install in peers.OPTIONAL_MODULES.items():
        found, version = _installed(name)
        versions[name] = version if found else None
        if not found and name in families:
            unavailable[name] = f"skipped: {name} not installed ({install})"
    return versions, unavailable


def group_count(options: Options) -> int:
    """Timed groups the sweep and the scaling view will run (for a progress bar)."""
    sweep = len(options.dtypes) * len(options.sizes) * len(options.cases) * len(options.threads)
    return (sweep + len(SCALING_SIZES) * len(options.scaling_threads)) * len(
        pass_repeats(options.repeat))


def start(options: Options, isolate: bool = True) -> dict[str, Any]:
    """The document before any timing: its header is complete (see header())."""
    options.validate()
    versions, unavailable = versions_and_skips(options.families)
    doc = header(options, timing.timer_overhead(), versions)
    doc["unavailable"] = unavailable
    doc["isolation"] = ("a process per thread count" if isolate
                        else "one process for every thread count (--same-process)")
    return doc


#: One measuring step: (section, dtype, sizes, cases, thread counts, families).
Step = tuple[str, str, tuple[int, ...], tuple[str, ...], tuple[int, ...], tuple[str, ...]]


def _plan(options: Options, scaling_sizes: tuple[int, ...]) -> list[Step]:
    plan: list[Step] = [("sweep", dtype, options.sizes, options.cases, options.threads,
                         options.families) for dtype in options.dtypes]
    if options.scaling_threads:
        families = tuple(f for f in SCALING_FAMILIES if f in options.families)
        plan.append(("scaling", "float32", scaling_sizes, (SCALING_CASE,),
                     options.scaling_threads, families))
    return plan


def families_at(options: Options, threads: int, scaling_sizes: tuple[int, ...]) -> tuple[str, ...]:
    """The families the plan times at this thread count."""
    found = [family for *_, counts, families in _plan(options, scaling_sizes)
             if threads in counts for family in families]
    return tuple(dict.fromkeys(found))


def thread_counts(options: Options) -> tuple[int, ...]:
    """Every thread count the run measures at, each in its own process."""
    return tuple(sorted(set(options.threads) | set(options.scaling_threads)))


Emit = Callable[[str, Any], None]


def pass_repeats(repeat: int) -> list[int]:
    """How ``repeat`` timings split over the passes (at most PASSES, none empty)."""
    return [r for r in (repeat // PASSES + (i < repeat % PASSES) for i in range(PASSES)) if r]


def run_thread_count(options: Options, threads: int, overhead: float,
                     scaling_sizes: tuple[int, ...], semantics: bool, emit: Emit) -> None:
    """Everything measured at one thread count, in this process, reported through ``emit``.

    The groups are timed in PASSES passes over the whole plan, each with its share of
    the repeats and its own arrays, so that every row's repeats come from moments some
    seconds apart and from two sets of arrays.

    Events: ("process", what runs it), ("semantics", records), ("progress", text),
    ("rows", rows of one group), ("timed", a group's earlier pass), ("skipped", groups
    not run), ("note", text).
    """
    from . import special
    emit("process", {"threads": threads, "pid": os.getpid(),
                     "xla_flags": os.environ.get("XLA_FLAGS"), "cores": machine.available_cores(),
                     "imported_after_s": None, "peers_imported": None,
                     "measuring_after_s": time.time()})
    if semantics:
        with timing.peer_threads(threads):
            emit("semantics", special.check(options.cases, options.dtypes, options.slope,
                                            threads, options.families))
    repeats = pass_repeats(options.repeat)
    earlier: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    skipped: set[tuple[str, str, int]] = set()
    for index, repeat in enumerate(repeats):
        last = index == len(repeats) - 1
        # Each pass makes its own arrays and maps leaky_c's output blocks anew, as a
        # fresh process would (the kernel may still hand back the same pages).
        leaky_c.release_output_cache()
        for key, w, families in _groups(options, threads, scaling_sizes, emit, skipped,
                                        first=index == 0, passes_left=len(repeats) - index):
            with timing.peer_threads(threads):
                rows = time_group(w, options, overhead, families, key[0], repeat,
                                  earlier.get(key))
            del w
            if key in earlier:
                merge_pass(earlier[key], rows)
                rows = earlier.pop(key)
            if last:
                emit("rows", summarise(rows))
            else:
                earlier[key] = rows
                emit("timed", 1)
    for rows in earlier.values():  # sizes that memory let through an earlier pass only
        emit("rows", summarise(rows))


def _groups(options: Options, threads: int, scaling_sizes: tuple[int, ...], emit: Emit,
            skipped: set[tuple[str, str, int]], first: bool, passes_left: int
            ) -> Iterator[tuple[tuple[Any, ...], Workload, tuple[str, ...]]]:
    """Each group of the plan at this thread count: (key, workload, families).  A size
    too large for the free memory is skipped from then on (``skipped``), and said: on the
    first pass, every pass of its groups; on a later one, the rest, its rows keeping the
    earlier passes' repeats."""
    for section, dtype_name, sizes, cases, counts, families in _plan(options, scaling_sizes):
        if threads not in counts:
            continue
        dtype = np.dtype(dtype_name)
        for n in sizes:
            if (section, dtype_name, n) in skipped:
                continue
            need, free = ARRAYS_ALIVE * n * dtype.itemsize, machine.memory_bytes("MemAvailable")
            if free is not None and need > free:
                skipped.add((section, dtype_name, n))
                when = "" if first else " from its second pass on"
                emit("note", f"skipped {section} {dtype_name} n={n} at {threads} threads{when}: "
                             f"needs about {need >> 20} MiB, {free >> 20} MiB free")
                emit("skipped", len(cases) * (passes_left if first else passes_left - 1))
                continue
            x, grad = peers.make_inputs(dtype, n, options.seed)
            op = expected = oracle = None
            for case_name in cases:
                case = CASES[case_name]
                if case.op != op:
                    expected = oracle = None  # one op's results alive at a time
                    op = case.op
                    expected, oracle = _results(op, x, grad, options.slope)
                emit("progress", f"{dtype_name} n={n} {case_name} {threads}T")
                yield ((section, dtype_name, n, case_name),
                       Workload(case, x, grad, expected, oracle, options.slope, threads), families)


#: Lines of the measuring process's stdout that carry events start with this.
EVENT_PREFIX = "\x1eleaky_c.bench "


#: TensorFlow's start-up lines (absl INFO, which no environment variable turns off): not
#: relayed, so that the run still ends in one screen.  Warnings and errors are.
CHATTER = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)|I\d{4} ")


def _relay_stderr(stream: Any) -> None:
    for line in stream:
        if not CHATTER.match(line):
            sys.stderr.write(line)


#: At most this many measuring processes are alive at once: each holds its imports
#: (about 0.9 GiB with every peer), and the memory check before each size counts them.
IMPORT_BATCH = 4


class _Worker:
    """The process that measures one thread count (benchmarks/worker.py).

    Started with its spec, it imports the peers it will time, says "ready" and waits;
    :meth:`run` lets it measure and relays its events.  The processes of a batch
    (IMPORT_BATCH) are all started, and have all imported, before the first one
    measures: their imports (seconds each with the heavy peers) overlap, and none runs
    while another process times.
    """

    def __init__(self, spec: dict[str, Any], threads: int) -> None:
        from .ml_peers import xla_flags
        self.threads = threads
        env = dict(os.environ, XLA_FLAGS=xla_flags(threads),
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        # `python -m` puts the current directory first on sys.path: in a clone's root
        # that is the unbuilt source tree (leaky-c bench runs from anywhere).  Run the
        # worker beside the leaky_c this process imported, so it measures that one.
        beside = os.path.dirname(os.path.dirname(os.path.abspath(leaky_c.__file__)))
        # Held to as many cores as it measures threads: a peer that sizes its pool from
        # the cores it may use (JAX) then uses no more than the row's thread count.
        with machine.started_on(machine.cpus_for(threads)):
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "leaky_c.benchmarks.worker"], env=env, cwd=beside,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.errors = threading.Thread(target=_relay_stderr, args=(self.proc.stderr,),
                                       daemon=True)
        self.errors.start()
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()

    def _events(self) -> Iterator[tuple[str, Any]]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(EVENT_PREFIX):
                kind, value = json.loads(line[len(EVENT_PREFIX):])
                yield kind, value
            else:  # a peer printing to stdout: not ours to swallow
                sys.stderr.write(line)

    def wait_ready(self) -> None:
        """Block until the process has imported its peers."""
        for kind, _ in self._events():
            if kind == "ready":
                return
        self._finish()  # it ended before it was ready: its error is above
        raise BenchError(f"the process measuring {self.threads} thread(s) ended before it "
                         "had imported its peers")

    def run(self, emit: Emit) -> None:
        """Let it measure, relaying its events until it ends."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.close()
        except BrokenPipeError:  # it died waiting: _finish says how
            pass
        for kind, value in self._events():
            emit(kind, value)
        self._finish()

    def _finish(self) -> None:
        code = self.proc.wait()
        self.errors.join()
        if code != 0:
            raise BenchError(f"the process measuring {self.threads} thread(s) failed (exit "
                             f"code {code}); its error is above")

    def stop(self) -> None:
        """End it if it still runs (the run failed or was interrupted), and its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:  # (stdin: a write still buffered for a dead process)
                pass
        self.errors.join(timeout=5)


def sweep(doc: dict[str, Any], options: Options, progress: Progress,
          on_group: Optional[Callable[[list[dict[str, Any]]], None]] = None,
          isolate: bool = True) -> None:
    """The special-values check, the sweep, then the scaling view: into doc.

    With ``isolate`` each thread count is measured in its own process, so that
    process-wide thread settings (XLA_FLAGS, TensorFlow's pools, OpenMP's
    spinning) cannot leak from one thread count into the next.
    """
    def emit(kind: str, value: Any) -> None:
        if kind == "progress":
            progress.set_description_str(value)
        elif kind in ("skipped", "timed"):
            progress.update(value)
        elif kind == "note":
            doc["notes"].append(value)
        elif kind == "semantics":
            doc["semantics"].extend(value)
        elif kind == "process":  # its Unix times, as seconds after the sweep began
            for key in ("imported_after_s", "measuring_after_s"):
                if value.get(key) is not None:
                    value[key] -= began
            doc["processes"].append(value)
        elif kind == "rows":
            doc["results"].extend(value)
            progress.update(1)
            if on_group is not None:
                on_group(value)
    before, began = machine.cpu_sample(), time.time()
    if isolate:
        counts = thread_counts(options)
        for start_at in range(0, len(counts), IMPORT_BATCH):
            workers: list[_Worker] = []
            try:
                for threads in counts[start_at:start_at + IMPORT_BATCH]:
                    spec = {"options": asdict(options), "threads": threads,
                            "semantics": threads == counts[0],
                            "overhead": doc["timer_overhead_s"],
                            "scaling_sizes": list(SCALING_SIZES)}
                    workers.append(_Worker(spec, threads))
                for worker in workers:
                    worker.wait_ready()
                for worker in workers:
                    worker.run(emit)
            finally:
                for worker in workers:
                    worker.stop()
    else:
        for i, threads in enumerate(thread_counts(options)):
            run_thread_count(options, threads, doc["timer_overhead_s"], SCALING_SIZES, i == 0,
                             emit)
    doc["load_average"]["end"] = machine.load_average()
    doc["cpu"] = machine.cpu_use(before, machine.cpu_sample())


def options_from_dict(values: dict[str, Any]) -> Options:
    """Options from asdict(options), as JSON gave it back (lists for tuples)."""
    return Options(**{key: tuple(value) if isinstance(value, list) else value
                      for key, value in values.items()})


def run(options: Options, progress: Optional[Progress] = None,
        on_group: Optional[Callable[[list[dict[str, Any]]], None]] = None,
        isolate: bool = True) -> dict[str, Any]:
    """Measure the sweep (and scaling view) ``options`` asks for: the JSON document."""
    doc = start(options, isolate)
    sweep(doc, options, progress or NoProgress(), on_group, isolate)
    return doc
