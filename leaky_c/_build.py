"""The cffi builder for leaky_c's C kernels.

setup.py names this file in ``cffi_modules``; cffi runs it as a script at build
time, so it imports nothing from the package.  The cdef is csrc/leaky_c_api.h,
read verbatim, so the Python-visible interface and the C agree by construction.
"""

import os
import sys

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
SOURCES = ["dispatch.c", "elementwise.c", "strided.c", "prelu.c", "threadpool.c",
           "target_baseline.c", "target_avx2.c", "target_avx512.c"]


def _compile_args():
    if sys.platform == "win32":
        return ["/O2"]
    # -O3: the vectoriser's full cost model (GCC's -O2 skips loops that need an
    # epilogue).
    # -fno-trapping-math: GCC otherwise assumes an FP multiply may trap, sinks
    # the product into a branch and refuses to if-convert the select, so the
    # loops stay scalar below AVX-512.  It changes no value (NaN, -0.0 and inf
    # are exactly as before; Python never unmasks FP traps) and is Clang's
    # default anyway.  Never -ffast-math, which does change values.
    # -std=c11: the thread pool uses <stdatomic.h>.
    # LEAKY_C_CFLAGS adds flags, e.g. for the sanitizer build.
    return ["-O3", "-std=c11", "-pthread", "-fno-trapping-math"] + os.environ.get("LEAKY_C_CFLAGS", "").split()


with open(os.path.join(CSRC, "leaky_c_api.h")) as header:
    API = header.read()

ffibuilder = FFI()
ffibuilder.cdef(API)
ffibuilder.set_source(
    "leaky_c._leaky_c",
    '#include <stddef.h>\n#include "leaky_c_api.h"',
    sources=[os.path.relpath(os.path.join(CSRC, s), ROOT) for s in SOURCES],
    include_dirs=[CSRC],
    extra_compile_args=_compile_args(),
    extra_link_args=([] if sys.platform == "win32" else ["-pthread"])
    + os.environ.get("LEAKY_C_LDFLAGS", "").split(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
