"""Options of ``python -m leaky_c bench`` (and ``leaky-c bench``)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from typing import Any, Sequence

from leaky_c import _extras

from . import extras, machine, report, suite
from .peers import CASES, DTYPES, FAMILIES

HELP = ("time leaky_c against NumPy, numexpr, numba, PyTorch, ONNX Runtime, JAX, TensorFlow "
        "and the memory-copy bound")
DESCRIPTION = f"""\
Time leaky_c against its peers and the memory-copy bound, side by side on the same
arrays, each thread count in its own process, and end with one headline table: per
case, size and thread count, leaky_c's best and median time, the fastest peer at that
thread count and its ratio, PyTorch's ratio, and how close leaky_c is to copying the
same bytes at that thread count.  Every timing goes to a JSON file (named in the
summary; --json FILE to choose it), which --compare A.json B.json compares with another
run; the load of the machine is measured and a loaded machine is said first.

Every peer's result is checked against leaky_c's before its time counts
(bit for bit; float16 NumPy forms within 2^-9 relative, as they round the slope
to float16), and every peer runs on an array of special values (zeros,
subnormals, NaN, inf) first: where its bits differ from leaky_c's (JAX,
TensorFlow), the headline marks it and lists how.  A peer that is not installed
is skipped with a note that says how to install it.

Peers: NumPy (np.where, np.maximum where correct, ufuncs into preallocated
buffers), numexpr, numba @vectorize, PyTorch (F.leaky_relu, out=, in place,
aten.leaky_relu_backward), ONNX Runtime (a one-node LeakyRelu model, allocating
and with I/O binding), JAX (jit) and TensorFlow (eager and tf.function); pip
install '.[bench,bench-peers]' in leaky_c's source directory installs all but PyTorch
and TensorFlow.
Bounds: np.copyto (memcpy, 1 thread) and a C copy (benchmarks/bounds.c, compiled
on first use) at leaky_c's thread count.

Default: float32, {', '.join(map(str, suite.DEFAULT_SIZES))} elements, cases
{', '.join(suite.DEFAULT_CASES)}, 1 thread and all cores: about a minute.
--full adds every size from 10 to 2^28, every case, the thread scaling
(--scaling), the comparisons beyond the sweep (--extras) and the CNN block
(--cnn), and prints every table: tens of minutes."""


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
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _threads(values: Sequence[str], option: str = "--threads") -> tuple[int, ...]:
    counts = set()
    for value in _split(values):
        if value.lower() == "all":
            counts.add(machine.available_cores())
        elif value.isdigit() and int(value) >= 1:
            counts.add(int(value))
        else:
            raise suite.BenchError(f"{option}: {value!r} is not a positive count or 'all'")
    return tuple(sorted(counts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench options, on the parser of ``python -m leaky_c bench``."""
    cores = machine.available_cores()
    what = parser.add_argument_group("what to measure")
    sizes = what.add_mutually_exclusive_group()
    sizes.add_argument("--sizes", nargs="+", metavar="N",
                       help="element counts, as words or comma lists: 1000, 1e6, 2^24, 2**24 "
                            f"(default: {' '.join(map(str, suite.DEFAULT_SIZES))})")
    sizes.add_argument("--full", action="store_true",
                       help="everything: 10 to 2^28 elements (1 GiB of float32), every case, "
                            "--scaling, --extras, --cnn and --verbose: tens of minutes")
    what.add_argument("--dtypes", nargs="+", metavar="DTYPE", default=["float32"],
                      help=f"one or more of {', '.join(DTYPES)} (default: float32)")
    what.add_argument("--threads", nargs="+", metavar="T", default=["1", "all"],
                      help="thread counts for leaky_c and every threaded peer; 'all' is every "
                           f"core this process may use, now {cores} (default: 1 all)")
    what.add_argument("--cases", nargs="+", metavar="CASE", default=list(suite.DEFAULT_CASES),
                      help=f"'all' or one or more of {', '.join(CASES)} "
                           f"(default: {' '.join(suite.DEFAULT_CASES)})")
    what.add_argument("--peers", nargs="+", metavar="PEER", default=list(FAMILIES),
                      help=f"which of {', '.join(FAMILIES)} to run beside leaky_c, which "
                           "always runs (default: all)")
    what.add_argument("--slope", type=float, default=0.01, metavar="A",
                      help="negative_slope (default: 0.01)")
    what.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    views = parser.add_argument_group("views beyond the default (each adds tens of seconds)")
    views.add_argument("--scaling", nargs="*", metavar="T",
                       help="thread scaling: float32 forward into out= at "
                            f"{', '.join(map(str, suite.SCALING_SIZES))} elements, leaky_c, "
                            "PyTorch and the C copy at each thread count: 1 to the cores "
                            f"({cores}) if none given, or the given counts, which may exceed "
                            "the cores (e.g. --scaling 1 2 4 8)")
    views.add_argument("--extras", action="store_true",
                       help="the comparisons beyond the sweep (benchmarks/extras.py): PReLU "
                            "on a (64, 64, 56, 56) batch, the PyTorch module's forward + "
                            "backward, float16/bfloat16 against PyTorch and the NumPy reference")
    views.add_argument("--cnn", action="store_true",
                       help="a CNN block (conv, leaky ReLU, conv) forward + backward: "
                            "leaky_c.torch.LeakyReLU against torch.nn.LeakyReLU, eager and "
                            "torch.compile'd (compiling takes a minute or more)")
    how = parser.add_argument_group("how long")
    how.add_argument("--min-time", type=float, default=suite.Options.min_time, metavar="SECONDS",
                     help="calls per timing are autoscaled so one timing lasts at least this "
                          f"(default: {suite.Options.min_time})")
    how.add_argument("--same-process", action="store_true",
                     help="measure every thread count in this one process (faster to start; "
                          "process-wide thread settings such as XLA_FLAGS then hold for the "
                          "first count only, and JAX and TensorFlow rows say so). Default: "
                          "a fresh process per thread count")
    how.add_argument("--repeat", type=int, default=suite.Options.repeat, metavar="R",
                     help="timings per implementation, interleaved; best and median are "
                          f"reported (default: {suite.Options.repeat})")
    out = parser.add_argument_group("output")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="also print the header and every per-peer table (the JSON has them "
                          "anyway)")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bar: only the summary on stdout")
    out.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    out.add_argument("--json", metavar="FILE",
                     help="where to save every timing and the metadata (default: "
                          "leaky_c-bench-DATE-TIME.json in the current directory; the "
                          "structure is described in benchmarks/README.md)")
    out.add_argument("--no-save", action="store_true", help="do not save the JSON")
    out.add_argument("--plot", metavar="FILE",
                     help="write a PNG: GB/s against size with the copy bound, and the thread "
                          "scaling if measured (needs matplotlib)")
    out.add_argument("--markdown", metavar="FILE",
                     help="write the header and every table as markdown")
    out.add_argument("--readme", metavar="FILE",
                     help="replace the headline block of FILE (a README, between its "
                          "'<!-- bench-headline: ... -->' markers) with this run's; needs the "
                          "run saved (--json or --from-json)")
    out.add_argument("--from-json", metavar="FILE",
                     help="report a run saved with --json instead of measuring")
    out.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                     help="compare two saved runs: per case in both, A's time, B's and B/A, "
                          "marked when best and median both moved beyond the rows' spread and "
                          "beyond what the case's other implementations moved")


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
    cases = _split(args.cases)
    if args.full or [case.lower() for case in cases] == ["all"]:
        cases = list(CASES)
    scaling: tuple[int, ...] = ()
    if args.scaling is not None or args.full:
        scaling = (_threads(args.scaling, "--scaling") if args.scaling
                   else tuple(range(1, machine.available_cores() + 1)))
    options = suite.Options(
        sizes=sizes, dtypes=tuple(_split(args.dtypes)), threads=_threads(args.threads),
        cases=tuple(cases), families=tuple(_split(args.peers)),
        min_time=args.min_time, repeat=args.repeat, slope=args.slope, seed=args.seed,
        scaling_threads=scaling)
    options.validate(OPTION_NAMES)
    return options


def _progress(args: argparse.Namespace, total: int) -> Any:
    """A tqdm bar on stderr when it is a terminal and not --quiet; else a stand-in."""
    if args.quiet or args.no_progress or not sys.stderr.isatty():
        return suite.NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        print(f"(no progress bar: {_extras.hint('bench')})", file=sys.stderr)
        return suite.NoProgress()
    return tqdm(total=total, file=sys.stderr, unit="group", leave=False, dynamic_ncols=True)


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run everything asked for, printing the per-group tables as they finish if verbose."""
    options = options_from(args)
    verbose = args.verbose or args.full
    want_extras, want_cnn = args.extras or args.full, args.cnn or args.full
    isolate = not args.same_process
    doc = suite.start(options, isolate)
    total = suite.group_count(options) + len(options.threads) * (
        extras.count(want_cnn, want_extras) if want_extras or want_cnn else 0)
    progress = _progress(args, total)
    write = getattr(progress, "write", print)
    if verbose:
        write("\n".join(report.header_lines(doc)))
    skipped = list(doc["unavailable"].values())  # said once, in the header

    def group(rows: list[dict[str, Any]]) -> None:
        if verbose:
            write("\n" + "\n".join(report.group_lines(rows, skipped)))
    try:
        suite.sweep(doc, options, progress, group, isolate)
        if want_extras or want_cnn:
            for threads in options.threads:
                rows, notes = extras.run(threads, options.min_time, options.repeat,
                                         options.seed, cnn=want_cnn, others=want_extras,
                                         progress=progress)
                doc["extras"].extend(rows)
                doc["extras_notes"] = notes
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    return doc


def _print_tables(doc: dict[str, Any], verbose: bool) -> None:
    """Everything but the headline: summaries if verbose, then scaling and extras if measured."""
    sections = [report.summary(doc, markdown=False), report.semantics_lines(doc)] if verbose else []
    sections += [report.scaling_lines(doc), report.extras_lines(doc)]
    for lines in sections:
        if lines:
            print("\n".join(lines) + "\n")


def default_json_path() -> str:
    return datetime.now().strftime("leaky_c-bench-%Y%m%d-%H%M%S.json")


def run_command(args: argparse.Namespace) -> int:
    """Measure (or load, or compare), print the tables and write the requested files."""
    try:
        if args.compare:
            a_path, b_path = args.compare
            a_doc, b_doc = (report.load_json(path, "--compare") for path in args.compare)
            print("\n".join(report.compare(a_doc, b_doc, a_path, b_path, args.verbose)))
            return 0
        if args.from_json:
            doc = report.load_json(args.from_json)
            json_path = args.from_json
            if args.verbose:
                print("\n".join(report.header_lines(doc)) + "\n")
        else:
            doc = _measure(args)
            json_path = None if args.no_save else (args.json or default_json_path())
            if json_path:
                report.write_json(doc, json_path)
        _print_tables(doc, args.verbose or args.full)
        print("\n".join(report.headline(doc, json_path)))
        for path, write in ((args.markdown, report.write_markdown), (args.plot, report.plot)):
            if path:
                write(doc, path)
                print(f"wrote {path}")
        if args.readme:
            if not json_path:
                raise suite.BenchError("--readme needs the run saved: --json FILE")
            report.update_readme(args.readme, doc, json_path)
            print(f"wrote the headline of {json_path} into {args.readme}")
    except (suite.BenchError, OSError) as exc:
        print(f"leaky_c bench: error: {exc}", file=sys.stderr)
        return 2
    return 0
