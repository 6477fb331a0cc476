#!/usr/bin/env bash
# Windows x86-64: every csrc/ file cross-built with MinGW-w64, by GCC and by
# Clang targeting MinGW, with the build's own flags (leaky_c/_build.py, read
# with ${PYTHON:-python3}, which needs cffi) plus -Wpedantic -Werror, and run
# under wine:
#   - tests/c/test_kernels.c: every target's kernels and dtypes, bit for bit;
#   - tests/c/test_threadpool.c: the pool's Win32 branch (SRW locks, condition
#     variables, the performance-counter spin clock): splits over 1-16
#     threads, concurrent callers while the thread count changes, a watchdog,
#     the CPU spent spinning after a call, and mapped() (QueryWorkingSetEx).
# The pool test also runs natively first, as the Linux figure to compare.
# Installs Debian's MinGW-w64 GCC (win32 threads: the pool uses Win32's own)
# and wine64 if absent.  About a minute (apt included: see README).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"
wine="$(command -v wine64 || echo /usr/lib/wine/wine64)"  # Debian's is not on PATH
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x "$wine" ]; then
    apt_install --no-install-recommends gcc-mingw-w64-x86-64-win32 wine64
fi

read -r -a flags <<<"$(cd "$root/leaky_c" && "$python" -c \
    "import _build; print(' '.join(_build.compile_args('mingw32', x86_32=False)))")"
flags+=(-Wpedantic -Werror -I"$root/csrc")
kernel_sources=("$root"/csrc/*.c "$root/tests/c/test_kernels.c")
# The pool test includes csrc/elementwise.c itself (for the static mapped()).
pool_sources=()
for f in "$root"/csrc/*.c; do
    [ "$(basename "$f")" = elementwise.c ] || pool_sources+=("$f")
done
pool_sources+=("$root/tests/c/test_threadpool.c")

echo "== natively: gcc, the pool test"
gcc "${flags[@]}" "${pool_sources[@]}" -lm -o "$work/test_threadpool"
"$work/test_threadpool" 2000

export WINEPREFIX="$work/wine" WINEDEBUG=-all
trap '"$(dirname "$wine")/wineserver" -k 2>/dev/null || true; rm -rf "$work"' EXIT
echo "== under $("$wine" --version)"
"$wine" cmd /c exit 2>/dev/null || true  # creates the prefix (~10 s) outside the timings below

libgcc="$(dirname "$(x86_64-w64-mingw32-gcc -print-libgcc-file-name)")"
compilers=("x86_64-w64-mingw32-gcc" "clang --target=x86_64-w64-mingw32 -L$libgcc")
for cc in "${compilers[@]}"; do
    read -r -a cc_words <<<"$cc"
    echo "== $($cc --version | head -1): ${flags[*]}"
    "${cc_words[@]}" "${flags[@]}" "${kernel_sources[@]}" -o "$work/test_kernels.exe"
    "${cc_words[@]}" "${flags[@]}" "${pool_sources[@]}" -o "$work/test_threadpool.exe"
    (cd "$work" && "$wine" ./test_kernels.exe && "$wine" ./test_threadpool.exe 2000)
done
