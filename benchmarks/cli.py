"""Options of ``python -m leaky_c bench`` (and ``leaky-c bench``)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Sequence

from leaky_c._threads import available_cores

from . import extras, report, suite
from .peers import CASES, DTYPES, FAMILIES
from .progress import Progress

HELP = "time leaky_c against NumPy, numexpr, numba, PyTorch and the memory-copy bound"
DESCRIPTION = f"""\
Time leaky_c against its peers and the memory-copy bound, side by side in one
process on the same arrays, and print a table per size and case: microseconds
per call, each time divided by leaky_c's (above 1: leaky_c is faster), and
GB/s (bytes the operation moves / time) beside the copy bound's.

Every peer's result is checked against leaky_c's before its time counts
(bit for bit; float16 NumPy forms within 2^-9 relative, as they round the slope
to float16).  A peer that is not installed is skipped with a note.

Peers: NumPy (np.where, np.maximum where correct, ufuncs into preallocated
buffers), numexpr, numba @vectorize and PyTorch (F.leaky_relu, out=, in place,
aten.leaky_relu_backward).  Bounds: np.copyto (memcpy, 1 thread) and the C
copy with non-temporal stores at leaky_c's thread count.

Default sizes: {', '.join(map(str, suite.DEFAULT_SIZES))} (3-4 minutes at 1 and 2
threads on the 2-core development machine, 75 s with --min-time 0.03);
--full: {', '.join(map(str, suite.FULL_SIZES))} (about 20 minutes)."""


def parse_size(text: str) -> int:
    """An element count: 1000, 1e6, 2^24 or 2**24."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:\^|\*\*)\s*(\d+)\s*", text)
    try:
        value = int(match.group(1)) ** int(match.group(2)) if match else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes: {text!r} is not an element count (examples: 1000, 1e6, 2^24)") from None
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"--sizes: {text!r} is not a positive whole number")
    return int(value)


def _split(values: Sequence[str]) -> list[str]:
    """Values given as separate words and/or comma lists."""
    return [part for value in values for part in value.split(",") if part.strip()]


def _threads(values: Sequence[str]) -> tuple[int, ...]:
    counts = set()
    for value in _split(values):
        if value.strip().lower() == "all":
            counts.add(available_cores())
        elif value.strip().isdigit() and int(value) >= 1:
            counts.add(int(value))
        else:
            raise suite.BenchError(f"--threads: {value!r} is not a positive count or 'all'")
    return tuple(sorted(counts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench options, on the parser of ``python -m leaky_c bench``."""
    what = parser.add_argument_group("what to measure")
    sizes = what.add_mutually_exclusive_group()
    sizes.add_argument("--sizes", nargs="+", metavar="N",
                       help="element counts, as words or comma lists: 1000, 1e6, 2^24, 2**24 "
                            f"(default: {' '.join(map(str, suite.DEFAULT_SIZES))})")
    sizes.add_argument("--full", action="store_true",
                       help="the whole sweep, 10 to 2^28 elements (1 GiB of float32): "
                            "tens of minutes")
    what.add_argument("--dtypes", nargs="+", metavar="DTYPE", default=["float32"],
                      help=f"one or more of {', '.join(DTYPES)} (default: float32)")
    what.add_argument("--threads", nargs="+", metavar="T", default=["1", "all"],
                      help="thread counts for leaky_c and every threaded peer; 'all' is every "
                           f"core this process may use, now {available_cores()} "
                           "(default: 1 all)")
    what.add_argument("--cases", nargs="+", metavar="CASE", default=list(CASES),
                      help=f"one or more of {', '.join(CASES)} (default: all)")
    what.add_argument("--peers", nargs="+", metavar="PEER", default=list(FAMILIES),
                      help=f"which of {', '.join(FAMILIES)} to run beside leaky_c, which "
                           "always runs (default: all)")
    what.add_argument("--slope", type=float, default=0.01, metavar="A",
                      help="negative_slope (default: 0.01)")
    what.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    what.add_argument("--no-extras", action="store_true",
                      help="skip the comparisons beyond the sweep (benchmarks/extras.py): PReLU "
                           "on a (64, 64, 56, 56) batch, the PyTorch module's forward + backward, "
                           "and float16/bfloat16 against PyTorch and the NumPy reference")
    how = parser.add_argument_group("how long")
    how.add_argument("--min-time", type=float, default=0.1, metavar="SECONDS",
                     help="calls per timing are autoscaled so one timing lasts at least this "
                          "(default: 0.1)")
    how.add_argument("--repeat", type=int, default=5, metavar="R",
                     help="timings per implementation, interleaved; best and median are "
                          "reported (default: 5)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="write every raw timing and the metadata")
    out.add_argument("--plot", metavar="FILE",
                     help="write a PNG of GB/s against size (needs matplotlib)")
    out.add_argument("--markdown", metavar="FILE",
                     help="write the header and the summary tables as markdown")
    out.add_argument("--from-json", metavar="FILE",
                     help="report a run saved with --json instead of measuring")
    out.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


#: Options' names on the command line, for error messages.
OPTION_NAMES = {"sizes": "--sizes", "dtypes": "--dtypes", "threads": "--threads",
                "cases": "--cases", "families": "--peers", "min_time": "--min-time",
                "repeat": "--repeat", "slope": "--slope"}


def options_from(args: argparse.Namespace) -> suite.Options:
    """suite.Options from parsed arguments (BenchError naming the option if one is bad)."""
    if args.full:
        sizes = suite.FULL_SIZES
    elif args.sizes:
        try:
            sizes = tuple(parse_size(text) for text in _split(args.sizes))
        except argparse.ArgumentTypeError as exc:
            raise suite.BenchError(str(exc)) from None
    else:
        sizes = suite.DEFAULT_SIZES
    options = suite.Options(
        sizes=sizes, dtypes=tuple(_split(args.dtypes)), threads=_threads(args.threads),
        cases=tuple(_split(args.cases)), families=tuple(_split(args.peers)),
        min_time=args.min_time, repeat=args.repeat, slope=args.slope, seed=args.seed)
    options.validate(OPTION_NAMES)
    return options


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the suite, printing the header first and each group's table as it finishes."""
    options = options_from(args)
    skipped: list[str] = []  # peers skipped everywhere: said once, in the header

    def start(doc: dict[str, Any]) -> None:
        print("\n".join(report.header_lines(doc)), flush=True)
        skipped.extend(doc["unavailable"].values())

    def group(rows: list[dict[str, Any]]) -> None:
        print("\n" + "\n".join(report.group_lines(rows, skipped)), flush=True)
    doc = suite.run(options, on_start=start, on_group=group,
                    progress=Progress(0, enabled=not args.no_progress))
    if not args.no_extras:
        doc["extras"] = [extras.run(threads, options.min_time, options.repeat, options.seed)
                         for threads in options.threads]
        _print_extras(doc)
    return doc


def _load(path: str) -> dict[str, Any]:
    """A saved run, printed as it was when measured."""
    doc = report.load_json(path)
    print("\n".join(report.header_lines(doc)))
    for rows in report.groups(doc["results"]).values():
        print("\n" + "\n".join(report.group_lines(rows, doc["unavailable"].values())))
    _print_extras(doc)
    return doc


def _print_extras(doc: dict[str, Any]) -> None:
    for result in doc.get("extras", []):
        print("\nBeyond the sweep (peer time / leaky_c time; above 1, leaky_c is faster)\n"
              + extras.format_table(result), flush=True)


def run_command(args: argparse.Namespace) -> int:
    """Measure (or load), print the tables and write the requested files."""
    try:
        doc = _load(args.from_json) if args.from_json else _measure(args)
        print("\n" + "\n".join(report.summary(doc, markdown=False)))
        for path, write in ((args.json, report.write_json), (args.markdown, report.write_markdown),
                            (args.plot, report.plot)):
            if path:
                write(doc, path)
                print(f"wrote {path}")
    except (suite.BenchError, OSError) as exc:
        print(f"leaky_c bench: error: {exc}", file=sys.stderr)
        return 2
    return 0
