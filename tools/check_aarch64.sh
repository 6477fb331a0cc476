#!/usr/bin/env bash
# The kernels' C test driver (tests/c/test_kernels.c) with every csrc/ file:
#   - built natively with ${CC:-cc} and run on every target this CPU has;
#   - on x86-64, also built for 32-bit x86 (i686-linux-gnu-gcc, static, with
#     _build.py's SSE2 math flags) and run;
#   - cross-compiled with aarch64-linux-gnu-gcc (static) and run under
#     qemu-aarch64.
# The flags are the build's own (leaky_c/_build.py, read with
# ${PYTHON:-python3}, which needs cffi) plus -Werror.  Installs the Debian
# packages if absent (the i686 and aarch64 cross compilers).  About a minute.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"
need_apt aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross
need_apt qemu-aarch64 qemu-user

build_flags() {  # build_flags X86_32: the build's flags, as a Python bool
    (cd "$root/leaky_c" && "$python" -c \
        "import _build; print(' '.join(_build.compile_args('unix', x86_32=$1)))")
}
read -r -a flags <<<"$(build_flags None)"
flags+=(-Werror -I"$root/csrc")
sources=("$root"/csrc/*.c "$root/tests/c/test_kernels.c")

echo "== native: $(${CC:-cc} --version | head -1), ${flags[*]}"
${CC:-cc} "${flags[@]}" "${sources[@]}" -lm -o "$work/test_kernels"
"$work/test_kernels"

if [ "$(uname -m)" = x86_64 ]; then
    # Debian's cross compiler, not gcc -m32: gcc-multilib conflicts with
    # gcc-aarch64-linux-gnu, so installing one removes the other.
    need_apt i686-linux-gnu-gcc gcc-i686-linux-gnu libc6-dev-i386-cross
    read -r -a flags32 <<<"$(build_flags True)"
    flags32+=(-Werror -I"$root/csrc")
    echo "== i686: $(i686-linux-gnu-gcc --version | head -1), ${flags32[*]}, static"
    i686-linux-gnu-gcc "${flags32[@]}" -static "${sources[@]}" -lm -o "$work/test_kernels_i686"
    "$work/test_kernels_i686"
fi

echo "== aarch64: $(aarch64-linux-gnu-gcc --version | head -1), under $(qemu-aarch64 --version | head -1)"
aarch64-linux-gnu-gcc "${flags[@]}" -static "${sources[@]}" -lm -o "$work/test_kernels_aarch64"
echo "   NEON: $(aarch64-linux-gnu-gcc "${flags[@]}" -fopt-info-vec-optimized -c \
    "$root/csrc/target_baseline.c" -o /dev/null 2>&1 | grep -c 'loop vectorized using 16 byte vectors') \
loops in target_baseline.c vectorised with 16-byte vectors"
time qemu-aarch64 "$work/test_kernels_aarch64"
