"""Which backend serves calls, and which compiled CPU target the C uses.

Environment variables, read once at import:

``LEAKY_C_BACKEND``
    ``auto`` (default): the compiled C kernels, or the NumPy reference with one
    warning if they cannot be imported.  ``cffi``: the C kernels or an
    ImportError that names the cause.  ``numpy``: the NumPy reference.
``LEAKY_C_DISABLE_CPU_FEATURES``
    Comma- or space-separated CPU features to treat as absent, e.g.
    ``AVX512F`` (drops the avx512 target) or ``AVX2,AVX512F`` (baseline only).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES, PathFinder
from pathlib import Path
from typing import Any, Iterator

BACKENDS = ("auto", "cffi", "numpy")

def _installed_elsewhere(here: Path) -> Path | None:
    """Another importable leaky_c directory, one that holds a compiled module: on
    sys.path, or where an import hook (an editable install's) would find it."""
    specs = [PathFinder.find_spec("leaky_c", [entry]) for entry in sys.path]
    for finder in sys.meta_path:
        if finder is not PathFinder and hasattr(finder, "find_spec"):
            with contextlib.suppress(Exception):
                specs.append(finder.find_spec("leaky_c", None))
    for spec in specs:
        for location in (spec and spec.submodule_search_locations) or ():
            candidate = Path(location).resolve()
            if candidate != here and any(
                    candidate.glob(f"_leaky_c{suffix}") for suffix in EXTENSION_SUFFIXES):
                return candidate
    return None


def _not_built(exc: ImportError, here: Path = Path(__file__).resolve().parent) -> str:
    """Why the compiled module of the leaky_c in `here` is missing, and what to do."""
    root = here.parent
    if not isinstance(exc, ModuleNotFoundError) or exc.name != "leaky_c._leaky_c":
        return (f"leaky_c's compiled module in {here} cannot be imported ({exc}); "
                "reinstall leaky_c (pip install -v shows the build)")
    if (root / "setup.py").is_file() and (root / "csrc").is_dir():  # a source checkout
        installed = _installed_elsewhere(here)
        if installed is not None:
            return (f"leaky_c was imported from the source tree {here}, which has no compiled "
                    f"module; it shadows the installed leaky_c in {installed} because the "
                    "current directory (or PYTHONPATH) comes first on sys.path. Run Python from "
                    f"another directory, use the leaky-c command, or build the source tree in "
                    f"place with `pip install -e .` in {root}")
        return (f"leaky_c was imported from the source tree {here}, which has not been built: "
                f"run `pip install -e .` in {root} (or `pip install .`, then use leaky_c from "
                "another directory)")
    return (f"leaky_c in {here} was installed without its C kernels (no C compiler at install "
            "time?): install a C compiler and reinstall (pip install -v shows the build)")


def _user_stacklevel() -> int:
    """warn()'s stacklevel, from its caller, of the first frame outside leaky_c: the
    user's import, however deep in the package it happened (warn() itself skips
    importlib's frames, so they are not counted)."""
    package = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None:
        frame = frame.f_back
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:
            continue
        level += 1
        if not os.path.abspath(name).startswith(package + os.sep):
            break
    return level


def _load() -> tuple[str, Any, Any]:
    choice = os.environ.get("LEAKY_C_BACKEND", "auto").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ImportError(
            f"LEAKY_C_BACKEND={os.environ['LEAKY_C_BACKEND']!r} is not a backend; "
            f"valid values are {', '.join(BACKENDS)}")
    if choice == "numpy":
        return "numpy", None, None
    try:
        # cffi's compiled module has no stubs: ffi and lib are Any, here and everywhere.
        from leaky_c._leaky_c import ffi, lib  # type: ignore[import-not-found]
    except ImportError as exc:
        if choice == "cffi":
            raise ImportError(f"LEAKY_C_BACKEND=cffi, but {_not_built(exc)}") from exc
        warnings.warn(
            f"{_not_built(exc)}. Until then leaky_c uses its slower NumPy "
            "implementation (LEAKY_C_BACKEND=numpy chooses it without this warning).",
            RuntimeWarning, stacklevel=_user_stacklevel())
        return "numpy", None, None
    return "cffi", ffi, lib


def disabled_features() -> frozenset[str]:
    """The features named in LEAKY_C_DISABLE_CPU_FEATURES (ImportError on unknown ones)."""
    raw = os.environ.get("LEAKY_C_DISABLE_CPU_FEATURES", "")
    names = {name.upper() for name in re.split(r"[,\s]+", raw) if name}
    if lib is None:  # no C, no features: nothing to disable
        return frozenset(names)
    unknown = sorted(names.difference(KNOWN_FEATURES))
    if unknown:
        raise ImportError(
            f"LEAKY_C_DISABLE_CPU_FEATURES names unknown features {', '.join(unknown)}; "
            f"known features are {', '.join(KNOWN_FEATURES)}")
    return frozenset(names)


backend, ffi, lib = _load()


def _c_string(pointer: Any) -> str:
    return str(ffi.string(pointer).decode())


#: The CPU features the C knows (csrc/cpu.h), in enum order.
KNOWN_FEATURES: tuple[str, ...] = () if lib is None else tuple(
    _c_string(lib.leaky_feature_name(i)) for i in range(lib.leaky_feature_count()))
#: Each compiled target's required CPU features, read from the C's one table
#: (csrc/dispatch.c); disabling any one drops the target.
TARGET_FEATURES: dict[str, tuple[str, ...]] = {} if lib is None else {
    _c_string(lib.leaky_target_name(t)): tuple(
        name for f, name in enumerate(KNOWN_FEATURES) if lib.leaky_target_requires(t, f))
    for t in range(lib.leaky_target_count())}


def compiler() -> str | None:
    """The compiler that built the C module ("GCC 12.2.0", ...; None on the NumPy backend)."""
    return None if lib is None else _c_string(lib.leaky_compiler()).strip()


def compiled_targets() -> list[str]:
    """Names of the CPU targets compiled into the C module, portable first."""
    if lib is None:
        return []
    return list(TARGET_FEATURES)


def runnable_targets() -> list[str]:
    """Compiled targets this CPU can run and the user has not disabled."""
    if lib is None:
        return []
    off = disabled_features()
    return [name for i, name in enumerate(compiled_targets())
            if lib.leaky_target_supported(i) and off.isdisjoint(TARGET_FEATURES[name])]


def cpu_features() -> list[str]:
    """CPU features the C module detected on this machine."""
    if lib is None:
        return []
    return [name for i, name in enumerate(KNOWN_FEATURES) if lib.leaky_cpu_has(i)]


def active_target() -> str | None:
    """The target whose kernels serve calls now (None on the NumPy backend)."""
    if lib is None:
        return None
    return compiled_targets()[int(lib.leaky_get_target())]


def set_target(name: str) -> None:
    """Make the named compiled target serve calls (ValueError if it cannot run here)."""
    runnable = runnable_targets()
    if name not in runnable:
        raise ValueError(f"target {name!r} cannot run here; runnable targets: {', '.join(runnable)}")
    lib.leaky_set_target(compiled_targets().index(name))


@contextlib.contextmanager
def using_target(name: str) -> Iterator[None]:
    """Run a block on one target, restoring the previous one afterwards (for tests)."""
    previous = active_target()
    set_target(name)  # raises on the NumPy backend, so previous is a target's name
    assert previous is not None
    try:
        yield
    finally:
        lib.leaky_set_target(compiled_targets().index(previous))


if lib is not None:
    set_target(runnable_targets()[-1])
