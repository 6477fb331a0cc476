"""The benchmark suite behind ``python -m leaky_c bench``.

leaky_c against what a user would otherwise write or import (NumPy, numexpr,
numba, PyTorch, ONNX Runtime, JAX, TensorFlow) and against the memory-copy
bound, timed side by side on the same arrays, one process per thread count.
Installed as ``leaky_c.benchmarks`` (from the top-level ``benchmarks/``
directory of the source tree).

Where things live:

- ``peers.py``    the cases, the implementations timed in each, and the check
                  that each computes what leaky_c computes;
- ``ml_peers.py`` ONNX Runtime, JAX and TensorFlow as peers;
- ``special.py``  the special-values check: where each peer's bits differ;
- ``timing.py``   warm-up, autoscaled repetitions, interleaved repeats, threads;
- ``suite.py``    the sweep over dtypes, sizes, threads and cases, and the
                  thread-scaling view, each thread count in its own process
                  (``worker.py``);
- ``extras.py``   PReLU, the PyTorch module, 16-bit floats, the CNN block;
- ``models.py``   leaky_c.torch inside PyTorch models (issue 22 item 4):
                  ``python -m leaky_c.benchmarks.models``;
- ``machine.py``  CPU, cores, caches, memory and load, for the JSON;
- ``bounds.c``, ``_bounds_build.py``  the C copy bound, compiled on first use;
- ``report.py``   the headline, tables, --compare, JSON, markdown and the plot;
- ``cli.py``      the command-line options (``python -m leaky_c bench --help``).

The JSON a run saves is described in README.md in this directory.
"""

from .suite import Options, run

__all__ = ["Options", "run"]
