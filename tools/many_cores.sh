#!/usr/bin/env bash
# Issue 13's many-core table, on a lent 16-core machine (the `device` tool's
# `run`, from the repository root; its image has python3 with PyTorch and
# NumPy but no cffi, and nothing can be fetched there):
#
#   here, once:  echo /.whl/ >> .git/info/exclude
#                python3 -m pip download --no-deps --only-binary=:all: \
#                    --python-version 3.12 --implementation cp \
#                    --platform manylinux_2_17_x86_64 -d .whl cffi pycparser
#   there:       run(command="bash tools/many_cores.sh", carry=[".whl"], timeout_s=420)
#
# It builds leaky_c from this tree into a throwaway folder (no network, no
# build isolation), then prints, and writes to $OUT (or ./many_cores.md):
#   - `pool_targets --table 1 2 4 8 16`: torch/leaky_c, forward into out= and
#     allocating, at 10^5, 10^6, 10^7 and 2^28 float32 elements (about 2 min);
#   - `pool_targets --quick --threads 16`: issue 13's 2-thread targets at 16.
# The thread counts can be given: bash tools/many_cores.sh 1 2 4 8 16
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2 4 8 16)
out="${OUT:-$PWD}/many_cores.md"
site="$work/site"

if ! "$python" -c 'import cffi' 2>/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$root"/.whl/*.whl
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
copy_tree "$work/src"
"$python" -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" "$work/src"
cd "$work"  # import the build, not the tree
{
    echo "# many cores: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
    echo
    "$python" -c 'import leaky_c; leaky_c.show_config()'
    echo
    PYTHONUNBUFFERED=1 "$python" -m leaky_c.benchmarks.pool_targets --table "${threads[@]}"
    echo
    PYTHONUNBUFFERED=1 "$python" -m leaky_c.benchmarks.pool_targets --quick --threads "${threads[-1]}"
} 2>&1 | tee "$out"
