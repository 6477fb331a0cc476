"""Everything else is in pyproject.toml; cffi compiles csrc/ at build time.

The build_ext here:
  - always compiles (no stale objects from another compiler or other flags);
  - picks the flags by compiler type (leaky_c/_build.py), per file where a
    file needs its own (MSVC's /arch for the AVX2 and AVX-512 targets);
  - drops the interpreter's -Wl,-rpath from LDSHARED: the module links no
    library of the build machine, and a wheel must not name its paths;
  - when the C cannot be built (no compiler, or it fails), installs the
    package anyway with the NumPy backend and says so, unless
    LEAKY_C_REQUIRE_C=1, which makes that an error (packagers, CI, wheels).
"""

import os
import platform
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "leaky_c"))
import _build  # noqa: E402  (leaky_c/_build.py, without importing the package)

sys.path.pop(0)

REQUIRE_C = os.environ.get("LEAKY_C_REQUIRE_C", "").strip().lower() in ("1", "true", "yes", "on")


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # Always compile.  build_ext skips an extension whose sources are older
        # than the module left in build/ by an earlier install, so `CC=clang pip
        # install .` after a GCC build (or with other LEAKY_C_CFLAGS) would ship
        # the old objects; show_config() says which compiler built the module
        # (tools/check_rebuild.sh checks GCC, then Clang, then GCC in one tree).
        self.force = True

    def build_extensions(self):
        kind = self.compiler.compiler_type
        if kind in _build.GCC_LIKE and getattr(self.compiler, "linker_so", None):
            self.compiler.linker_so = _build.no_rpath(self.compiler.linker_so)
        for ext in self.extensions:
            ext.extra_compile_args = _build.compile_args(kind)
            ext.extra_link_args = _build.link_args(kind)
        super().build_extensions()

    def build_extension(self, ext):
        # Files with flags of their own are compiled first and linked as objects.
        own = _build.source_args(self.compiler.compiler_type)
        special = [s for s in ext.sources if s.replace(os.sep, "/") in own]
        if special:
            for source in special:
                ext.extra_objects = list(ext.extra_objects or []) + self.compiler.compile(
                    [source], output_dir=self.build_temp, macros=ext.define_macros,
                    include_dirs=ext.include_dirs, debug=self.debug,
                    extra_postargs=ext.extra_compile_args + own[source.replace(os.sep, "/")])
            ext.sources = [s for s in ext.sources if s not in special]
        super().build_extension(ext)

    def run(self):
        try:
            super().run()
        except (CCompilerError, BaseError, OSError) as exc:
            if REQUIRE_C:
                raise BaseError(
                    f"leaky_c: building the C kernels failed ({exc}) and LEAKY_C_REQUIRE_C "
                    "is set") from exc
            self.extensions = []  # nothing built, nothing to install or copy
            bar = "*" * 78
            sys.stderr.write(
                f"\n{bar}\nWARNING: leaky_c's C kernels could not be built:\n  {exc}\n"
                "leaky_c is installed with its NumPy backend only (correct, but slower);\n"
                "it warns once at import. Install a C compiler (gcc or clang; MSVC on\n"
                "Windows) and reinstall for the C kernels, or set LEAKY_C_REQUIRE_C=1 to\n"
                f"make this an error.\n{bar}\n\n")


options = {}
# One wheel for every CPython from 3.9 (cp39-abi3): cffi builds the module
# against the limited API.  Not on free-threaded CPython or PyPy, which have
# no stable ABI of that kind (cffi then builds a version-specific module).
if platform.python_implementation() == "CPython" and not sysconfig.get_config_var("Py_GIL_DISABLED"):
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

setup(cffi_modules=["leaky_c/_build.py:ffibuilder"], cmdclass={"build_ext": BuildExt},
      options=options)
