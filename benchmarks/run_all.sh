#!/bin/sh
# Regenerate the measurements behind benchmarks/RESULTS.md:
#   1. --full in float32 (10 to 2^28 elements, every case, the thread scaling,
#      the comparisons beyond the sweep and the CNN block) at 1 thread and all
#      cores, with the plot benchmarks/results_float32.png;
#   2. the default sizes and every case for float64 and for float16.
# About 30 minutes on the 2-core development machine (np.where on 2^28
# elements takes ~3 s a call, torch.compile of the CNN block a minute or more).  Run it
# on a quiet machine: the load average is recorded in each header.
#
# Usage: benchmarks/run_all.sh [OUTPUT_DIR]     (default: /tmp/leaky_c_bench)
#        PYTHON=/path/to/python benchmarks/run_all.sh
# Each run writes NAME.txt (the printed tables), NAME.json (every raw timing)
# and NAME.md (the summary tables pasted into RESULTS.md).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/leaky_c_bench}
python=${PYTHON:-python3}
mkdir -p "$out"

bench() {
    name=$1
    shift
    echo "$(date -u +%H:%M:%S) $name: $python -m leaky_c bench $*" >&2
    "$python" -m leaky_c bench "$@" --json "$out/$name.json" --markdown "$out/$name.md" \
        > "$out/$name.txt"
}

bench float32_full --full --min-time 0.1 --dtypes float32 --threads 1 all --plot "$here/results_float32.png"
bench float64 --dtypes float64 --threads 1 all --cases all
bench float16 --dtypes float16 --threads 1 all --cases all
echo "$(date -u +%H:%M:%S) done: $out" >&2
