"""``import leaky_c`` stays light: the optional integrations load only when asked for."""

from __future__ import annotations

import subprocess
import sys

OPTIONAL = ("torch", "dask", "distributed", "matplotlib")


def test_import_leaky_c_loads_no_optional_dependency():
    code = ("import sys, leaky_c, leaky_c.demo; "
            f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
