"""Command line: ``python -m leaky_c {info,bench,demo}`` (also the ``leaky-c`` script)."""

from __future__ import annotations

import argparse
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaky_c",
                                     description="leaky_c: fast Leaky ReLU kernels.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show the configuration and a worked example")
    info.set_defaults(func=_info)
    from . import demo as demo_module

    demo = sub.add_parser("demo", help="train a NumPy MLP with ReLU and Leaky ReLU and plot "
                          "the dead units", description=demo_module.__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo_module.add_arguments(demo)
    demo.set_defaults(func=demo_module.main)
    from .benchmarks import cli as bench_cli  # the suite lives in benchmarks/

    bench = sub.add_parser("bench", help=bench_cli.HELP, description=bench_cli.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    bench_cli.add_arguments(bench)
    bench.set_defaults(func=bench_cli.run_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
