"""Packaging: CPU detection against the kernel's view, the built module's link,
the flags per compiler type, and the license metadata.

The slow checks (a Clang build, the abi3 wheel on other Pythons, the install
without a compiler, aarch64) are scripts in tools/; see the README's
"Platforms and wheels".
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys

import pytest

import leaky_c
from leaky_c import _backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

#: /proc/cpuinfo's flag for each feature csrc/cpu.c detects on x86.
CPUINFO_FLAGS = {"SSE2": "sse2", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c",
                 "AVX512F": "avx512f", "AVX512BW": "avx512bw", "AVX512VL": "avx512vl",
                 "AVX512_BF16": "avx512_bf16", "AVX512_FP16": "avx512_fp16"}


@pytest.mark.skipif(not (sys.platform.startswith("linux") and X86),
                    reason="needs Linux /proc/cpuinfo on x86")
def test_cpu_features_match_the_kernels_cpuinfo_flags():
    # Linux lists a feature only where the CPU has it and the OS enabled its
    # register state: the same two conditions cpuid + xgetbv check.
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    expected = [name for name in _backend.KNOWN_FEATURES
                if name in CPUINFO_FLAGS and CPUINFO_FLAGS[name] in flags]
    assert _backend.cpu_features() == expected
    assert "NEON" not in _backend.cpu_features()


def test_every_compiled_target_whose_features_the_cpu_has_is_runnable(monkeypatch):
    monkeypatch.delenv("LEAKY_C_DISABLE_CPU_FEATURES", raising=False)
    have = set(_backend.cpu_features())
    for name in _backend.compiled_targets():
        runs = name in _backend.runnable_targets()
        assert runs == have.issuperset(_backend.TARGET_FEATURES[name]), name


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                    reason="needs Linux and readelf (binutils)")
def test_the_module_names_no_build_machine_path():
    # setup.py strips the interpreter's -Wl,-rpath from LDSHARED.
    from leaky_c import _leaky_c
    dynamic = subprocess.run(["readelf", "-d", _leaky_c.__file__], capture_output=True,
                             text=True, check=True).stdout
    paths = [line for line in dynamic.splitlines() if "(RPATH)" in line or "(RUNPATH)" in line]
    assert all("$ORIGIN" in line for line in paths), paths


def _build_module():
    spec = importlib.util.spec_from_file_location("leaky_c_build",
                                                  os.path.join(ROOT, "leaky_c", "_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flags_follow_the_compiler_type_not_the_platform(monkeypatch):
    monkeypatch.delenv("LEAKY_C_CFLAGS", raising=False)
    build = _build_module()
    for kind in ("unix", "mingw32", "cygwin"):
        args = build.compile_args(kind)
        assert {"-O3", "-std=c11", "-pthread", "-fno-trapping-math", "-Wall", "-Wextra"} <= set(args), kind
        assert "-ffast-math" not in args
        assert build.source_args(kind) == {}
    assert build.compile_args("unix", x86_32=True)[-2:] == ["-msse2", "-mfpmath=sse"]
    assert "-msse2" not in build.compile_args("unix", x86_32=False)
    msvc = build.compile_args("msvc")
    assert msvc[0] == "/O2" and not any(a.startswith("-") for a in msvc)
    if build.is_x86(64):
        assert build.source_args("msvc") == {"csrc/target_avx2.c": ["/arch:AVX2"],
                                              "csrc/target_avx512.c": ["/arch:AVX512"]}
    monkeypatch.setenv("LEAKY_C_CFLAGS", "-g -DX=1")
    assert build.compile_args("unix")[-2:] == ["-g", "-DX=1"]


def test_license_metadata_is_the_spdx_expression():
    meta = importlib.metadata.metadata("leaky_c")
    if meta.get("Metadata-Version", "") < "2.4":
        pytest.skip(f"leaky_c was installed with metadata {meta.get('Metadata-Version')}: "
                    "reinstall (pip install -e .) with setuptools>=77")
    assert meta["License-Expression"] == "MIT"
    assert leaky_c.__version__ == meta["Version"]


def test_install_hints_name_the_packages_of_the_extra_from_the_metadata():
    from leaky_c import _extras

    tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11's "
                                                    "tomllib (pip install on 3.11+)")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        declared = tomllib.load(f)["project"]["optional-dependencies"]
    for extra in ("dask", "demo", "bfloat16"):
        assert _extras.requirements(extra) == declared[extra]
    packages = " ".join(f"'{req}'" for req in declared["dask"])
    assert _extras.hint("dask") == (f"pip install {packages}, or pip install '.[dask]' in "
                                    "leaky_c's source directory")
    assert "leaky_c[" not in _extras.hint("dask")  # leaky_c is not on PyPI


def test_show_config_names_the_compiler_that_built_the_module():
    compiler = _backend.compiler()
    if leaky_c.backend != "cffi":
        assert compiler is None
        return
    module = importlib.util.find_spec("leaky_c._leaky_c").origin
    with open(module, "rb") as f:
        comment = f.read()  # GCC and Clang record themselves in .comment
    family, version = compiler.split(" ", 1)
    assert family in ("GCC", "Clang") and version[0].isdigit()
    assert version.split()[0].encode() in comment


def test_the_version_is_written_once_and_the_project_files_agree():
    assert importlib.metadata.version("leaky_c") == leaky_c.__version__
    with open(os.path.join(ROOT, "CITATION.cff")) as f:
        assert f"\nversion: {leaky_c.__version__}\n" in f.read()
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        releases = [line for line in f if line.startswith("## [") and "Unreleased" not in line]
    assert releases[0].startswith(f"## [{leaky_c.__version__}] - ")
