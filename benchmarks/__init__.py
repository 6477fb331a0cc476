"""The benchmark suite behind ``python -m leaky_c bench``.

leaky_c against what a user would otherwise write or import (NumPy, numexpr,
numba, PyTorch) and against the memory-copy bound, timed side by side in one
process on the same arrays.  Installed as ``leaky_c.benchmarks`` (from the
top-level ``benchmarks/`` directory of the source tree).

Where things live:

- ``peers.py``    the cases, the implementations timed in each, and the check
                  that each computes what leaky_c computes;
- ``timing.py``   warm-up, autoscaled repetitions, interleaved repeats, threads;
- ``suite.py``    the sweep over dtypes, sizes, threads and cases, and the
                  thread-scaling view;
- ``extras.py``   PReLU, the PyTorch module, 16-bit floats, the CNN block;
- ``machine.py``  CPU, cores, caches, memory and load, for the JSON;
- ``bounds.c``, ``_bounds_build.py``  the C copy bound, compiled on first use;
- ``report.py``   the headline, tables, --compare, JSON, markdown and the plot;
- ``cli.py``      the command-line options (``python -m leaky_c bench --help``).

The JSON a run saves is described in README.md in this directory.
"""

from .suite import Options, run

__all__ = ["Options", "run"]
