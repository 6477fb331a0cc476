"""Command line: ``leaky-c {info,bench,demo}``, or ``python -m leaky_c ...``.

The ``leaky-c`` script imports the installed package wherever it is run; ``python -m
leaky_c`` imports whatever ``leaky_c`` comes first on ``sys.path``, which in a source
checkout's root is the source tree (built in place only by ``pip install -e .``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np


def _info(args: argparse.Namespace) -> int:
    import leaky_c

    leaky_c.show_config()
    x = np.array([-3.0, -1.0, -0.0, 0.0, 0.5, 2.0], dtype=np.float32)
    print(f"\nx                        = {x}")
    print(f"leaky_relu(x, 0.1)       = {leaky_c.leaky_relu(x, 0.1)}")
    print(f"leaky_relu_backward(1,x) = {leaky_c.leaky_relu_backward(np.ones_like(x), x, 0.1)}")
    return 0


def _no_benchmarks(args: argparse.Namespace) -> int:
    """``bench`` from a source tree that pip did not build: say why and what to do."""
    import leaky_c

    here = os.path.dirname(os.path.abspath(leaky_c.__file__))
    print(f"leaky_c's benchmark suite is not importable: this leaky_c ({here}) is a source "
          "tree, where the suite is benchmarks/, which pip installs as leaky_c.benchmarks. "
          "Run the installed command, leaky-c bench (it works from any directory), or run "
          "python -m leaky_c from another directory, or install the source tree in place "
          f"with pip install -e '.[bench]' in {os.path.dirname(here)}.", file=sys.stderr)
    return 2


def _prog() -> str:
    """The name the user typed: the console script's, or ``python -m leaky_c``."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if script.startswith("leaky-c") else "python -m leaky_c"


def main(argv: Sequence[str] | None = None) -> int:
    import leaky_c

    parser = argparse.ArgumentParser(prog=_prog(),
                                     description="leaky_c: fast Leaky ReLU kernels.")
    parser.add_argument("--version", action="version", version=f"leaky_c {leaky_c.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show the configuration and a worked example")
    info.set_defaults(func=_info)
    from . import demo as demo_module

    demo = sub.add_parser("demo", help="train a NumPy MLP with ReLU and Leaky ReLU and plot "
                          "the dead units", description=demo_module.__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo_module.add_arguments(demo)
    demo.set_defaults(func=demo_module.main)
    try:
        from .benchmarks import cli as bench_cli  # the suite lives in benchmarks/
    except ModuleNotFoundError as exc:
        if exc.name != "leaky_c.benchmarks":
            raise
        bench = sub.add_parser("bench", help="the benchmark comparison (not importable from this source tree)")
        bench.add_argument("rest", nargs=argparse.REMAINDER)
        bench.set_defaults(func=_no_benchmarks)
    else:
        bench = sub.add_parser("bench", help=bench_cli.HELP, description=bench_cli.DESCRIPTION,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        bench_cli.add_arguments(bench)
        bench.set_defaults(func=bench_cli.run_command)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
