"""What a run prints and writes: the header, tables, JSON, markdown and the plot.

The JSON document (``--json``) has:

- ``schema``: ``"leaky_c.bench/1"``;
- ``meta``: date, argv, CPU model, cores, memory, versions (Python, NumPy,
  leaky_c, each peer), leaky_c's configuration (CPU features, active target,
  stream threshold), the options, the timer's overhead and what each
  implementation id means;
- ``unavailable``: peer module -> why it was skipped (``"skipped: numba not installed"``);
- ``notes``: sizes skipped for lack of memory;
- ``results``: one row per (dtype, n, case, threads, implementation), with
  ``status`` (ok, skipped, mismatch, failed), ``verified`` and how, every raw
  timing (``times_s``, seconds per call, one per repeat), ``best_s``,
  ``median_s``, ``gbps`` (bytes the operation moves / best time) and ``ratio``
  (this row's time / leaky_c's time in the same group: above 1, leaky_c is faster).

Bound rows have ``role: "bound"``: ``impl: "bound.nt"`` is the C copy with
streaming stores at the group's thread count (the bound leaky_c is held to),
``impl: "bound.numpy"`` is NumPy's single-threaded copy.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Iterable

from .peers import CASES
from .suite import SCHEMA, BenchError

#: Column order and short names of implementations in the summary tables.
SHORT_NAMES = {
    "leaky_c": "leaky_c", "bound.nt": "NT copy", "bound.numpy": "NumPy copy",
    "numpy.where": "np.where", "numpy.maximum": "np.maximum", "numpy.ufuncs": "np ufuncs",
    "numexpr": "numexpr", "numba": "numba", "torch": "torch",
}


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
    meta, options = doc["meta"], doc["meta"]["options"]
    cfg = meta["leaky_c_config"]
    memory = _bytes(meta["memory_bytes"]) if meta.get("memory_bytes") else "unknown"
    peers = ", ".join(f"{name} {version}" for name, version in meta["peers"].items() if version)
    lines = [
        f"leaky_c benchmark, {meta['date']}",
        f"CPU:      {meta['cpu_model']} ({meta['cores']} cores available, {memory} memory); "
        f"load average {_loads(meta.get('load_average'))} at the start"
        + (f", {_loads(meta['load_average_end'])} at the end" if meta.get("load_average_end")
           else ""),
        f"leaky_c:  backend {cfg['backend']}, target "
        f"{cfg['active_target'] or '-'}; CPU features {', '.join(cfg['cpu_features']) or '-'}; "
        f"streaming stores from {_bytes(cfg['stream_threshold_bytes'])} of output",
        f"versions: Python {meta['python']}, NumPy {meta['numpy']}, leaky_c {meta['leaky_c']}"
        + (f", {peers}" if peers else ""),
        f"dtypes:   {', '.join(options['dtypes'])};  threads: "
        f"{', '.join(map(str, options['threads']))} (leaky_c, PyTorch, numexpr set alike;"
        f" NumPy, numba and NumPy's copy run on 1);  slope {options['slope']}",
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
                          "bitwise" if row["verification"] == "bitwise" else "f16 tol"])
        elif row["note"] not in skip_notes:
            notes.append(f"  {row['label']}: {row['note']}")
    headers = ["implementation", "us/call", "median", "ratio", "GB/s", "thr", "check"]
    return [title] + ["  " + line for line in render(headers, table, False)] + notes


def groups(results: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in results:
        groups[(row["dtype"], row["threads"], row["case"], row["n"])].append(row)
    return groups


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


def write_json(doc: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def load_json(path: str) -> dict[str, Any]:
    with open(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as exc:
            raise BenchError(f"--from-json: {path} is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise BenchError(f"--from-json: {path} is not a leaky_c benchmark file (schema {SCHEMA})")
    return doc


def write_markdown(doc: dict[str, Any], path: str) -> None:
    lines = ["```", *header_lines(doc), "```", "", *summary(doc, markdown=True)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def plot(doc: dict[str, Any], path: str) -> None:
    """PNG of GB/s against size (log x), one panel per dtype, threads and case."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("--plot needs matplotlib: pip install matplotlib "
                           "(or pip install 'leaky_c[bench]')") from None
    panels: dict[tuple, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for row in doc["results"]:
        if row["status"] == "ok" and row["gbps"]:
            key = (row["dtype"], row["threads"], row["case"])
            panels[key][row["impl"]].append((row["n"], row["gbps"]))
    grid_rows = sorted({(dtype, threads) for dtype, threads, _ in panels})
    grid_cols = [case for case in CASES if any(key[2] == case for key in panels)]
    if not panels:
        raise BenchError("--plot: nothing was measured, so there is nothing to plot")
    fig, axes = plt.subplots(len(grid_rows), len(grid_cols), squeeze=False, sharex=True,
                             figsize=(3.6 * len(grid_cols), 2.9 * len(grid_rows)))
    styles = {"leaky_c": dict(color="tab:red", lw=2.4, marker="o", ms=3, zorder=5),
              "bound.nt": dict(color="black", lw=1.6),
              "bound.numpy": dict(color="0.5", lw=1.4, ls="--")}
    colors = iter(["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown",
                   "tab:pink", "tab:olive", "tab:cyan"])
    for impl in SHORT_NAMES:
        if impl not in styles:
            styles[impl] = dict(color=next(colors), lw=1.1, marker=".", ms=4)
    handles = {}
    for i, (dtype, threads) in enumerate(grid_rows):
        for j, case in enumerate(grid_cols):
            ax = axes[i][j]
            for impl, points in panels.get((dtype, threads, case), {}).items():
                points.sort()
                (line,) = ax.plot(*zip(*points), label=SHORT_NAMES.get(impl, impl),
                                  **styles.get(impl, {}))
                handles.setdefault(line.get_label(), line)
            ax.set_xscale("log")
            ax.set_title(f"{dtype}, {threads}T: {CASES[case].title}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, which="major", alpha=0.3)
            if j == 0:
                ax.set_ylabel("GB/s", fontsize=8)
            if i == len(grid_rows) - 1:
                ax.set_xlabel("elements", fontsize=8)
    order = [SHORT_NAMES[impl] for impl in SHORT_NAMES if SHORT_NAMES[impl] in handles]
    fig.legend([handles[name] for name in order],
               [name.replace("NT copy", "copy bound (NT)") for name in order],
               loc="lower center", ncol=len(order), fontsize=8, frameon=False)
    fig.suptitle("leaky_c vs peers: bytes moved / time (higher is better)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=72)
    plt.close(fig)
