"""The sweep: every dtype, size, case and thread count, each timed as one group."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

import numpy as np

import leaky_c
from leaky_c import _config, _reference, _threads

from . import peers, timing
from .peers import CASES, DTYPES, FAMILIES, Impl, Workload
from .progress import Progress

SCHEMA = "leaky_c.bench/1"


class BenchError(ValueError):
    """A bad option or file: reported as one line by the CLI, never a traceback."""


DEFAULT_SIZES = (100, 10_000, 1_000_000, 2 ** 24)
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
    "bound.nt": "copy bound in C (leaky_bound_copy / leaky_bound_copy2), threaded like "
                "leaky_c at the group's thread count, non-temporal stores from "
                "stream_threshold_bytes of output: the bound leaky_c is held to",
}


@dataclass
class Options:
    """What to measure, and how long each timing lasts."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    dtypes: tuple[str, ...] = ("float32",)
    threads: tuple[int, ...] = field(
        default_factory=lambda: tuple(sorted({1, _threads.available_cores()})))
    cases: tuple[str, ...] = tuple(CASES)
    families: tuple[str, ...] = FAMILIES
    min_time: float = 0.1
    repeat: int = 5
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
        if not self.threads or any(t < 1 for t in self.threads):
            raise BenchError(f"{name('threads')} must be positive counts, got {list(self.threads)}")
        if not self.min_time > 0:
            raise BenchError(f"{name('min_time')} must be positive seconds, got {self.min_time}")
        if self.repeat < 1:
            raise BenchError(f"{name('repeat')} must be at least 1, got {self.repeat}")
        if not np.isfinite(self.slope):
            raise BenchError(f"{name('slope')} must be finite, got {self.slope}")


def _proc_field(path: str, key: str) -> Optional[str]:
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def environment(options: Options, overhead: float, versions: dict[str, Optional[str]]
                ) -> dict[str, Any]:
    """The header: machine, versions, leaky_c's configuration and the options."""
    memory = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": _threads.available_cores(),
        "memory_bytes": int(memory.split()[0]) * 1024 if memory else None,
        "load_average": _load_average(),  # at the start: other work competing for the cores
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "leaky_c": leaky_c.__version__,
        "leaky_c_config": _config.config(),
        "peers": versions,
        "options": asdict(options),
        "timer_overhead_s": overhead,
        "implementations": IMPLEMENTATIONS,
    }


def _load_average() -> Optional[list[float]]:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def _free_memory() -> Optional[int]:
    available = _proc_field("/proc/meminfo", "MemAvailable")
    return int(available.split()[0]) * 1024 if available else None


def _row(w: Workload, impl: Impl) -> dict[str, Any]:
    case = w.case
    return {
        "dtype": str(w.x.dtype), "n": int(w.x.size), "case": case.name, "op": case.op,
        "mode": case.mode, "threads": w.threads, "impl": impl.impl, "family": impl.family,
        "label": impl.label, "role": impl.role, "threads_used": impl.threads_used,
        "status": "skipped", "verified": False, "verification": None, "note": impl.note,
        "bytes_moved": case.streams * w.x.nbytes, "number": None, "batch": None,
        "times_s": [], "best_s": None, "median_s": None, "gbps": None, "gbps_median": None,
        "ratio": None, "ratio_median": None,
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


def run_group(w: Workload, options: Options, overhead: float) -> list[dict[str, Any]]:
    """Time every implementation of one workload, interleaved; one row each."""
    impls = peers.implementations(w, options.families)
    rows, plans = [], []
    for impl in impls:
        row = _row(w, impl)
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
                   best_s=best, median_s=median,
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


def run(options: Options, on_start: Optional[Callable[[dict[str, Any]], None]] = None,
        on_group: Optional[Callable[[list[dict[str, Any]]], None]] = None,
        progress: Optional[Progress] = None) -> dict[str, Any]:
    """Measure everything ``options`` asks for; the JSON document (see report.py).

    ``on_start`` gets the document before any timing (its header is complete),
    ``on_group`` each group's rows as soon as they are measured.
    """
    options.validate()
    progress = progress or Progress(0, enabled=False)
    families = options.families
    versions: dict[str, Optional[str]] = {}
    unavailable: dict[str, str] = {}
    for name in peers.OPTIONAL_MODULES:
        if name in families:
            module, note = peers.optional_module(name)
            versions[name] = getattr(module, "__version__", None) if module else None
            if note:
                unavailable[name] = note
    overhead = timing.timer_overhead()
    doc: dict[str, Any] = {
        "schema": SCHEMA, "meta": environment(options, overhead, versions),
        "unavailable": unavailable, "notes": [], "results": [],
    }
    if on_start is not None:
        on_start(doc)
    per_size = len(options.cases) * len(options.threads)
    progress.reset(len(options.dtypes) * len(options.sizes) * per_size)
    for dtype_name in options.dtypes:
        dtype = np.dtype(dtype_name)
        for n in options.sizes:
            need, free = ARRAYS_ALIVE * n * dtype.itemsize, _free_memory()
            if free is not None and need > free:
                doc["notes"].append(f"skipped {dtype_name} n={n}: needs about {need >> 20} MiB, "
                                    f"{free >> 20} MiB free")
                progress.advance(per_size, f"{dtype_name} n={n} skipped (memory)")
                continue
            x, grad = peers.make_inputs(dtype, n, options.seed)
            op = expected = oracle = None
            for case_name in options.cases:
                case = CASES[case_name]
                if case.op != op:
                    expected = oracle = None  # one op's results alive at a time
                    op = case.op
                    expected, oracle = _results(op, x, grad, options.slope)
                for threads in options.threads:
                    progress.advance(0, f"{dtype_name} n={n} {case_name} {threads}T")
                    w = Workload(case, x, grad, expected, oracle, options.slope, threads)
                    with timing.peer_threads(threads):
                        rows = run_group(w, options, overhead)
                    del w
                    doc["results"].extend(rows)
                    progress.advance(1)
                    if on_group is not None:
                        progress.clear()
                        on_group(rows)
    progress.close()
    doc["meta"]["load_average_end"] = _load_average()
    return doc
