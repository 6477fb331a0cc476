#!/usr/bin/env python3
"""Fail unless GCC reports every hot loop of the C kernels vectorised.

    python tools/check_vectorized.py [--all] [--gcc GCC]

Each translation unit is compiled as the package build compiles it (Python's
CFLAGS, then the flags of leaky_c/_build.py) with -fopt-info-vec.  The loops
are written inside macros, so on the original source GCC reports every loop of
a macro at the macro's invocation line; instead each unit is first
preprocessed with -E -P, where each loop has its own line and column, and each
report is mapped to the innermost `for` that holds its location and to the
function around it.  A loop counts as vectorised when GCC reports it, or a
loop nested in it, vectorised (in at least one of the copies that inlining
makes).

Exit status: 0 when every loop in HOT_LOOPS is vectorised (a table of them is
printed), 1 when one is not (each is named, with GCC's reason), 2 when the
check cannot run here (no GCC, not x86-64, cffi missing).
"""

import argparse
import collections
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")

# Where a loop is compiled: every target_*.c (each includes kernels_template.h);
# the targets without a vector path for the loop's 16-bit type (no LOADV_<type>),
# where the portable loop is the main loop, not only the tail; or prelu.c.
TARGETS, TARGETS_WITHOUT_LOADV, PRELU = "targets", "targets without LOADV", "prelu.c"

# The hot loops: (function, a piece of the loop's `for` header where the
# function has several loops, where it is compiled).  The streaming and the
# F16C/AVX-512 16-bit loops are intrinsics, vectors by construction, and are
# not checked.
HOT_LOOPS = [
    ("fwd_loop_f32", None, TARGETS),
    ("fwd_loop_f64", None, TARGETS),
    ("bwd_loop_f32", None, TARGETS),
    ("bwd_loop_f64", None, TARGETS),
    ("fwd_scalar_f16", None, TARGETS_WITHOUT_LOADV),
    ("bwd_scalar_f16", None, TARGETS_WITHOUT_LOADV),
    ("fwd_scalar_bf16", None, TARGETS_WITHOUT_LOADV),
    ("bwd_scalar_bf16", None, TARGETS_WITHOUT_LOADV),
    ("neg_dot_f32", "i + 8 <= n", TARGETS),
    ("neg_dot_f64", "i + 8 <= n", TARGETS),
    ("neg_dot_f16", "i + 8 <= n", TARGETS),
    ("neg_dot_bf16", "i + 8 <= n", TARGETS),
    # PReLU's forward over channels-last rows (inner == 1).
    ("fwd_range_f32", "k < n", PRELU),
    ("fwd_range_f64", "k < n", PRELU),
    ("fwd_range_f16", "k < n", PRELU),
    ("fwd_range_bf16", "k < n", PRELU),
]
# Not listed: PReLU's backward channels-last loop, which GCC does not if-convert
# for float32 and bfloat16 ("control flow in loop"); list it once prelu.c lets
# it vectorise (`--all` shows what GCC vectorised).

REPORT = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<kind>optimized|missed): (?P<msg>.*)$")
BRACKETS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
Loop = collections.namedtuple("Loop", "start end function header")
FOR = re.compile(r"\bfor\s*\(")
VECTORIZED = re.compile(r"loop vectorized using (\d+) byte vectors")


def cannot_run(message):
    print(f"check_vectorized: {message}", file=sys.stderr)
    sys.exit(2)


def load_build():
    """leaky_c/_build.py, for its sources and compile flags (it imports cffi)."""
    spec = importlib.util.spec_from_file_location("_leaky_build", os.path.join(ROOT, "leaky_c", "_build.py"))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as error:
        cannot_run(f"leaky_c/_build.py needs {error.name} (pip install cffi)")
    return module


def check_gcc(gcc):
    path = shutil.which(gcc)
    if path is None:
        cannot_run(f"no {gcc} on PATH: this check reads GCC's -fopt-info reports")
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    if "clang" in version.lower() or "Free Software Foundation" not in version:
        cannot_run(f"{path} is not GCC: this check reads GCC's -fopt-info reports")
    machine = subprocess.run([path, "-dumpmachine"], capture_output=True, text=True).stdout.strip()
    if not machine.startswith("x86_64"):
        cannot_run(f"{path} targets {machine}: the CPU targets checked here are x86-64")
    return path, version.splitlines()[0]


class Unit:
    """A preprocessed translation unit: its functions and `for` loops by offset."""

    def __init__(self, text):
        self.text = text
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.line_starts = starts
        self.functions = self._functions()
        self.loops = self._loops()

    def offset(self, line, col):
        return self.line_starts[line - 1] + col - 1

    def _functions(self):
        """(start, end, name) of each function definition, by brace depth."""
        text, out, depth, since = self.text, [], 0, 0
        i = 0
        while i < len(text):
            c = text[i]
            if c == "#" and (i == 0 or text[i - 1] == "\n"):  # a #pragma line
                i = text.find("\n", i)
                i = len(text) if i < 0 else i
                continue
            if c in "\"'":
                j = i + 1
                while j < len(text) and text[j] != c:
                    j += 2 if text[j] == "\\" else 1
                i = j + 1
                continue
            if c == "{":
                if depth == 0:
                    head = text[since:i]
                    m = re.search(r"(\w+)\s*\([^;{}]*\)\s*$", head)
                    name = m.group(1) if m and "=" not in head else None
                    start = i
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    if name:
                        out.append((start, i, name))
                    since = i + 1
            elif c == ";" and depth == 0:
                since = i + 1
            i += 1
        return out

    def _loops(self):
        """A Loop(start, end, function, header text) for each `for`."""
        out = []
        for m in FOR.finditer(self.text):
            header_end = self._close(m.end() - 1)
            function = self.function_at(m.start())
            if function:
                out.append(Loop(m.start(), self._statement_end(header_end + 1),
                                function, self.text[m.start():header_end + 1]))
        return out

    def _close(self, i):
        """The offset that closes the bracket at i."""
        depth = 0
        while True:
            depth += BRACKETS.get(self.text[i], 0)
            if depth == 0:
                return i
            i += 1

    def _statement_end(self, i):
        """Where the statement starting at or after i ends (a loop's body)."""
        text = self.text
        while text[i].isspace():
            i += 1
        if text[i] == "{":
            return self._close(i)
        if FOR.match(text, i):
            return self._statement_end(self._close(text.index("(", i)) + 1)
        depth = 0
        while depth or text[i] != ";":
            depth += BRACKETS.get(text[i], 0)
            i += 1
        return i

    def function_at(self, offset):
        for start, end, name in self.functions:
            if start <= offset <= end:
                return name
        return None

    def loop_at(self, offset):
        """The innermost loop whose header or body holds offset."""
        inside = [loop for loop in self.loops if loop.start <= offset <= loop.end]
        return max(inside, key=lambda loop: loop.start) if inside else None


def reports(unit, pre, err):
    """[(loop, vector bytes or None, GCC's reason or None)] from GCC's messages.

    "loop vectorized" and "couldn't vectorize loop" stand at the loop; the
    reason follows the latter, at the statement that blocks vectorisation."""
    out, refused = [], None
    for line in err.splitlines():
        m = REPORT.match(line)
        if not m or m.group("file") != pre:
            continue
        msg = m.group("msg").strip()
        loop = unit.loop_at(unit.offset(int(m.group("line")), int(m.group("col"))))
        if msg.startswith("not vectorized") and refused:
            out.append((refused, None, msg))
            refused = None
        elif msg.startswith("couldn't vectorize loop"):
            refused = loop
        elif loop and (size := VECTORIZED.search(msg)):
            out.append((loop, int(size.group(1)), None))
    return out


def compile_units(gcc, flags, sources, tmp):
    """{source: (Unit, reports)}, the units compiled in parallel."""
    opt = ["-fopt-info-vec-optimized-missed", "-fdiagnostics-column-unit=byte"]
    jobs = {}
    for source in sources:
        pre = os.path.join(tmp, os.path.basename(source) + ".i")
        subprocess.run([gcc, *flags, "-I", CSRC, "-E", "-P", source, "-o", pre], check=True)
        jobs[source] = (pre, subprocess.Popen([gcc, *flags, *opt, "-c", pre, "-o", os.devnull],
                                              stderr=subprocess.PIPE, text=True, errors="replace"))
    units = {}
    for source, (pre, proc) in jobs.items():
        _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f"check_vectorized: {gcc} failed on {source}:\n{err}")
        with open(pre, encoding="latin-1") as f:
            unit = Unit(f.read())
        units[source] = (unit, reports(unit, pre, err))
    return units


def where(build, source_of, function, placement):
    """The translation units a HOT_LOOPS entry is compiled in."""
    targets = [s for s in build.SOURCES if s.startswith("target_")]
    if placement == TARGETS:
        return targets
    if placement == TARGETS_WITHOUT_LOADV:
        dtype = function.rsplit("_", 1)[1]
        return [t for t in targets
                if not re.search(rf"#define\s+LOADV_{dtype}\b", source_of(t))]
    return [placement]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gcc", default="gcc", help="the GCC to use (default: gcc)")
    parser.add_argument("--all", action="store_true",
                        help="also list every other loop GCC vectorised")
    args = parser.parse_args()

    gcc, version = check_gcc(args.gcc)
    build = load_build()
    flags = (shlex.split(sysconfig.get_config_var("CFLAGS") or "")
             + shlex.split(sysconfig.get_config_var("CCSHARED") or "")
             + build.compile_args("unix"))

    def source_of(name):
        with open(os.path.join(CSRC, name)) as f:
            return f.read()

    wanted = [(function, header, unit) for function, header, placement in HOT_LOOPS
              for unit in where(build, source_of, function, placement)]
    sources = sorted({unit for _, _, unit in wanted})
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compile_units(gcc, flags, [os.path.join(CSRC, s) for s in sources], tmp)
    compiled = {os.path.basename(k): v for k, v in compiled.items()}

    print(f"{version}; flags: {' '.join(flags)}")
    rows, failures, checked = [], [], set()
    for function, header, name in wanted:
        unit, reports = compiled[name]
        loops = [loop for loop in unit.loops if loop.function == function
                 and (header is None or header in loop.header)]
        label = function if header is None else f"{function} [{header}]"
        if len(loops) != 1:
            failures.append(f"{label} in {name}: {len(loops)} loops match; update HOT_LOOPS")
            continue
        loop = loops[0]
        checked.add((name, loop.start))
        # The loop, or a loop nested in it (GCC picks the outer or the inner).
        mine = [(size, why) for lp, size, why in reports if loop.start <= lp.start <= loop.end]
        sizes = [size for size, _ in mine if size]
        if sizes:
            rows.append((label, name, f"{max(sizes)}-byte vectors"))
        else:
            why = sorted({why for _, why in mine if why})
            failures.append(f"{label} in {name}: " + ("; ".join(why) or "no report from GCC"))
    if args.all:
        for name, (unit, reports) in sorted(compiled.items()):
            sizes = collections.defaultdict(list)
            for loop, size, _ in reports:
                if size and (name, loop.start) not in checked:
                    sizes[loop].append(size)
            for loop, found in sizes.items():
                rows.append((f"({loop.function}: {loop.header})", name, f"{max(found)}-byte vectors"))

    width = max(len(r[0]) for r in rows + [("loop",)])
    print(f"{'loop':<{width}}  {'compiled in':<18}  vectorised with")
    for label, name, size in rows:
        print(f"{label:<{width}}  {name:<18}  {size}")
    if failures:
        print(f"\nNOT VECTORISED ({len(failures)}):", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"\nall {len(wanted)} hot loops vectorised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
