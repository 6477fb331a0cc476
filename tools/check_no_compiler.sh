#!/usr/bin/env bash
# `pip install .` where there is no C compiler: a PATH with python and
# nothing else, CC unset.
#   - it succeeds, prints the warning, and leaky_c runs on the NumPy backend
#     with one RuntimeWarning at import;
#   - with LEAKY_C_REQUIRE_C=1 it fails, naming the variable.
# Uses python3 (or $PYTHON); pip fetches the build dependencies (setuptools,
# cffi: wheels, no compiler needed) from its index.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python="${PYTHON:-python3}"

copy_tree "$work/src"
"$python" -m venv "$work/venv"
nocc=(env -u CC -u LDSHARED PATH="$work/venv/bin")
for cc in gcc cc clang; do
    if "${nocc[@]}" sh -c "command -v $cc" >/dev/null 2>&1; then echo "$cc is on the PATH"; exit 1; fi
done

echo "== pip install . with PATH=$work/venv/bin (no compiler)"
"${nocc[@]}" "$work/venv/bin/python" -m pip install -v "$work/src" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; echo "FAIL: the install failed without a compiler"; exit 1; }
grep -A5 "WARNING: leaky_c's C kernels could not be built" "$work/install.log" | sed 's/^ */   /' \
    || { cat "$work/install.log"; echo "FAIL: no warning at install"; exit 1; }
echo "   pip install: $(tail -1 "$work/install.log")"
(cd "$work" && "$work/venv/bin/python" - <<'PY'
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np
    import leaky_c
    import leaky_c._api, leaky_c._backend  # noqa: F401  (already imported: no second warning)
    y = leaky_c.leaky_relu(np.array([-2.0, 3.0]), 0.5)
runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
assert leaky_c.backend == "numpy", leaky_c.backend
assert len(runtime) == 1 and "NumPy implementation" in str(runtime[0].message), runtime
assert y.tolist() == [-1.0, 3.0], y
print(f"   import: backend {leaky_c.backend!r}, one RuntimeWarning: {runtime[0].message}")
PY
)

echo "== the same with LEAKY_C_REQUIRE_C=1"
"$work/venv/bin/python" -m pip uninstall -q -y leaky_c
if "${nocc[@]}" LEAKY_C_REQUIRE_C=1 "$work/venv/bin/python" -m pip install -v "$work/src" \
        >"$work/require.log" 2>&1; then
    cat "$work/require.log"; echo "FAIL: LEAKY_C_REQUIRE_C=1 installed without the C"; exit 1
fi
grep -m1 -o "error: leaky_c: building the C kernels failed.*" "$work/require.log" | sed 's/^/   /' \
    || { cat "$work/require.log"; echo "FAIL: the error does not name LEAKY_C_REQUIRE_C"; exit 1; }
echo "   pip install: exit status non-zero, as required"
