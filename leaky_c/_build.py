"""The cffi builder for leaky_c's C kernels, and the compiler flags.

setup.py names this file in ``cffi_modules``; cffi runs it as a script at build
time, so it imports nothing from the package.  The cdef is csrc/leaky_c_api.h,
read verbatim, so the Python-visible interface and the C agree by construction.

Flags depend on the compiler type (``unix`` and ``mingw32``/``cygwin`` are GCC
or Clang, ``msvc`` is MSVC), not on ``sys.platform``: setup.py's build_ext
asks ``compile_args`` once it knows which compiler it has.  Run as a script
(``python leaky_c/_build.py``, as tools/sanitize.sh does) it builds in place
with the ``unix`` flags.
"""

from __future__ import annotations

import os
import platform
import struct
from typing import Optional

from cffi import FFI  # untyped: pyproject.toml's [tool.mypy] makes it Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
SOURCES = ["blocks.c", "cpu.c", "dispatch.c", "elementwise.c", "strided.c", "prelu.c",
           "threadpool.c", "openmp.c", "target_baseline.c", "target_avx2.c", "target_avx512.c"]
GCC_LIKE = ("unix", "mingw32", "cygwin")


def is_x86(bits: int) -> bool:
    """Whether this interpreter runs on x86 with `bits`-bit pointers."""
    machine = platform.machine().lower()
    return (machine in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86")
            and struct.calcsize("P") * 8 == bits)


def compile_args(compiler_type: str, x86_32: Optional[bool] = None) -> list[str]:
    """Flags for every C file, for a distutils compiler type (and 32-bit x86:
    None means this interpreter's machine)."""
    if compiler_type == "msvc":
        # /DLEAKY_X86_TARGETS: kernels.h enables the avx2 and avx512 targets
        # itself only for GCC and Clang (per-function targets); with MSVC each
        # target file gets its own /arch instead (source_args).  Unverified:
        # nothing here has an MSVC.
        # /std:c11 /experimental:c11atomics: the thread pool uses <stdatomic.h>.
        return ["/O2", "/std:c11", "/experimental:c11atomics"] + (
            ["/DLEAKY_X86_TARGETS=1"] if is_x86(64) else [])
    # -O3: the vectoriser's full cost model (GCC's -O2 skips loops that need an
    # epilogue).
    # -fno-trapping-math: GCC otherwise assumes an FP multiply may trap, sinks
    # the product into a branch and refuses to if-convert the select, so the
    # loops stay scalar below AVX-512.  It changes no value (NaN, -0.0 and inf
    # are exactly as before; Python never unmasks FP traps) and is Clang's
    # default anyway.  Never -ffast-math, which does change values.
    # -Wall -Wextra: the C builds without a warning on GCC and Clang.
    # -std=c11, -pthread: the thread pool uses <stdatomic.h> and pthreads.
    # 32-bit x86: SSE2 arithmetic, as on x86-64.  x87 would quieten a
    # signalling NaN gradient that the backward must pass through as stored.
    # LEAKY_C_CFLAGS adds flags, e.g. for the sanitizer build.
    args = ["-O3", "-std=c11", "-pthread", "-fno-trapping-math", "-Wall", "-Wextra"]
    if is_x86(32) if x86_32 is None else x86_32:
        args += ["-msse2", "-mfpmath=sse"]
    return args + os.environ.get("LEAKY_C_CFLAGS", "").split()


def source_args(compiler_type: str) -> dict[str, list[str]]:
    """Extra flags for single files (relative to the root), for a compiler type."""
    if compiler_type == "msvc" and is_x86(64):
        return {"csrc/target_avx2.c": ["/arch:AVX2"], "csrc/target_avx512.c": ["/arch:AVX512"]}
    return {}


def no_rpath(args: list[str]) -> list[str]:
    """Linker arguments without run-time search paths (the interpreter's
    LDSHARED names its own lib directory; the module links only libc)."""
    return [a for a in args if not a.startswith(("-Wl,-rpath", "-Wl,-R", "-Wl,--enable-new-dtags"))]


def link_args(compiler_type: str) -> list[str]:
    """Linker flags: LEAKY_C_LDFLAGS (GCC and Clang)."""
    if compiler_type in GCC_LIKE:
        return ["-pthread"] + os.environ.get("LEAKY_C_LDFLAGS", "").split()
    return []


with open(os.path.join(CSRC, "leaky_c_api.h")) as header:
    API = header.read()


def make_ffi(root_relative: bool = True) -> FFI:
    """The FFI with its sources, named relative to the root (setup.py) or absolute."""
    ffi = FFI()
    ffi.cdef(API)
    sources = [os.path.join(CSRC, s) for s in SOURCES]
    ffi.set_source(
        "leaky_c._leaky_c",
        '#include <stddef.h>\n#include "leaky_c_api.h"',
        sources=[os.path.relpath(s, ROOT) for s in sources] if root_relative else sources,
        include_dirs=[CSRC],
        extra_compile_args=compile_args("unix"),
        extra_link_args=link_args("unix"),
    )
    return ffi


ffibuilder = make_ffi()

if __name__ == "__main__":
    # In place, into leaky_c/, linked like setup.py's build (no_rpath).
    # Compiled in build/inplace: cffi's setuptools reads the pyproject.toml of
    # the directory it compiles in, and one older than 77 (a venv's own)
    # rejects this project's license string.
    import shutil
    import sysconfig

    cc, ldshared = sysconfig.get_config_vars("CC", "LDSHARED")
    if ldshared and "LDSHARED" not in os.environ:  # as distutils does with $CC
        if os.environ.get("CC") and ldshared.startswith(cc):
            ldshared = os.environ["CC"] + ldshared[len(cc):]
        os.environ["LDSHARED"] = " ".join(no_rpath(ldshared.split()))
    built = make_ffi(root_relative=False).compile(
        tmpdir=os.path.join(ROOT, "build", "inplace"), verbose=True)
    shutil.copy(built, os.path.join(ROOT, "leaky_c", os.path.basename(built)))
