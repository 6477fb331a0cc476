"""Leaky ReLU on Dask arrays: leaky_c's kernels on every block, on any Dask scheduler.

>>> import dask.array as da, leaky_c.dask as ld
>>> x = da.random.default_rng(0).standard_normal((20_000, 1_000), chunks=(5_000, 1_000))
>>> y = ld.leaky_relu(x, 0.01)          # lazy: nothing has run yet
>>> y.chunks == x.chunks, y.dtype
(True, dtype('float64'))
>>> total = y.sum().compute()           # runs on the active scheduler or distributed.Client

The functions only build the task graph (``dask.array.blockwise``), so the
same code runs on the threaded scheduler, a ``distributed.LocalCluster`` or a
remote cluster; each worker needs leaky_c installed.  Arguments are checked
when the graph is built, with leaky_c's own messages, not later on a worker.

Importing this module imports dask; ``import leaky_c`` alone does not.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without dask
    from leaky_c._extras import hint

    raise ImportError(f"leaky_c.dask needs Dask, which is not installed: {hint('dask')}") from exc

import leaky_c

if TYPE_CHECKING:
    from leaky_c._typing import Slope

__all__ = ["leaky_relu", "leaky_relu_backward"]


def _check_dask_array(obj: Any, name: str) -> None:
    if not isinstance(obj, da.Array):
        raise TypeError(
            f"{name} must be a dask.array.Array, got {type(obj).__name__}; "
            "for NumPy arrays use leaky_c.leaky_relu / leaky_c.leaky_relu_backward")


def _blockwise(block_function: Any, token: str, arrays: tuple[da.Array, ...],
               negative_slope: Slope, dtype: np.dtype) -> da.Array:
    """block_function on matching blocks of same-shaped arrays, rechunked to common chunks."""
    index = tuple(range(arrays[-1].ndim))
    pairs = [item for arr in arrays for item in (arr, index)]
    result: da.Array = da.blockwise(block_function, index, *pairs, token=token, dtype=dtype,
                                    meta=np.empty((0,) * len(index), dtype=dtype),
                                    negative_slope=float(negative_slope))
    return result


def _forward_block(block: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.asarray(leaky_c.leaky_relu(block, negative_slope))


def _backward_block(grad_block: np.ndarray, x_block: np.ndarray,
                    negative_slope: float) -> np.ndarray:
    return np.asarray(leaky_c.leaky_relu_backward(grad_block, x_block, negative_slope))


def leaky_relu(darr: da.Array, negative_slope: Slope = 0.01) -> da.Array:
    """Leaky ReLU of a Dask array, lazily, block by block with leaky_c's kernels.

    Parameters
    ----------
    darr : dask.array.Array
        Real input of any shape and chunking.  The result has the same chunks
        and the dtype :func:`leaky_c.leaky_relu` gives (float16/32/64 kept,
        integers and bools as float64).
    negative_slope : real number, default 0.01
        Any finite real number, as for :func:`leaky_c.leaky_relu`.

    Returns
    -------
    dask.array.Array
        Not yet computed.

    Raises
    ------
    TypeError
        ``darr`` is not a Dask array or has an unsupported dtype, or the slope
        is not a real number.
    ValueError
        The slope is NaN or infinite.
    """
    _check_dask_array(darr, "darr")
    # One call on an empty block checks dtype and slope and gives the result dtype.
    probe = leaky_c.leaky_relu(np.empty(0, darr.dtype), negative_slope)
    return _blockwise(_forward_block, "leaky_relu", (darr,), negative_slope, probe.dtype)


def leaky_relu_backward(grad_output: da.Array, x: da.Array,
                        negative_slope: Slope = 0.01) -> da.Array:
    """Gradient of Leaky ReLU for Dask arrays, lazily, with leaky_c's kernels.

    ``grad_output`` where ``x > 0``, else ``negative_slope * grad_output``.

    Parameters
    ----------
    grad_output : dask.array.Array
        Gradient of the loss with respect to the forward's output.
    x : dask.array.Array
        The forward's input: same shape and dtype as ``grad_output``.  If the
        two are chunked differently they are rechunked to common chunks.
    negative_slope : float, default 0.01
        The slope the forward used; any finite real number.

    Returns
    -------
    dask.array.Array
        Not yet computed, chunked like the inputs (after any rechunking).

    Raises
    ------
    TypeError
        An argument is not a Dask array, the dtypes differ or are unsupported,
        or the slope is not a real number.
    ValueError
        The shapes differ, or the slope is NaN or infinite.
    """
    _check_dask_array(grad_output, "grad_output")
    _check_dask_array(x, "x")
    shapes_known = not any(math.isnan(n) for n in grad_output.shape + x.shape)
    if shapes_known and grad_output.shape != x.shape:
        raise ValueError(f"grad_output has shape {grad_output.shape} but x has shape "
                         f"{x.shape}; they must match")
    probe = leaky_c.leaky_relu_backward(np.empty(0, grad_output.dtype), np.empty(0, x.dtype),
                                        negative_slope)
    return _blockwise(_backward_block, "leaky_relu_backward", (grad_output, x), negative_slope,
                      probe.dtype)
