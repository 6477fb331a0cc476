"""show_config(): what was compiled, what the CPU has, and what serves each dtype."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import numpy as np

from . import _backend, _blocks, _extras, _threads


def config() -> dict[str, Any]:
    """The configuration show_config() prints, as a dict."""
    from ._kernels import KERNELS
    from ._validate import BFLOAT16

    target = _backend.active_target()
    kernels = {}
    for name, dtype in (("float16", np.dtype(np.float16)), ("bfloat16", BFLOAT16),
                        ("float32", np.dtype(np.float32)), ("float64", np.dtype(np.float64))):
        if dtype is None:
            kernels[name] = f"unavailable: {_extras.hint('bfloat16')}"
        elif dtype in KERNELS:
            kernels[name] = f"C leaky_{{fwd,bwd}}_{KERNELS[dtype].suffix} [{target}]"
        else:
            kernels[name] = "NumPy reference"
    kernels["int/bool"] = "promoted to float64"
    return {
        "backend": _backend.backend,
        "compiler": _backend.compiler(),
        "compiled_targets": _backend.compiled_targets(),
        "runnable_targets": _backend.runnable_targets(),
        "active_target": target,
        "cpu_features": _backend.cpu_features(),
        "disabled_features": sorted(_backend.disabled_features()),
        "kernels": kernels,
        "num_threads": _threads.get_num_threads(),
        "grain_bytes": _threads.grain_bytes(),
        "stream_threshold_bytes": _threads.stream_threshold_bytes(),
        "openmp": _threads.openmp_status(),
        "output_cache_bytes": _blocks.output_cache_bytes(),
        "output_cache_held": _blocks.output_cache_held(),
        "output_cache_from_bytes": _blocks.FROM_BYTES,
        "numpy": np.__version__,
    }


def show_config(file: TextIO | None = None) -> None:
    """Print the compiled targets, CPU features, kernel per dtype, threads and thresholds."""
    file = sys.stdout if file is None else file
    cfg = config()
    lines = [
        f"leaky_c backend:        {cfg['backend']}",
        f"compiled by:            {cfg['compiler'] or '-'}",
        f"compiled targets:       {', '.join(cfg['compiled_targets']) or '-'}",
        f"runnable targets:       {', '.join(cfg['runnable_targets']) or '-'}",
        f"active target:          {cfg['active_target'] or '-'}",
        f"CPU features found:     {', '.join(cfg['cpu_features']) or '-'}",
        f"disabled features:      {', '.join(cfg['disabled_features']) or '-'}"
        "  (LEAKY_C_DISABLE_CPU_FEATURES)",
        "kernels:",
        *(f"  {dtype:<8} {kernel}" for dtype, kernel in cfg["kernels"].items()),
        f"threads:                {cfg['num_threads']}  (LEAKY_C_NUM_THREADS, set_num_threads)",
        f"grain:                  {cfg['grain_bytes']} bytes of output per thread"
        "  (LEAKY_C_GRAIN_BYTES)",
        f"streaming stores from:  {cfg['stream_threshold_bytes']} bytes of output, into"
        " existing arrays  (LEAKY_C_STREAM_THRESHOLD)",
        f"OpenMP team:            {cfg['openmp']}  (LEAKY_C_OPENMP)",
        f"output cache:           {cfg['output_cache_bytes']} bytes at most, {cfg['output_cache_held']}"
        f" held, for results of {cfg['output_cache_from_bytes']}+ bytes",
        "                        (LEAKY_C_OUTPUT_CACHE_BYTES, set_output_cache, release_output_cache)",
    ]
    print("\n".join(lines), file=file)
