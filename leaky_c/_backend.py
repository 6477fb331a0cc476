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
import warnings
from typing import Any, Iterator

BACKENDS = ("auto", "cffi", "numpy")

def _load() -> tuple[str, Any, Any]:
    choice = os.environ.get("LEAKY_C_BACKEND", "auto").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ImportError(
            f"LEAKY_C_BACKEND={os.environ['LEAKY_C_BACKEND']!r} is not a backend; "
            f"valid values are {', '.join(BACKENDS)}")
    if choice == "numpy":
        return "numpy", None, None
    try:
        from leaky_c._leaky_c import ffi, lib
    except ImportError as exc:
        if choice == "cffi":
            raise ImportError(
                "LEAKY_C_BACKEND=cffi, but the compiled module leaky_c._leaky_c cannot be "
                f"imported ({exc}); reinstall leaky_c where a C compiler is available") from exc
        warnings.warn(
            f"leaky_c: the compiled module cannot be imported ({exc}); using the slower "
            "NumPy implementation. Set LEAKY_C_BACKEND=numpy to choose it explicitly.",
            RuntimeWarning, stacklevel=3)
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
    return ffi.string(pointer).decode()


#: The CPU features the C knows (csrc/cpu.h), in enum order.
KNOWN_FEATURES: tuple[str, ...] = () if lib is None else tuple(
    _c_string(lib.leaky_feature_name(i)) for i in range(lib.leaky_feature_count()))
#: Each compiled target's required CPU features, read from the C's one table
#: (csrc/dispatch.c); disabling any one drops the target.
TARGET_FEATURES: dict[str, tuple[str, ...]] = {} if lib is None else {
    _c_string(lib.leaky_target_name(t)): tuple(
        name for f, name in enumerate(KNOWN_FEATURES) if lib.leaky_target_requires(t, f))
    for t in range(lib.leaky_target_count())}


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
    return compiled_targets()[lib.leaky_get_target()]


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
    set_target(name)
    try:
        yield
    finally:
        lib.leaky_set_target(compiled_targets().index(previous))


if lib is not None:
    set_target(runnable_targets()[-1])
