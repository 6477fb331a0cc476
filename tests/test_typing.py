"""The public API's types: ``mypy --strict`` passes on the package and on typical user
code (tests/typing/), whose ``assert_type`` calls state each documented result type,
and fails on code that misuses a result, so the check cannot pass vacuously.  The
user code also runs, so each stated type is checked against the value returned."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
#: leaky_c's modules that import PyTorch: checked, with their user code, where it is installed.
TORCH_FILES = ("leaky_c/torch.py", "leaky_c/_torch_ops.py", "tests/typing/user_code_torch.py")
HAS_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_MYPY = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="the typing checks need mypy: pip install mypy "
                                       "(or pip install '.[typing]' in leaky_c's source directory)")
#: The stated types need NumPy's shape-typed stubs (np.zeros(3): ndarray[tuple[int], ...]).
NEEDS_SHAPE_TYPES = pytest.mark.skipif(
    tuple(int(part) for part in np.__version__.split(".")[:2]) < (2, 4),
    reason=f"the stated types need NumPy >= 2.4's stubs (here {np.__version__}): "
           "pip install 'numpy>=2.4'")
NEEDS_ASSERT_TYPE = pytest.mark.skipif(
    sys.version_info < (3, 11) and importlib.util.find_spec("typing_extensions") is None,
    reason="assert_type before Python 3.11 needs pip install typing_extensions")

#: Misuses of the API, one a line, each of which mypy --strict must report.
WRONG = textwrap.dedent("""\
    import numpy as np
    from numpy.typing import NDArray
    from typing import assert_type
    import leaky_c
    x = np.zeros(3, np.float32)
    leaky_c.leaky_relu(x).foo_bar()
    assert_type(leaky_c.leaky_relu(x), NDArray[np.float64])
    assert_type(leaky_c.leaky_relu(1.0), float)
    leaky_c.leaky_relu(x, "0.1")
    leaky_c.leaky_relu(x, out=[0.0, 0.0, 0.0])
    leaky_c.prelu_backward(x, x, 0.25)[0].foo_bar()
    leaky_c.leaky_relu_backward(x, x, negative_slope=None)
    leaky_c.set_num_threads(2.0)
    """)
FIRST_WRONG_LINE = 6


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float, Path]:
    """One mypy --strict run over the package, tests/typing/ and WRONG: (output, seconds, WRONG's path)."""
    tmp = tmp_path_factory.mktemp("mypy")
    wrong = tmp / "wrong_user_code.py"
    wrong.write_text(WRONG)
    targets = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "leaky_c").glob("*.py"))]
    targets += [str(p.relative_to(ROOT)) for p in sorted(TYPING.glob("*.py"))]
    if not HAS_TORCH:
        targets = [t for t in targets if t.replace(os.sep, "/") not in TORCH_FILES]
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp / "cache"), "--no-color-output", "--no-error-summary",
         *targets, str(wrong)],
        cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    return result.stdout, seconds, wrong


@NEEDS_MYPY
@NEEDS_SHAPE_TYPES
def test_package_and_user_code_pass_mypy_strict(mypy_run: tuple[str, float, Path]) -> None:
    output, seconds, wrong = mypy_run
    errors = [line for line in output.splitlines()
              if " error: " in line and not line.startswith(str(wrong))]
    assert errors == [], "\n".join(errors)
    print(f"mypy --strict took {seconds:.1f} s")


@NEEDS_MYPY
@NEEDS_SHAPE_TYPES
def test_wrong_user_code_is_reported(mypy_run: tuple[str, float, Path]) -> None:
    output, _, wrong = mypy_run
    reported = {int(line.split(":")[1]) for line in output.splitlines()
                if line.startswith(str(wrong)) and " error: " in line}
    lines = WRONG.splitlines()
    expected = set(range(FIRST_WRONG_LINE, len(lines) + 1))
    missed = [lines[n - 1] for n in sorted(expected - reported)]
    assert not missed, f"mypy --strict accepted {missed}:\n{output}"
    assert reported == expected, output


def run_user_code(name: str) -> None:
    """The run-time half: each result has the type its assert_type states (in a child
    process, as the user code changes leaky_c's settings)."""
    result = subprocess.run([sys.executable, str(TYPING / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@NEEDS_ASSERT_TYPE
def test_user_code_runs() -> None:
    run_user_code("user_code.py")


@NEEDS_ASSERT_TYPE
@pytest.mark.skipif(not HAS_TORCH, reason="leaky_c.torch needs PyTorch: pip install torch")
def test_torch_user_code_runs() -> None:
    run_user_code("user_code_torch.py")
