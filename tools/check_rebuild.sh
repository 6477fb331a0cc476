#!/usr/bin/env bash
# A rebuild honours the compiler and flags it is given: in one tree, install
# with GCC, then CC=clang, then GCC with other LEAKY_C_CFLAGS, each a plain
# `pip install .` over the last, and check after each that the installed
# module says which compiler built it (show_config's "compiled by") and that
# the new flags reached every compile line.  Before setup.py forced the
# rebuild, the Clang install reused the GCC objects in build/ ("up-to-date").
#
#   tools/check_rebuild.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"
need_apt clang clang

copy_tree "$work/src"
"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
pip_install "$py" numpy "cffi>=1.15" "setuptools>=77" wheel

install() {  # install [VAR=value ...]: a verbose reinstall over the last, in the same tree
    (cd "$work/src" && env "$@" LEAKY_C_REQUIRE_C=1 "$py" -m pip install -v --no-deps \
        --no-build-isolation --force-reinstall . >"$work/build.log" 2>&1) \
        || { cat "$work/build.log"; exit 1; }
}

built_by() {  # built_by PREFIX: the installed module's compiler starts with PREFIX
    local compiler
    compiler="$(cd "$work" && "$py" -c 'from leaky_c import _backend; print(_backend.compiler())')"
    echo "   compiled by: $compiler"
    case "$compiler" in "$1"*) ;; *) echo "expected a module built by $1"; exit 1;; esac
}

echo "== pip install . (default compiler)"
install CC=gcc
built_by GCC
echo "== CC=clang pip install . in the same tree"
install CC=clang
built_by Clang
echo "== CC=gcc LEAKY_C_CFLAGS=-DLEAKY_C_REBUILD_CHECK pip install . in the same tree"
install CC=gcc LEAKY_C_CFLAGS=-DLEAKY_C_REBUILD_CHECK
built_by GCC
compiled="$(grep -E ' -c [^ ]*csrc/[a-z_0-9]+\.c' "$work/build.log" | grep -c LEAKY_C_REBUILD_CHECK || true)"
echo "   $compiled C files compiled with the new flag"
[ "$compiled" -ge 9 ] || { echo "the new LEAKY_C_CFLAGS did not reach every C file"; exit 1; }
echo "== rebuilds honour CC and LEAKY_C_CFLAGS"
