"""The benchmark suite behind ``python -m leaky_c bench``.

leaky_c against what a user would otherwise write or import (NumPy, numexpr,
numba, PyTorch) and against the memory-copy bound, timed side by side in one
process on the same arrays.  Installed as ``leaky_c.benchmarks`` (from the
top-level ``benchmarks/`` directory of the source tree).

Where things live:

- ``peers.py``    the cases, the implementations timed in each, and the check
                  that each computes what leaky_c computes;
- ``timing.py``   warm-up, autoscaled repetitions, interleaved repeats, threads;
- ``suite.py``    the sweep over dtypes, sizes, threads and cases;
- ``report.py``   header, tables, JSON, markdown and the plot;
- ``progress.py`` a progress bar on stderr;
- ``cli.py``      the command-line options (``python -m leaky_c bench --help``).
"""

from .suite import Options, run

__all__ = ["Options", "run"]
