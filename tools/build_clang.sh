#!/usr/bin/env bash
# The C built with Clang (CC=clang, -Werror: not one warning) into a throwaway
# virtual environment, and the whole test suite run against it.
#
#   tools/build_clang.sh [pytest arguments]
#
# Installs Debian's clang if there is none.  Uses python3 (or $PYTHON) to make
# the environment; pip fetches the build and test dependencies from its index.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"
need_apt clang clang

echo "== $(clang --version | head -1)"
copy_tree "$work/src"
"$python" -m venv "$work/venv"
# -v shows the compiler lines; LEAKY_C_REQUIRE_C: a failed build is an error,
# not the NumPy fallback.
CC=clang LEAKY_C_CFLAGS=-Werror LEAKY_C_REQUIRE_C=1 \
    "$work/venv/bin/python" -m pip install -v "$work/src[test,bfloat16,demo]" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
grep -E '^ *clang .* -c ' "$work/build.log" | sed 's/ -I[^ ]*//g; s/^ */   /' | head -3
echo "   ... $(grep -cE '^ *clang .* -c ' "$work/build.log") files compiled by clang," \
     "$(grep -cE 'warning:.*\[-W' "$work/build.log" || true) compiler warnings"
module="$(cd "$work" && "$work/venv/bin/python" -c 'import leaky_c._leaky_c as m; print(m.__file__)')"
readelf -p .comment "$module" | grep clang >/dev/null || { echo "$module was not built by clang"; exit 1; }
run_suite "$work/venv/bin/python" "$@"
