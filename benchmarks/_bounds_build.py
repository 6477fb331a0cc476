"""The copy-bound module (``bounds.c``): compiled on demand, for the benchmark only.

Why on demand rather than at install time: the bound is no part of leaky_c,
and an install must not need it.  The first ``python -m leaky_c bench`` that
times the bound compiles ``bounds.c`` with cffi (a second of the C compiler)
into a cache directory, and every later run imports the compiled module from
there.  The directory is ``$LEAKY_C_BENCH_CACHE`` if set, else
``$XDG_CACHE_HOME/leaky_c`` or ``~/.cache/leaky_c``; the module's name carries a
hash of the C source, the cdef and the Python build, so an edited ``bounds.c``
or another interpreter gets its own build.  Without a C compiler (or any other
build failure) :func:`load` returns None and a one-line reason, and the bench
skips the bound columns with that note.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Optional

SOURCE = Path(__file__).with_name("bounds.c")
CDEF = """
int bounds_streaming(void);
void bounds_copy(const unsigned char *src, unsigned char *dst, size_t nbytes, int stream,
                 int threads);
void bounds_copy2(const unsigned char *a, const unsigned char *b, unsigned char *dst,
                  size_t nbytes, int stream, int threads);
"""
_loaded: Optional[tuple[Optional[ModuleType], str]] = None


def cache_dir() -> Path:
    """Where the compiled module is kept."""
    if os.environ.get("LEAKY_C_BENCH_CACHE"):
        return Path(os.environ["LEAKY_C_BENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leaky_c"


def module_name() -> str:
    """_leaky_c_bounds_<hash of the source, the cdef and this Python's ABI>."""
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), CDEF.encode(), sys.version.encode(),
                 str(sysconfig.get_config_var("EXT_SUFFIX")).encode()):
        key.update(part)
    return f"_leaky_c_bounds_{key.hexdigest()[:12]}"


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(name: str, directory: Path) -> Path:
    """Compile into a fresh temporary directory, then move the library into place."""
    import cffi

    directory.mkdir(parents=True, exist_ok=True)
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    args = [] if sys.platform == "win32" else ["-O3", "-pthread"]
    ffi.set_source(name, SOURCE.read_text(), extra_compile_args=args,
                   extra_link_args=[] if sys.platform == "win32" else ["-pthread"])
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        built = Path(ffi.compile(tmpdir=tmp, verbose=False))
        target = directory / built.name
        os.replace(built, target)  # atomic: a concurrent run sees all of it or none
    return target


def load() -> tuple[Optional[ModuleType], str]:
    """(the compiled module, how it was found) or (None, why the bound is skipped)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    try:
        name = module_name()
        directory = cache_dir()
        found = sorted(directory.glob(name + ".*")) if directory.is_dir() else []
        found = [p for p in found if p.suffix in (".so", ".pyd", ".dylib")]
        if found:
            _loaded = (_import(name, found[0]), f"cached in {found[0]}")
        elif shutil.which(os.environ.get("CC", "cc")) is None and sys.platform != "win32" \
                and shutil.which("gcc") is None and shutil.which("clang") is None:
            _loaded = (None, "skipped: the copy bound is compiled on first use, and no C "
                             "compiler was found (install gcc or clang)")
        else:
            path = _build(name, directory)
            _loaded = (_import(name, path), f"compiled into {path}")
    except Exception as exc:  # any build or import failure: skip the bound, say why
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        _loaded = (None, f"skipped: the copy bound could not be compiled "
                         f"({type(exc).__name__}: {reason[:200]})")
    return _loaded
