"""Backend and CPU-target selection, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    assert "Until then leaky_c uses its slower NumPy implementation" in result.stderr


def source_tree(root) -> str:
    """A copy of the package's Python files laid out as a source checkout, unbuilt."""
    package = root / "leaky_c"
    package.mkdir(parents=True)
    (root / "csrc").mkdir()
    (root / "setup.py").write_text("")
    here = os.path.dirname(leaky_c.__file__)
    for name in os.listdir(here):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                (package / name).write_bytes(f.read())
    return str(package)


@needs_c
def test_a_source_tree_shadowing_a_built_leaky_c_names_both_and_what_to_do(tmp_path):
    # python run in a clone's root after `pip install .` imports ./leaky_c, unbuilt.
    package = source_tree(tmp_path / "clone")
    result = subprocess.run([sys.executable, "-W", "always", "-c", HIDE_C + "import leaky_c"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path / "clone",
                            env={k: v for k, v in os.environ.items() if k != "LEAKY_C_BACKEND"})
    assert result.returncode == 0, result.stderr
    assert f"leaky_c was imported from the source tree {package}, which has no compiled " \
           "module; it shadows the installed leaky_c in " in result.stderr
    assert "Run Python from another directory, use the leaky-c command, or build the source " \
           "tree in place with `pip install -e .`" in result.stderr


def test_an_unbuilt_source_tree_says_how_to_build_it(tmp_path, monkeypatch):
    package = source_tree(tmp_path / "clone")
    monkeypatch.setattr(_backend, "_installed_elsewhere", lambda here: None)
    missing = ModuleNotFoundError("No module named 'leaky_c._leaky_c'", name="leaky_c._leaky_c")
    message = _backend._not_built(missing, here=Path(package))
    assert message == (f"leaky_c was imported from the source tree {package}, which has not been "
                       f"built: run `pip install -e .` in {tmp_path / 'clone'} (or `pip install .`, "
                       "then use leaky_c from another directory)")


def test_an_install_without_c_says_to_reinstall_with_a_compiler(tmp_path):
    (tmp_path / "leaky_c").mkdir()  # site-packages: no setup.py, no csrc beside it
    missing = ModuleNotFoundError("No module named 'leaky_c._leaky_c'", name="leaky_c._leaky_c")
    message = _backend._not_built(missing, here=tmp_path / "leaky_c")
    assert "was installed without its C kernels (no C compiler at install time?)" in message
    broken = ImportError("undefined symbol: leaky_fwd_f32")
    assert "cannot be imported (undefined symbol: leaky_fwd_f32); reinstall leaky_c" \
        in _backend._not_built(broken, here=tmp_path / "leaky_c")


def test_cffi_backend_raises_when_c_is_missing():
    result = run_python(HIDE_C + "import leaky_c", LEAKY_C_BACKEND="cffi")
    assert result.returncode != 0
    assert "ImportError: LEAKY_C_BACKEND=cffi" in result.stderr
    assert "leaky_c._leaky_c" in result.stderr or "compiled module" in result.stderr


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
