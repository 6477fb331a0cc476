#!/usr/bin/env bash
# The test suite against a build of the C with AddressSanitizer and
# UndefinedBehaviorSanitizer, or with ThreadSanitizer; fails on any report.
#
#   tools/sanitize.sh [pytest arguments]            ASan + UBSan, the whole suite
#   tools/sanitize.sh --thread [pytest arguments]   TSan; by default the thread,
#                                                   concurrency and OpenMP-team tests
#
# Uses the current `python` (it needs numpy, cffi, pytest and hypothesis: the
# test extra).  The C is built into a throwaway copy of the working tree
# (tracked and untracked, not ignored, files) under /tmp, so the in-tree
# module of an editable install is never touched, and the tests run from that
# copy, where `import leaky_c` finds the sanitizer build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python}"
mode=address
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=all"
if [[ "${1:-}" == "--thread" ]]; then
    mode=thread
    sanitizers="-fsanitize=thread"
    shift
    # The thread, concurrency and OpenMP-team tests, unless the arguments name
    # tests.  (The fork tests skip themselves: TSan cannot start threads in a
    # forked child.)
    [[ " $* " == *" tests/"* ]] \
        || set -- tests/test_threads.py tests/test_concurrency.py tests/test_openmp.py "$@"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/leaky_c_sanitize.XXXXXX")"
trap 'rm -rf "$work"' EXIT
git -C "$root" ls-files -z --cached --others --exclude-standard \
    | (cd "$root" && tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) \
    | tar -C "$work" -xf -
# An install maps leaky_c.benchmarks to benchmarks/ (pyproject.toml); so does this link.
ln -s ../benchmarks "$work/leaky_c/benchmarks"

# -fno-wrapv: CPython's CFLAGS carry -fwrapv, which defines signed overflow
# and so hides it from UBSan; the kernels must not rely on it.
echo "== building the C with $sanitizers into $work"
(cd "$work" && LEAKY_C_CFLAGS="$sanitizers -fno-wrapv -fno-omit-frame-pointer -g" \
    LEAKY_C_LDFLAGS="$sanitizers" "$python" leaky_c/_build.py >"$work/build.log" 2>&1) \
    || { cat "$work/build.log"; exit 1; }

# Python itself is not instrumented: the sanitizer runtimes are preloaded.
if [[ $mode == thread ]]; then
    # TSan sees the accesses of the instrumented C and every lock and thread
    # through its interceptors (CPython's GIL included), so a report is about
    # leaky_c's C; none is suppressed.  halt_on_error: the first report ends
    # the process with exit code 66, so the run fails; the tests'
    # subprocesses inherit all this and fail the same way.
    export LD_PRELOAD="$(gcc -print-file-name=libtsan.so)"
    export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1"
    export LEAKY_C_TSAN=1
else
    # detect_leaks=0: CPython keeps memory to exit by design, which
    # LeakSanitizer would report.  Any other report aborts the process: the
    # run fails.
    export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
export LEAKY_C_BACKEND=cffi LEAKY_C_SANITIZER=1 PYTHONDONTWRITEBYTECODE=1
cd "$work"
"$python" - "$work" <<'EOF'
import os, sys
import leaky_c
where = os.path.dirname(leaky_c.__file__)
assert where == os.path.join(sys.argv[1], "leaky_c"), f"leaky_c imported from {where}"
assert leaky_c.backend == "cffi", leaky_c.backend
print(f"== testing leaky_c from {where} (backend {leaky_c.backend})")
EOF
# --capture=sys: a report goes to file descriptor 2 just before the abort;
# fd-level capture would swallow it with the dying process.
"$python" -m pytest -p no:cacheprovider --capture=sys "$@"
