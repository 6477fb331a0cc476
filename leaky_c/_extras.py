"""How to install what an optional feature needs, said the same way everywhere.

leaky_c is installed from its source (a clone, or a wheel built from one), not
from PyPI, so ``pip install 'leaky_c[dask]'`` would fail: a hint names the
packages themselves, read from the installed metadata (pyproject.toml's
``[project.optional-dependencies]``, so it cannot drift from it), and the
extra for use from a clone.
"""

from __future__ import annotations

import re
from importlib import metadata

#: PyTorch is not an extra: its default wheels on Linux are CUDA builds of
#: several GB, so users choose their build themselves.
TORCH = ("pip install torch (the CPU-only build: pip install torch --index-url "
         "https://download.pytorch.org/whl/cpu)")


def requirements(extra: str) -> list[str]:
    """The requirements of one of leaky_c's extras, from the installed metadata."""
    try:
        declared = metadata.requires("leaky_c") or []
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return []
    marker = re.compile(r"""\bextra\s*==\s*["']""" + re.escape(extra) + r"""["']""")
    return [req.split(";")[0].strip() for req in declared
            if ";" in req and marker.search(req.split(";", 1)[1])]


def hint(extra: str) -> str:
    """``pip install ...`` for an extra: its packages, and the extra from a clone."""
    packages = " ".join(f"'{req}'" for req in requirements(extra))
    from_clone = f"pip install '.[{extra}]' in leaky_c's source directory"
    return f"pip install {packages}, or {from_clone}" if packages else from_clone
