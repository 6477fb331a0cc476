"""Backend and CPU-target selection, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import leaky_c
from leaky_c import _backend

needs_c = pytest.mark.skipif(leaky_c.backend != "cffi", reason="the compiled module is in use only on the cffi backend")

# Makes the compiled module unimportable, as on a machine where the build failed.
HIDE_C = "import sys; sys.modules['leaky_c._leaky_c'] = None; "


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEAKY_C_")}
    environ.update(env)
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                          text=True, env=environ, timeout=120)


@needs_c
def test_default_is_the_c_backend():
    result = run_python("import leaky_c; print(leaky_c.backend)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cffi"
    assert "Warning" not in result.stderr


def test_numpy_backend_on_request():
    result = run_python("import leaky_c; print(leaky_c.backend)", LEAKY_C_BACKEND="numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_unknown_backend_lists_the_valid_ones():
    result = run_python("import leaky_c", LEAKY_C_BACKEND="fortran")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "'fortran'" in result.stderr and "auto, cffi, numpy" in result.stderr


def test_auto_falls_back_with_one_warning_when_c_is_missing():
    code = HIDE_C + "import leaky_c, numpy; print(leaky_c.backend); leaky_c.leaky_relu(numpy.ones(3))"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"
    assert result.stderr.count("RuntimeWarning") == 1
    assert "compiled module cannot be imported" in result.stderr


def test_cffi_backend_raises_when_c_is_missing():
    result = run_python(HIDE_C + "import leaky_c", LEAKY_C_BACKEND="cffi")
    assert result.returncode != 0
    assert "ImportError: LEAKY_C_BACKEND=cffi" in result.stderr
    assert "leaky_c._leaky_c" in result.stderr


@needs_c
def test_disabling_avx512_selects_the_next_target():
    runnable = _backend.runnable_targets()
    if "avx512" not in runnable:
        pytest.skip("this CPU cannot run the avx512 target")
    code = "from leaky_c import _backend; print(_backend.active_target())"
    result = run_python(code, LEAKY_C_DISABLE_CPU_FEATURES="avx512f")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "avx2"
    result = run_python(code, LEAKY_C_DISABLE_CPU_FEATURES="AVX512F, AVX2")
    assert result.stdout.strip() == "baseline"


def test_unknown_cpu_feature_is_an_error():
    result = run_python("import leaky_c", LEAKY_C_DISABLE_CPU_FEATURES="AVX9000")
    if leaky_c.backend == "cffi":
        assert result.returncode != 0
        assert "AVX9000" in result.stderr and "AVX512F" in result.stderr


@needs_c
def test_targets_are_listed_and_forcing_one_restores_the_previous():
    compiled = _backend.compiled_targets()
    assert compiled[0] == "baseline"
    assert set(_backend.runnable_targets()) <= set(compiled)
    before = _backend.active_target()
    with _backend.using_target("baseline"):
        assert _backend.active_target() == "baseline"
    assert _backend.active_target() == before
    with pytest.raises(ValueError, match="cannot run here"):
        _backend.set_target("sse9")


def test_show_config_names_targets_features_kernels_and_threads(capsys):
    leaky_c.show_config()
    text = capsys.readouterr().out
    assert f"leaky_c backend:        {leaky_c.backend}" in text
    for heading in ("compiled targets", "CPU features found", "float32", "float16", "threads",
                    "streaming stores from"):
        assert heading in text
    if leaky_c.backend == "cffi":
        assert f"[{_backend.active_target()}]" in text


@needs_c
def test_python_reads_each_targets_features_from_the_c_table():
    lib = _backend.lib
    features = _backend.TARGET_FEATURES
    assert list(features) == _backend.compiled_targets() and features["baseline"] == ()
    for t, name in enumerate(features):
        assert bool(features[name]) == (name != "baseline"), name
        # What Python reports is exactly what the C checks before running a target.
        has = all(lib.leaky_cpu_has(_backend.KNOWN_FEATURES.index(f)) for f in features[name])
        assert bool(lib.leaky_target_supported(t)) == has, name
    if "avx512" in features:  # the copy-bound kernels that needed DQ left the product
        assert "AVX512F" in features["avx512"] and "AVX512DQ" not in features["avx512"]
