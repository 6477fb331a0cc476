"""What a run prints and writes: the headline, the tables, --compare, JSON, markdown, plots.

The JSON document's fields are described in README.md in this directory.
"""

from __future__ import annotations

import json
import math
import statistics
import textwrap
from collections import defaultdict
from typing import Any, Iterable, Optional

from leaky_c import _extras

from .peers import CASES
from .suite import (DEFAULT_CASES, DEFAULT_SIZES, SCALING_CASE, SCHEMA, SCHEMA_VERSION,
                    BenchError)

#: Column order and short names of implementations in the summary tables.
SHORT_NAMES = {
    "leaky_c": "leaky_c", "bound.nt": "NT copy", "bound.nt.out": "NT copy, out",
    "bound.numpy": "NumPy copy",
    "numpy.where": "np.where", "numpy.maximum": "np.maximum", "numpy.ufuncs": "np ufuncs",
    "numexpr": "numexpr", "numba": "numba", "torch": "torch", "onnxruntime": "ort",
    "onnxruntime.iobinding": "ort bind", "jax": "jax", "tensorflow.eager": "tf eager",
    "tensorflow.function": "tf.function",
}
#: The optional peers' names in the headline's title.
PEER_NAMES = {"torch": "PyTorch", "numexpr": "numexpr", "numba": "numba",
              "onnxruntime": "ONNX Runtime", "jax": "JAX", "tensorflow": "TensorFlow"}


def _us(seconds: float) -> str:
    us = seconds * 1e6
    if us < 10:
        return f"{us:.2f}"
    if us < 100:
        return f"{us:.1f}"
    return f"{us:,.0f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _gbps(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _size(n: int) -> str:
    if n >= 1024 and n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    return f"{n:,}"


def _bytes(nbytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} B"


def _loads(loads: list[float] | None) -> str:
    return "/".join(f"{load:.1f}" for load in loads) if loads else "unknown"


def render(headers: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    """A table as aligned text, or as a markdown table (first column left, others right)."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        padded = [cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |" if markdown else "  ".join(padded).rstrip()
    lines = [line(headers)]
    if markdown:
        lines.append("|" + "|".join("-" * (w + 1) + (":" if i else "-")
                                    for i, w in enumerate(widths)) + "|")
    return lines + [line(row) for row in rows]


def header_lines(doc: dict[str, Any]) -> list[str]:
    """Machine, versions, leaky_c's configuration, the options and what was skipped."""
    m, options, versions = doc["machine"], doc["options"], doc["versions"]
    cfg = doc["leaky_c_config"]
    memory = _bytes(m["memory_bytes"]) if m.get("memory_bytes") else "unknown"
    caches = ", ".join(f"L{c['level']}{'d' if c['type'] == 'Data' else ''} {_bytes(c['size_bytes'])}"
                       for c in m["caches"] if c["type"] != "Instruction") or "unknown"
    peers = ", ".join(f"{name} {version}" for name, version in versions.items()
                      if version and name not in ("python", "numpy", "leaky_c"))
    loads = doc["load_average"]
    lines = [
        f"leaky_c benchmark, {doc['date']}",
        f"CPU:      {m['cpu_model']} ({m['cores']} cores available; {caches}; {memory} memory); "
        f"load average {_loads(loads['start'])} at the start"
        + (f", {_loads(loads['end'])} at the end" if loads.get("end") else ""),
        f"leaky_c:  backend {cfg['backend']}, target {doc['target'] or '-'}"
        + (f"; streaming stores from {_bytes(cfg['stream_threshold_bytes'])} of output"
           if cfg.get("stream_threshold_bytes") else ""),
        f"versions: Python {versions['python']}, NumPy {versions['numpy']}, "
        f"leaky_c {versions['leaky_c']}" + (f", {peers}" if peers else ""),
        f"dtypes:   {', '.join(options['dtypes'])};  threads: "
        f"{', '.join(map(str, doc['threads']))} (leaky_c, PyTorch, numexpr and the C copy set "
        f"alike; NumPy, numba and NumPy's copy run on 1);  slope {options['slope']}",
        f"timing:   best and median of {options['repeat']} interleaved repeats, each "
        f">= {options['min_time']} s; ratio = time / leaky_c's time (> 1: leaky_c is faster); "
        "GB/s = bytes the operation moves / best time",
    ]
    lines += [f"{name}: {note}" for name, note in doc["unavailable"].items()]
    lines += doc["notes"]
    return lines


def group_lines(rows: list[dict[str, Any]], unavailable: Iterable[str] = ()) -> list[str]:
    """One group as a table: us per call, ratio, GB/s and the check of each implementation."""
    first = rows[0]
    nbytes = first["bytes_moved"] // (2 if first["op"] == "forward" else 3)
    title = (f"{first['dtype']}, n = {_size(first['n'])} ({_bytes(nbytes)} per array), "
             f"{CASES[first['case']].title}, {first['threads']} thread"
             + ("s" if first["threads"] > 1 else ""))
    skip_notes = set(unavailable)
    table, notes = [], []
    for row in rows:
        if row["status"] == "ok":
            table.append([row["label"], _us(row["best_s"]), _us(row["median_s"]),
                          _ratio(row["ratio"]), _gbps(row["gbps"]), str(row["threads_used"]),
                          _check_word(row["verification"])])
        elif row["note"] not in skip_notes:
            notes.append(f"  {row['label']}: {row['note']}")
    headers = ["implementation", "us/call", "median", "ratio", "GB/s", "thr", "check"]
    return [title] + ["  " + line for line in render(headers, table, False)] + notes


def _check_word(verification: str) -> str:
    if verification == "bitwise":
        return "bitwise"
    return "f16 tol" if verification.startswith("float16") else "differs at 0/subnormals"


def groups(results: list[dict[str, Any]], section: str = "sweep"
           ) -> dict[tuple, list[dict[str, Any]]]:
    """The rows of one section by (dtype, threads, case, n)."""
    found: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in results:
        if row["section"] == section:
            found[(row["dtype"], row["threads"], row["case"], row["n"])].append(row)
    return found


HEADLINE_DETAILS = "Every table: --verbose; every timing: {json}"


#: Peers that have one thread only (NumPy's ufuncs, numba @vectorize target "cpu"): at a
#: row of more threads they run on 1 and are marked.
ONE_THREAD_MARK = " (1T)"
UNKNOWN_THREADS_MARK = " (?T)"
DIFFERS_MARK = " !="
ABOVE_BOUND_MARK = "*"
#: A copy-bound cell of an allocating row from a copy that allocated its output too.
ALLOCATING_COPY_MARK = " (alloc)"
CALL_OVERHEAD = "(call)"
#: Below this many bytes moved a call's time is its fixed cost from Python, not memory
#: traffic: such rows say "(call)" instead of a copy-bound percentage.
CALL_OVERHEAD_BYTES = 1 << 20
#: The machine counts as loaded when other processes kept this many cores busy on average
#: during the run (or, where that is not measured, the load average at the start was this high).
LOADED_CORES = 0.5
#: A row is noisy when its median is this far above its best.
NOISY_SPREAD = 0.2


def call_overhead(row: dict[str, Any]) -> bool:
    """Whether one call of this row moves under CALL_OVERHEAD_BYTES (a row without the
    count is taken as moving memory)."""
    return (row.get("bytes_moved") or CALL_OVERHEAD_BYTES) < CALL_OVERHEAD_BYTES


def _fastest_peer(rows: dict[str, dict[str, Any]], threads: int) -> Optional[dict[str, Any]]:
    """The fastest peer that computed leaky_c's values (or differs only at special ones)."""
    ok = [row for row in rows.values() if row["role"] == "peer" and row["status"] == "ok"
          and row["verification"] is not None]
    return min(ok, key=lambda row: row["best_s"]) if ok else None


def _bound_share(rows: dict[str, dict[str, Any]]) -> tuple[Optional[float], str]:
    """The C copy's time at the row's thread count / leaky_c's, in %, and which copy it was.

    Allocating rows: the copy into an output that exists (bound.nt.out); a run without
    it (recorded before) falls back to a copy that allocates too, marked (alloc).
    Without the C copy (no compiler), np.copyto on 1 thread, marked (1T).
    """
    mine = rows.get("leaky_c")
    if not mine or mine["status"] != "ok":
        return None, ""
    alloc = ALLOCATING_COPY_MARK if CASES[mine["case"]].mode == "alloc" else ""
    for impl, mark in (("bound.nt.out", ""), ("bound.nt", alloc),
                       ("bound.numpy", alloc + ONE_THREAD_MARK)):
        row = rows.get(impl)
        if row and row["status"] == "ok":
            return (100.0 * row["best_s"] / mine["best_s"],
                    mark if mine["threads"] > 1 else mark.replace(ONE_THREAD_MARK, ""))
    return None, ""


def _threads_mark(row: dict[str, Any], threads: int) -> str:
    if not row["threads_used"]:
        return UNKNOWN_THREADS_MARK
    return ONE_THREAD_MARK if row["threads_used"] < threads else ""


def headline_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (case, n, threads) of the sweep, float32 first: the headline's content."""
    from .special import differing
    differs = differing(doc.get("semantics", []))
    found = []
    for (dtype, threads, case, n), rows in groups(doc["results"]).items():
        by_impl = {row["impl"]: row for row in rows}
        mine, torch = by_impl["leaky_c"], by_impl.get("torch")
        fastest = _fastest_peer(by_impl, threads)
        share, share_mark = _bound_share(by_impl)
        spreads = [row["spread"] for row in (mine, fastest) if row and row["spread"] is not None]
        found.append({
            "dtype": dtype, "case": case, "n": n, "threads": threads,
            "leaky_c_s": mine["best_s"], "leaky_c_median_s": mine["median_s"],
            "noise": max(spreads) if spreads else None,
            "fastest_peer": fastest["impl"] if fastest else None,
            "fastest_peer_marks": ((_threads_mark(fastest, threads)
                                    + (DIFFERS_MARK if (fastest["impl"], CASES[case].op)
                                       in differs else ""))
                                   if fastest else ""),
            "fastest_peer_ratio": fastest["ratio"] if fastest else None,
            "torch_ratio": torch["ratio"] if torch and torch["status"] == "ok" else None,
            "copy_bound_percent": share, "copy_bound_mark": share_mark,
            "call_overhead": call_overhead(mine),
        })
    order = {case: i for i, case in enumerate(CASES)}
    found.sort(key=lambda r: (r["dtype"] != "float32", r["dtype"], order[r["case"]], r["n"],
                              r["threads"]))
    return found


#: More headline rows than this, and the headline keeps to the default sizes and cases.
HEADLINE_MAX_ROWS = 30


def _one_screen(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Optional[str]]:
    """The headline's rows, cut to the default sizes and cases if too many; a note if cut."""
    if len(rows) <= HEADLINE_MAX_ROWS:
        return rows, None
    kept = [row for row in rows if row["n"] in DEFAULT_SIZES and row["case"] in DEFAULT_CASES
            and row["dtype"] == rows[0]["dtype"]]
    if not kept:
        return rows, None
    return kept, (f"(headline: {len(kept)} of {len(rows)} rows, the default sizes and cases; "
                  "all of them in the tables above)")


def load_lines(doc: dict[str, Any]) -> list[str]:
    """The machine's load during the run, and a loud line first when it was loaded."""
    loads, cpu, cores = doc["load_average"], doc.get("cpu") or {}, doc["machine"]["cores"]
    others = cpu.get("other_cores_busy")
    start = (loads.get("start") or [None])[0]
    line = (f"load: average {_loads(loads.get('start'))} at the start, "
            f"{_loads(loads.get('end'))} at the end")
    if others is not None:
        line += f"; others kept {others:.2f} of {cores} cores busy over the {cpu['wall_s']:.0f} s run"
    loaded = others >= LOADED_CORES if others is not None else (
        start is not None and start >= LOADED_CORES * 2)
    if not loaded:
        return [line]
    how = (f"other processes kept {others:.2f} of {cores} cores busy" if others is not None
           else f"load average {start:.1f} at the start")
    return textwrap.wrap(f"!!! LOADED MACHINE: {how}. Times are unreliable, the multi-thread "
                         "rows above all; re-run on a quiet machine. !!!", 110) + [line]


def _same_differences(differs: dict[tuple[str, str], list[str]]
                      ) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """(op, categories) -> the peers that differ in exactly those (one line each)."""
    found: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (impl, op), categories in differs.items():
        found[(op, tuple(categories))].append(SHORT_NAMES.get(impl, impl))
    return found


def headline(doc: dict[str, Any], json_path: Optional[str], markdown: bool = False
             ) -> list[str]:
    """The one-screen summary: the load, a title line, the table, and what the numbers mean."""
    from .special import differing
    rows, cut = _one_screen(headline_rows(doc))
    with_torch = any(row["torch_ratio"] is not None for row in rows)
    body, previous, above, calls, noisy = [], None, False, False, 0
    allocating: set[Optional[bool]] = set()  # per allocating row: was its copy allocating?
    for row in rows:
        title = CASES[row["case"]].title if (row["dtype"], row["case"]) != previous else ""
        if row["dtype"] != "float32" and title:
            title += f" ({row['dtype']})"
        previous = (row["dtype"], row["case"])
        peer = row["fastest_peer"]
        noise = row["noise"]
        noisy += noise is not None and noise > NOISY_SPREAD
        cells = [title, _size(row["n"]), str(row["threads"]),
                 _us(row["leaky_c_s"]) if row["leaky_c_s"] else "-",
                 _us(row["leaky_c_median_s"]) if row["leaky_c_median_s"] else "-",
                 "-" if noise is None else f"{100 * noise:.0f}%",
                 (SHORT_NAMES.get(peer, peer) + row["fastest_peer_marks"]) if peer else "-",
                 _ratio(row["fastest_peer_ratio"])]
        if with_torch:
            cells.append(_ratio(row["torch_ratio"]))
        share = row["copy_bound_percent"]
        if row["call_overhead"]:
            cells.append(CALL_OVERHEAD)
            calls = True
        elif share is None:
            cells.append("-")
        else:
            mark = ABOVE_BOUND_MARK if share > 100.5 else ""
            above |= bool(mark)
            allocating.add(ALLOCATING_COPY_MARK in row["copy_bound_mark"]
                           if CASES[row["case"]].mode == "alloc" else None)
            cells.append(f"{share:.0f}%{mark}{row['copy_bound_mark']}")
        body.append(cells)
    headers = ["case", "n", "thr", "leaky_c us", "median", "noise", "fastest other", "ratio"]
    headers += ["PyTorch"] if with_torch else []
    headers += ["copy bound"]
    m, versions = doc["machine"], doc["versions"]
    peers_present = ", ".join(f"{PEER_NAMES[name]} {versions[name]}" for name in PEER_NAMES
                              if versions.get(name))
    title = [f"leaky_c {versions['leaky_c']} ({doc['target'] or doc['leaky_c_config']['backend']}"
             f") on {m['cpu_model']}, {m['cores']} cores; {', '.join(doc['options']['dtypes'])},"
             f" slope {doc['options']['slope']}; run of {doc['date']}",
             f"peers: {peers_present or 'none of the optional ones'}"]
    skipped = sorted({note for note in doc["unavailable"].values()}
                     | {row["note"] for row in doc["results"]
                        if row["impl"] == "bound.nt" and row["status"] != "ok"})
    legend = [
        f"ratio{', PyTorch' if with_torch else ''}: their time / leaky_c's at the row's thread "
        "count (> 1: leaky_c is faster); fastest other: the fastest peer at that count; (1T): "
        "cannot thread, ran on 1; !=: its values differ from leaky_c's (listed above).",
        "copy bound: a C copy of the same bytes at the row's thread count, its time / leaky_c's "
        "(100%: at the bound)."
        + (" Allocating rows: the copy into an output that exists (its memory mapped, as "
           "leaky_c's output cache has it in a steady loop)." if False in allocating else "")
        + (f" {ALLOCATING_COPY_MARK.strip()}: the copy allocated its output too (a fresh mapping, where "
           "leaky_c's call reuses its cached blocks): this run predates the copy into an "
           "existing output that allocating rows are measured against." if True in allocating
           else "")
        + (f" {CALL_OVERHEAD}: under {_bytes(CALL_OVERHEAD_BYTES)} moved, a call costs its "
           "overhead from Python, not memory traffic: no bound." if calls else "")
        + (f" {ABOVE_BOUND_MARK}: above 100%: leaky_c beat this copy, which is no hard limit "
           "(memcpy, or 32-byte streaming stores, and a new thread per call; leaky_c: 64-byte "
           "stores, a pool that stays), or noise." if above else ""),
        f"us: best and median of {doc['options']['repeat']} interleaved repeats, each result "
        "checked first; noise: the larger median/best - 1 of the two rows in ratio "
        f"({noisy} of {len(rows)} above {100 * NOISY_SPREAD:.0f}%); "
        f"{doc.get('isolation') or 'one process'}.",
    ]
    differs = differing(doc.get("semantics", []))
    differ_lines = ([f"!= values differ from leaky_c's on special inputs (the JSON's semantics):"]
                    + [line for (op, categories), names in _same_differences(differs).items()
                       for line in textwrap.wrap(f"{', '.join(names)} {op}: "
                                                 + "; ".join(categories), 110,
                                                 initial_indent="  ", subsequent_indent="    ")]
                    ) if differs else []
    details = HEADLINE_DETAILS.format(json=json_path or "not saved (--no-save)")
    loads = load_lines(doc)
    return (loads[:-1] + title + loads[-1:] + [""] + render(headers, body, markdown) + [""]
            + differ_lines + [f"({note})" for note in skipped] + ([cut] if cut else [])
            + [line for text in legend for line in textwrap.wrap(text, 110)] + [details])


def summary(doc: dict[str, Any], markdown: bool) -> list[str]:
    """Per dtype, threads and case: sizes down, leaky_c's time and GB/s, every ratio across."""
    tables: dict[tuple, dict[int, dict[str, dict]]] = defaultdict(dict)
    for (dtype, threads, case, n), rows in groups(doc["results"]).items():
        tables[(dtype, threads, case)][n] = {row["impl"]: row for row in rows}
    lines: list[str] = []
    for (dtype, threads, case), by_size in tables.items():
        present = [impl for impl in SHORT_NAMES if impl != "leaky_c" and any(
            impl in rows and rows[impl]["status"] == "ok" for rows in by_size.values())]
        bounds = [impl for impl in ("bound.nt", "bound.numpy") if impl in present]
        headers = (["n", "leaky_c us", "leaky_c GB/s"]
                   + [f"{SHORT_NAMES[b]} GB/s" for b in bounds]
                   + [SHORT_NAMES[impl] for impl in present])
        body = []
        for n in sorted(by_size):
            rows = by_size[n]
            mine = rows.get("leaky_c", {})
            body.append([_size(n), _us(mine["best_s"]) if mine.get("best_s") else "-",
                         _gbps(mine.get("gbps"))]
                        + [_gbps(rows[b]["gbps"] if b in rows else None) for b in bounds]
                        + [_ratio(rows[impl]["ratio"] if impl in rows else None)
                           for impl in present])
        title = (f"{dtype}, {threads} thread{'s' if threads > 1 else ''}: "
                 f"{CASES[case].title}")
        lines += ["", f"### {title}", ""] if markdown else ["", title]
        lines += render(headers, body, markdown)
    legend = ("Columns named after an implementation: its time / leaky_c's time (best of the "
              "repeats); above 1, leaky_c is faster. GB/s: bytes the operation moves / best time.")
    return [legend] + lines


def scaling_lines(doc: dict[str, Any], markdown: bool = False) -> list[str]:
    """The thread-scaling view: per size, us per call at each thread count, and the speed-up."""
    found = groups(doc["results"], "scaling")
    if not found:
        return []
    sizes = sorted({n for _, _, _, n in found})
    counts = sorted({threads for _, threads, _, _ in found})
    impls = [impl for impl in ("leaky_c", "torch", "bound.nt") if any(
        row["impl"] == impl and row["status"] == "ok" for rows in found.values() for row in rows)]
    headers = ["n", "implementation"] + [f"{t}T us" for t in counts] + [
        f"{counts[-1]}T speed-up"]
    body = []
    for n in sizes:
        for impl in impls:
            times = {}
            for t in counts:
                row = next((r for r in found.get(("float32", t, SCALING_CASE, n), [])
                            if r["impl"] == impl and r["status"] == "ok"), None)
                times[t] = row["best_s"] if row else None
            first, last = times[counts[0]], times[counts[-1]]
            body.append([_size(n) if impl == impls[0] else "", SHORT_NAMES.get(impl, impl)]
                        + [_us(times[t]) if times[t] else "-" for t in counts]
                        + [_ratio(first / last) if first and last else "-"])
    title = (f"Thread scaling, float32 {CASES[SCALING_CASE].title}: us per call at each "
             f"thread count (speed-up = {counts[0]}-thread time / {counts[-1]}-thread time)")
    return [("### " if markdown else "") + title, ""] + render(headers, body, markdown)


def extras_lines(doc: dict[str, Any], markdown: bool = False) -> list[str]:
    """The comparisons beyond the sweep (PReLU, module, 16-bit floats, CNN block)."""
    if not doc.get("extras"):
        return []
    headers = ["case", "peer", "thr", "leaky_c us", "peer us", "peer / leaky_c", "verified"]
    body = []
    for r in doc["extras"]:
        if r.get("status", "ok") == "ok":
            body.append([r["title"], r["peer"], str(r["threads"]), _us(r["leaky_c_s"]),
                         _us(r["peer_s"]), _ratio(r["ratio"]), "yes" if r["verified"] else "NO"])
        else:
            body.append([r["title"], r["peer"], str(r["threads"]), "-", "-", "-", r["status"]])
    notes = [f"  {r['title']} ({r['threads']}T): {r['note']}" for r in doc["extras"]
             if r.get("note")]
    title = "Beyond the sweep (peer time / leaky_c time; above 1, leaky_c is faster)"
    return ([("### " if markdown else "") + title, ""] + render(headers, body, markdown)
            + notes + [f"  {note}" for note in doc.get("extras_notes", [])])


def write_json(doc: dict[str, Any], path: str) -> None:
    """Indented at the top level, one line per row of results, semantics and extras: a
    recorded run stays small and diffs line by line."""
    def rounded(value: Any) -> Any:  # 6 significant digits: far finer than any timing's noise
        if isinstance(value, float):
            return float(f"{value:.6g}")
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rounded(item) for item in value]
        return value

    def compact(value: Any) -> str:
        return json.dumps(rounded(value), separators=(",", ":"))
    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            body = ",\n".join("  " + compact(item) for item in value)
            parts.append(f" {json.dumps(key)}: [\n{body}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {compact(value)}")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")


def load_json(path: str, option: str = "--from-json") -> dict[str, Any]:
    """A saved run; BenchError (one line) if missing, not JSON, or of another schema version."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise BenchError(f"{option}: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{option}: {path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{option}: {path} is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") not in (SCHEMA, "leaky_c.bench/1"):
        raise BenchError(f"{option}: {path} is not a leaky_c benchmark file")
    version = doc.get("schema_version", 1)
    if version != SCHEMA_VERSION:
        raise BenchError(f"{option}: {path} has schema version {version}, this leaky_c reads "
                         f"version {SCHEMA_VERSION}; re-run the benchmark to compare")
    return doc


def _compare_key(row: dict[str, Any]) -> tuple:
    return (row["section"], row["dtype"], row["case"], row["n"], row["threads"], row["impl"])


def _compare_name(key: tuple) -> str:
    section, dtype, case, n, threads, impl = key
    prefix = "scaling: " if section == "scaling" else ""
    return (f"{prefix}{dtype} {CASES[case].title}, n = {_size(n)}, {threads}T, "
            f"{SHORT_NAMES.get(impl, impl)}")


def noise_threshold(a: dict[str, Any], b: dict[str, Any], group: float = 0.0) -> float:
    """How far B/A (of the bests) must stray from 1 to count: twice the larger spread of
    the two rows, or the spread of their group (``group``: group_spread, how far a row
    whose repeats all fell in one state of the machine can be from another), and at
    least MIN_CHANGE (CALL_MIN_CHANGE where a call moves under CALL_OVERHEAD_BYTES)."""
    spreads = [row.get("spread") or 0.0 for row in (a, b)]
    return max(2.0 * max(spreads), group, CALL_MIN_CHANGE if call_overhead(a) else MIN_CHANGE)


#: Smaller differences between two runs are never marked: two runs of the same code differ
#: by a few percent on a quiet machine (memory layout, clock frequency).
MIN_CHANGE = 0.05
#: The same where a call costs its overhead from Python (under CALL_OVERHEAD_BYTES moved):
#: there the process itself (where its code and objects lie) moves leaky_c's time by more
#: than MIN_CHANGE, which no row of the process can see (benchmarks/RESULTS.md, "Imports
#: side by side, and the process's own share of the noise").
CALL_MIN_CHANGE = 0.10


#: What --compare compares between two runs: each row's best and median seconds.
COMPARED = ("best_s", "median_s")


def beyond_noise(a: dict[str, Any], b: dict[str, Any],
                 shared: tuple[float, float] = (1.0, 1.0), group: float = 0.0,
                 bound: Optional[tuple[float, float]] = None) -> str:
    """"slower" or "faster" when B differs from A beyond both runs' measured spread, else "".

    ``shared``: the B/A of the best and of the median that the row's group moved
    by (group_drift); ``group``: the spread its group showed (group_spread);
    ``bound``: the B/A of the row's copy bound (bound_drift), or None.
    Marked when best and median each moved beyond the rows' (or the group's)
    noise (noise_threshold), also once ``shared`` is taken out, and further
    than ``bound`` moved the same way, and no repeat of one run is as fast as
    any of the other; why each (benchmarks/README.md, "Comparing two runs").
    """
    limit = math.log1p(noise_threshold(a, b, group))
    for index, stat in enumerate(COMPARED):
        if not a.get(stat) or not b.get(stat):
            continue
        moved = math.log(b[stat] / a[stat])
        if abs(moved) <= limit or abs(moved - math.log(shared[index])) <= limit:
            return ""
        copy = math.log(bound[index]) if bound else 0.0
        if moved * copy > 0 and abs(moved) <= abs(copy) + limit:  # the copy moved as far
            return ""
    a_times, b_times = a.get("times_s") or [a["best_s"]], b.get("times_s") or [b["best_s"]]
    if min(b_times) > max(a_times):
        return "slower"
    if max(b_times) < min(a_times):
        return "faster"
    return ""


Pairs = dict[str, tuple[dict[str, Any], dict[str, Any]]]


def _others(pairs: Pairs, impl: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A group's implementations other than ``impl`` (timed in both runs): those that
    used as many threads as ``impl`` where there are any (a core taken by another
    process slows a 2-thread call, not a 1-thread one), else all of them."""
    others = [(a, b) for other, (a, b) in pairs.items() if other != impl]
    threads = pairs[impl][0].get("threads_used") if impl in pairs else None
    alike = [(a, b) for a, b in others if threads and a.get("threads_used") == threads]
    return alike or others


def group_drift(pairs: Pairs, impl: str) -> tuple[float, float]:
    """The B/A of the best and of the median that a group's other implementations
    share: the median of theirs (_others); 1.0 without any."""
    def drift(stat: str) -> float:
        logs = [math.log(b[stat] / a[stat]) for a, b in _others(pairs, impl)
                if a.get(stat) and b.get(stat)]
        return math.exp(statistics.median(logs)) if logs else 1.0
    return drift("best_s"), drift("median_s")


def group_spread(pairs: Pairs, impl: str) -> float:
    """The spread the machine showed while a group ran: the median over its other
    implementations (_others) of the larger spread of their two rows; 0 with fewer
    than GROUP_SPREAD_FROM of them.
    They are timed interleaved with the row, in the same seconds: a row whose repeats
    all fell in one state of the machine (a slow second core, a busy neighbour) has a
    spread smaller than what the moment held, and the group's shows it."""
    spreads = [max(a.get("spread") or 0.0, b.get("spread") or 0.0)
               for a, b in _others(pairs, impl)]
    # with fewer than GROUP_SPREAD_FROM others (the scaling view: PyTorch and the C copy)
    # one noisy implementation would set the floor alone
    return statistics.median(spreads) if len(spreads) >= GROUP_SPREAD_FROM else 0.0


#: The fewest other implementations whose spread a group's spread is taken from.
GROUP_SPREAD_FROM = 3


def bound_drift(pairs: Pairs, impl: str) -> Optional[tuple[float, float]]:
    """The B/A of the best and of the median of the group's C copy at the row's thread
    count (into an output that exists: bound.nt.out in allocating cases, bound.nt in
    the others): what the machine's memory did in the seconds the row was timed.  None
    for a bound's own row, or where the copy was not timed in both runs."""
    name = "bound.nt.out" if CASES[pairs[impl][0]["case"]].mode == "alloc" else "bound.nt"
    if impl.startswith("bound.") or name not in pairs:
        return None
    a, b = pairs[name]
    return b["best_s"] / a["best_s"], b["median_s"] / a["median_s"]


def compare(a_doc: dict[str, Any], b_doc: dict[str, Any], a_name: str, b_name: str,
            everything: bool = False) -> list[str]:
    """Per case timed in both runs: A's time, B's, B/A, marked when beyond both runs' noise."""
    def timed(doc: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
        return {_compare_key(row): row for row in doc["results"] if row["status"] == "ok"}
    a_all, b_all = timed(a_doc), timed(b_doc)
    groups_in_both: dict[tuple, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(dict)
    for key in a_all:
        if key in b_all:
            groups_in_both[key[:-1]][key[-1]] = (a_all[key], b_all[key])
    a_rows, b_rows = ({key: row for key, row in rows.items()
                       if everything or row["impl"] == "leaky_c"} for rows in (a_all, b_all))
    both = [key for key in a_rows if key in b_rows]
    body, marked = [], 0
    for key in both:
        a, b = a_rows[key], b_rows[key]
        group = groups_in_both[key[:-1]]
        shared, spread = group_drift(group, key[-1]), group_spread(group, key[-1])
        mark = beyond_noise(a, b, shared, spread, bound_drift(group, key[-1]))
        marked += bool(mark)
        body.append([_compare_name(key), _us(a["best_s"]), _us(b["best_s"]),
                     f"{b['best_s'] / a['best_s']:.2f}, {b['median_s'] / a['median_s']:.2f}",
                     f"{shared[0]:.2f}, {shared[1]:.2f}",
                     f"{100 * noise_threshold(a, b, spread):.0f}%", mark])
    lines = [f"A = {a_name} ({a_doc['date']}, {a_doc['machine']['cpu_model']}, "
             f"leaky_c {a_doc['versions']['leaky_c']})",
             f"B = {b_name} ({b_doc['date']}, {b_doc['machine']['cpu_model']}, "
             f"leaky_c {b_doc['versions']['leaky_c']})"]
    lines += [f"{name}: {line}" for name, doc in (("A", a_doc), ("B", b_doc))
              for line in load_lines(doc)] + [""]
    lines += render(["case", "A us", "B us", "B/A best, median", "others B/A", "noise",
                     "beyond noise"], body, False)
    lines += [""] + textwrap.wrap(
        f"{len(both)} cases in both, {marked} beyond the noise (noise: twice the larger "
        "median/best - 1 of the two rows, or that of the group's other implementations (their "
        f"median), at least {MIN_CHANGE:.0%} ({CALL_MIN_CHANGE:.0%} where a call moves under "
        f"{_bytes(CALL_OVERHEAD_BYTES)}); others B/A: the median B/A of the "
        "other implementations timed in the row's group; not marked either where its C copy "
        "bound moved as far the same way; the rule: benchmarks/README.md, "
        "\"Comparing two runs\"); " + ("every implementation" if everything
                                   else "leaky_c rows (--verbose: every implementation)"), 110)
    for name, own, other in ((a_name, a_rows, b_rows), (b_name, b_rows, a_rows)):
        only = [key for key in own if key not in other]
        if only:
            lines.append(f"only in {name} ({len(only)}): "
                         + "; ".join(_compare_name(key) for key in only))
    return lines


def semantics_lines(doc: dict[str, Any]) -> list[str]:
    """Every peer that differs from leaky_c on the special values, with one example per kind."""
    differs = [record for record in doc.get("semantics", []) if record["status"] != "agrees"]
    if not doc.get("semantics"):
        return []
    agree = sorted({SHORT_NAMES.get(r["impl"], r["impl"]) for r in doc["semantics"]} -
                   {SHORT_NAMES.get(r["impl"], r["impl"]) for r in differs})
    lines = ["Special values (special.py): each peer's bits against leaky_c's",
             f"  same bits in every case: {', '.join(agree) or 'none'}"]
    for r in differs:
        where = f"  {SHORT_NAMES.get(r['impl'], r['impl'])}, {r['dtype']} {r['case']}"
        if r["status"] == "failed":
            lines.append(f"{where}: failed: {r.get('note')}")
            continue
        lines += [f"{where}, {category}: {r['examples'][category]}" for category in r["differs"]]
    return lines


#: The README's headline block lies between these lines; the first names the run it renders.
README_BEGIN = "<!-- bench-headline: {json} (written by --readme: do not edit by hand) -->"
README_END = "<!-- /bench-headline -->"


def readme_block(doc: dict[str, Any], json_path: str) -> list[str]:
    """The lines between the README's markers: the headline of the run saved at json_path."""
    return [README_BEGIN.format(json=json_path), "```", *headline(doc, json_path), "```",
            README_END]


def find_readme_block(text: str) -> tuple[int, int, str]:
    """Where the headline block is in a README (first and last line index) and its JSON path."""
    lines = text.splitlines()
    prefix = README_BEGIN.split("{json}")[0]
    try:
        first = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        last = lines.index(README_END, first)
    except (StopIteration, ValueError):
        raise BenchError(f"--readme: no block from '{prefix}...' to '{README_END}'") from None
    return first, last, lines[first][len(prefix):].split(" ", 1)[0]


def update_readme(path: str, doc: dict[str, Any], json_path: str) -> None:
    """Replace the headline block in the README at ``path`` with this run's."""
    with open(path) as f:
        text = f.read()
    first, last, _ = find_readme_block(text)
    lines = text.splitlines()
    lines[first:last + 1] = readme_block(doc, json_path)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_markdown(doc: dict[str, Any], path: str) -> None:
    lines = ["```", *header_lines(doc), "```", "", *headline(doc, None, markdown=True), "",
             *summary(doc, markdown=True), "", *scaling_lines(doc, markdown=True), "",
             *extras_lines(doc, markdown=True)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _pyplot() -> Any:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError(f"--plot needs matplotlib: {_extras.hint('bench')}") from None
    return plt


#: Line styles in the plots: leaky_c stands out, the copy bound is a black line.
STYLES = {"leaky_c": dict(color="tab:red", lw=2.4, marker="o", ms=3, zorder=5),
          "bound.nt": dict(color="black", lw=1.6),
          "bound.numpy": dict(color="0.5", lw=1.4, ls="--")}
for _impl, _color in zip([i for i in SHORT_NAMES if i not in STYLES],
                         ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown",
                          "tab:olive", "tab:cyan", "tab:pink", "tab:gray", "gold", "navy",
                          "teal"]):
    STYLES[_impl] = dict(color=_color, lw=1.1, marker=".", ms=4)
LEGEND_NAMES = {"bound.nt": "copy bound (C, same threads)", "bound.numpy": "np.copyto (1 thread)"}


PLOT_SOURCE = "leaky_c bench run of "


def plot(doc: dict[str, Any], path: str) -> None:
    """PNG: GB/s against size per case and thread count, and the thread-scaling panels."""
    plt = _pyplot()
    panels: dict[tuple, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for row in doc["results"]:
        if row["section"] == "sweep" and row["status"] == "ok" and row["gbps"]:
            panels[(row["dtype"], row["threads"], row["case"])][row["impl"]].append(
                (row["n"], row["gbps"]))
    if not panels:
        raise BenchError("--plot: nothing was measured, so there is nothing to plot")
    grid_rows = sorted({(dtype, threads) for dtype, threads, _ in panels})
    grid_cols = [case for case in CASES if any(key[2] == case for key in panels)]
    scaling = groups(doc["results"], "scaling")
    extra_row = 1 if scaling else 0
    ncols = max(len(grid_cols), min(len({key[3] for key in scaling}), 4))
    fig, axes = plt.subplots(len(grid_rows) + extra_row, ncols, squeeze=False,
                             figsize=(4.2 * ncols, 3.2 * (len(grid_rows) + extra_row)))
    handles: dict[str, Any] = {}
    for i, (dtype, threads) in enumerate(grid_rows):
        for j in range(ncols):
            ax = axes[i][j]
            if j >= len(grid_cols):
                ax.axis("off")
                continue
            case = grid_cols[j]
            for impl, points in panels.get((dtype, threads, case), {}).items():
                points.sort()
                (line,) = ax.plot(*zip(*points), label=LEGEND_NAMES.get(impl, SHORT_NAMES[impl]),
                                  **STYLES.get(impl, {}))
                handles.setdefault(line.get_label(), line)
            ax.set_xscale("log")
            ax.set_title(f"{dtype}, {threads} thread{'s' if threads > 1 else ''}: "
                         f"{CASES[case].title}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, which="major", alpha=0.3)
            ax.set_ylabel("GB/s (higher is better)", fontsize=8)
            ax.set_xlabel("elements", fontsize=8)
    if scaling:
        _plot_scaling(axes[-1], scaling, ncols, handles)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 5),
               fontsize=8, frameon=False)
    fig.suptitle("leaky_c against its peers and the copy bound: bytes moved / time\n"
                 + load_lines(doc)[-1].replace("load: ", f"run of {doc['date']}; load ", 1),
                 fontsize=10)
    legend_rows = -(-len(handles) // 5)
    fig.tight_layout(rect=(0, 0.035 * legend_rows + 0.01, 1, 0.97))
    # The run it shows, in the PNG's text (the tests check the README's figure against it).
    fig.savefig(path, dpi=80, metadata={"Source": f"{PLOT_SOURCE}{doc['date']}"})
    plt.close(fig)


def _plot_scaling(axes: Any, scaling: dict[tuple, list[dict[str, Any]]], ncols: int,
                  handles: dict[str, Any]) -> None:
    """One panel per size: time per call against the thread count, leaky_c, PyTorch, copy."""
    series: dict[int, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for (_, threads, _, n), rows in scaling.items():
        for row in rows:
            if row["status"] == "ok" and row["impl"] in ("leaky_c", "torch", "bound.nt"):
                series[n][row["impl"]].append((threads, row["best_s"] * 1e6))
    sizes = sorted(series)[:ncols]
    for ax, n in zip(axes, sizes):
        for impl, points in series[n].items():
            points.sort()
            (line,) = ax.plot(*zip(*points), label=LEGEND_NAMES.get(impl, SHORT_NAMES[impl]),
                              **STYLES[impl])
            handles.setdefault(line.get_label(), line)
        counts = sorted({t for points in series[n].values() for t, _ in points})
        ax.set_xticks(counts)
        ax.set_yscale("log")  # one slow thread count must not flatten the others
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("threads", fontsize=8)
        ax.set_ylabel("us per call (lower is better)", fontsize=8)
        ax.set_title(f"thread scaling, n = {_size(n)}: forward into out=", fontsize=9)
    for ax in axes[len(sizes):]:
        ax.axis("off")
