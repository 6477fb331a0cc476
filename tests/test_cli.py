"""The command line: leaky-c and python -m leaky_c (the bench itself: test_bench.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import leaky_c
from leaky_c.__main__ import main


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"leaky_c {leaky_c.__version__}\n"


def test_usage_names_the_command_as_typed(tmp_path):
    result = run([sys.executable, "-m", "leaky_c", "--help"], cwd=tmp_path)
    assert result.stdout.startswith("usage: python -m leaky_c [-h] [--version] {info,demo,bench}")
    script = shutil.which("leaky-c", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the leaky-c console script is not installed beside this Python "
                    "(pip install -e .)")
    result = run([script, "--help"], cwd=tmp_path)
    assert result.stdout.startswith("usage: leaky-c [-h] [--version] {info,demo,bench}")


def test_info_prints_the_configuration_and_a_worked_example(capsys):
    assert main(["info"]) == 0
    printed = capsys.readouterr().out
    assert f"leaky_c backend:        {leaky_c.backend}" in printed
    assert "leaky_relu(x, 0.1)       = [-0.3 -0.1 -0.   0.   0.5  2. ]" in printed


def test_bench_without_the_suite_says_which_tree_was_imported_and_what_to_do():
    # As from a source tree: leaky_c.benchmarks exists only where pip installed it.
    code = ("import sys; sys.modules['leaky_c.benchmarks'] = None; "
            "from leaky_c.__main__ import main; sys.exit(main(['bench']))")
    here = os.path.dirname(os.path.abspath(leaky_c.__file__))
    result = run([sys.executable, "-c", code], cwd=os.path.dirname(here))  # this leaky_c
    assert result.returncode == 2, result.stderr
    assert f"leaky_c's benchmark suite is not importable: this leaky_c ({here})" in result.stderr
    assert "leaky-c bench (it works from any directory)" in result.stderr
    assert "pip install -e '.[bench]'" in result.stderr
