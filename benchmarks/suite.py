"""The sweep: every dtype, size, case and thread count, each timed as one group."""

from __future__ import annotations

import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Protocol

import numpy as np

import leaky_c
from leaky_c import _config, _reference

from . import machine, peers, timing
from .peers import CASES, DTYPES, FAMILIES, Impl, Workload

#: The JSON's identity; SCHEMA_VERSION changes whenever a field changes meaning
#: or goes away (see README.md in this directory).
SCHEMA = "leaky_c.bench"
SCHEMA_VERSION = 2


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
                "stream_threshold_bytes (the largest cache): the bound leaky_c is held to",
}
#: Units of the fields that carry one; every name ending in _s is seconds.
UNITS = {
    "*_s": "seconds (per call, for timings)",
    "times_s": "seconds per call, one per interleaved repeat",
    "gbps": "1e9 bytes per second: bytes_moved / best_s",
    "gbps_median": "1e9 bytes per second: bytes_moved / median_s",
    "*_bytes": "bytes", "bytes_moved": "bytes read and written by one call",
    "ratio": "this row's best_s / leaky_c's best_s in the same group (no unit)",
    "spread": "median_s / best_s - 1 (no unit): the run-to-run noise of this row",
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
        "unavailable": {}, "notes": [], "results": [], "extras": [],
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
        "spread": None, "ratio": None, "ratio_median": None,
    }


def _prepare(w: Workload, impl: Impl, row: dict[str, Any], min_time: float,
             overhead: float) -> Optional[timing.Plan]:
    """Warm up, check the result, and autoscale: the plan to time, or None (row says why)."""
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
    except Exception as exc:  # a peer that cannot run this case is reported, not fatal
        row.update(status="failed", note=f"failed: {type(exc).__name__}: {exc}")
        return None
    row.update(verified=ok, verification=how if ok else None)
    if not ok:
        row.update(status="mismatch", note=how)
        return None

    def restorer(rows: np.ndarray) -> Callable[[int], None]:
        return lambda k: np.copyto(rows[:k], w.x)

    if not inplace:
        plan = timing.Plan([call])
        timing.calibrate(plan, min_time, overhead)
        return plan
    plan = timing.Plan([impl.bind(block[0])], restorer(block))
    per_call = timing.calibrate(plan, min_time, overhead)
    batch = timing.inplace_batch(per_call, overhead, plan.number)
    if batch > 1:
        block = w.inplace_rows(batch)
        plan = timing.Plan([impl.bind(row_) for row_ in block], restorer(block), plan.number)
    return plan


def run_group(w: Workload, options: Options, overhead: float, families: tuple[str, ...],
              section: str = "sweep") -> list[dict[str, Any]]:
    """Time every implementation of one workload, interleaved; one row each."""
    impls = peers.implementations(w, families)
    rows, plans = [], []
    for impl in impls:
        row = _row(w, impl, section)
        rows.append(row)
        if impl.bind is None:
            continue
        plan = _prepare(w, impl, row, options.min_time, overhead)
        if plan is not None:
            plans.append((row, plan))
    timing.measure([plan for _, plan in plans], options.repeat, overhead)
    for row, plan in plans:
        best, median = min(plan.times), statistics.median(plan.times)
        row.update(status="ok", number=plan.number, batch=plan.batch, times_s=plan.times,
                   best_s=best, median_s=median, spread=median / best - 1 if best > 0 else None,
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


def versions_and_skips(families: tuple[str, ...]) -> tuple[dict[str, Optional[str]],
                                                              dict[str, str]]:
    """Each optional peer's version (None: absent), and why absent ones are skipped."""
    versions: dict[str, Optional[str]] = {}
    unavailable: dict[str, str] = {}
    for name in peers.OPTIONAL_MODULES:
        module, note = peers.optional_module(name)
        versions[name] = getattr(module, "__version__", None) if module else None
        if note and name in families:
            unavailable[name] = note
    return versions, unavailable


def group_count(options: Options) -> int:
    """Timed groups the sweep and the scaling view will run (for a progress bar)."""
    sweep = len(options.dtypes) * len(options.sizes) * len(options.cases) * len(options.threads)
    return sweep + len(SCALING_SIZES) * len(options.scaling_threads)


def start(options: Options) -> dict[str, Any]:
    """The document before any timing: its header is complete (see header())."""
    options.validate()
    versions, unavailable = versions_and_skips(options.families)
    doc = header(options, timing.timer_overhead(), versions)
    doc["unavailable"] = unavailable
    return doc


def sweep(doc: dict[str, Any], options: Options, progress: Progress,
          on_group: Optional[Callable[[list[dict[str, Any]]], None]] = None) -> None:
    """The sweep, then the scaling view if asked for: rows appended to doc["results"]."""
    plan = [("sweep", dtype, options.sizes, options.cases, options.threads, options.families)
            for dtype in options.dtypes]
    if options.scaling_threads:
        families = tuple(f for f in SCALING_FAMILIES if f in options.families)
        plan.append(("scaling", "float32", SCALING_SIZES, (SCALING_CASE,),
                     options.scaling_threads, families))
    overhead = doc["timer_overhead_s"]
    for section, dtype_name, sizes, cases, thread_counts, families in plan:
        dtype = np.dtype(dtype_name)
        for n in sizes:
            per_size = len(cases) * len(thread_counts)
            need, free = ARRAYS_ALIVE * n * dtype.itemsize, machine.memory_bytes("MemAvailable")
            if free is not None and need > free:
                doc["notes"].append(f"skipped {section} {dtype_name} n={n}: needs about "
                                    f"{need >> 20} MiB, {free >> 20} MiB free")
                progress.update(per_size)
                continue
            x, grad = peers.make_inputs(dtype, n, options.seed)
            op = expected = oracle = None
            for case_name in cases:
                case = CASES[case_name]
                if case.op != op:
                    expected = oracle = None  # one op's results alive at a time
                    op = case.op
                    expected, oracle = _results(op, x, grad, options.slope)
                for threads in thread_counts:
                    progress.set_description_str(f"{dtype_name} n={n} {case_name} {threads}T")
                    w = Workload(case, x, grad, expected, oracle, options.slope, threads)
                    with timing.peer_threads(threads):
                        rows = run_group(w, options, overhead, families, section)
                    del w
                    doc["results"].extend(rows)
                    progress.update(1)
                    if on_group is not None:
                        on_group(rows)
    doc["load_average"]["end"] = machine.load_average()


def run(options: Options, progress: Optional[Progress] = None,
        on_group: Optional[Callable[[list[dict[str, Any]]], None]] = None) -> dict[str, Any]:
    """Measure the sweep (and scaling view) ``options`` asks for: the JSON document."""
    doc = start(options)
    sweep(doc, options, progress or NoProgress(), on_group)
    return doc
