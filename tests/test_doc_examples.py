"""Every code block of the README and of the documentation (docs/*.md) runs as written.

Each ```python block runs as a script in a fresh process from an empty
directory; each block of ``>>>`` lines (```pycon, or ```python starting with
``>>>``) runs as a doctest there, with ELLIPSIS (``...`` stands for output that
differs between machines) and NORMALIZE_WHITESPACE.  The child gets no
LEAKY_C_* variable: it runs what a reader runs.  A block that imports an
optional package that is missing is skipped, naming it; CI's step with every
extra runs them all.  Shell blocks (```sh) are the set-up commands, which
.ci/run runs itself.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from leaky_c import _extras

ROOT = Path(__file__).resolve().parent.parent
#: The pages: the README, and the documentation's own (CHANGELOG and CONTRIBUTING hold no
#: Python; demo_summary.md is the demo's output).
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
IMPORT = re.compile(r"^\s*(?:>>> )?\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.MULTILINE)
#: Modules that import another distribution under their name.
BEHIND = {"dask.distributed": "distributed"}
#: How to install each optional package a block may import (the extras' hints, read from
#: the package metadata like every other install hint).
INSTALL = {"torch": "pip install torch==2.13.0", "dask": _extras.hint("dask"),
           "distributed": _extras.hint("dask"), "matplotlib": _extras.hint("demo"),
           "ml_dtypes": _extras.hint("bfloat16")}


class Block(NamedTuple):
    page: str
    line: int
    kind: str  # "script" or "doctest"
    code: str


def blocks(page: Path) -> list[Block]:
    text, name, found = page.read_text(), page.relative_to(ROOT).as_posix(), []
    for match in FENCE.finditer(text):
        language, code = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if language == "pycon" or (language == "python" and code.lstrip().startswith(">>>")):
            found.append(Block(name, line, "doctest", code))
        elif language == "python":
            found.append(Block(name, line, "script", code))
    return found


BLOCKS = [block for page in PAGES for block in blocks(page)]


def test_the_pages_have_runnable_blocks_of_both_kinds():
    assert {block.kind for block in BLOCKS} == {"script", "doctest"}
    assert {block.page for block in BLOCKS} >= {"README.md", "docs/torch.md"}
    # The parser sees what a reader sees: one block per ```python or ```pycon fence.
    fences = sum(len(re.findall(r"^```(?:python|pycon)\s*$", page.read_text(), re.MULTILINE))
                 for page in PAGES)
    assert len(BLOCKS) == fences


@pytest.mark.skipif(bool(os.environ.get("LEAKY_C_SANITIZER")),
                    reason="the documentation's blocks run in fresh processes, outside the sanitizer "
                           "build; the other CI steps run them")
@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.line}" for b in BLOCKS])
def test_block_runs_as_written(block: Block, tmp_path: Path):
    names = set(IMPORT.findall(block.code))
    for module in sorted({BEHIND.get(name, name.split(".")[0]) for name in names}):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{block.page}, block at line {block.line}, needs {module} "
                        f"({INSTALL.get(module, f'pip install {module}')})")
    if block.kind == "script":
        path = tmp_path / "block.py"
        command = [sys.executable, str(path)]
    else:
        path = tmp_path / "block.txt"
        command = [sys.executable, "-m", "doctest", "-o", "ELLIPSIS",
                   "-o", "NORMALIZE_WHITESPACE", str(path)]
    path.write_text(block.code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKY_C_")}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, (
        f"{block.page}, block at line {block.line}, failed:\n{block.code}\n--- stdout\n"
        f"{result.stdout}\n--- stderr\n{result.stderr}")
