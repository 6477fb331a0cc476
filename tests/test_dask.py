"""leaky_c.dask: lazy, chunk- and dtype-preserving, and exact on a real multi-process cluster.

Expected values come from the NumPy reference (conftest.expected_*), never from
leaky_c.dask itself.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="Dask is not installed (pip install '.[dask]')")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed", reason="distributed is not installed")

import leaky_c.dask as ld  # noqa: E402
from arrays import assert_bits_equal, values  # noqa: E402
from conftest import expected_backward, expected_forward  # noqa: E402


def _never_called():
    raise AssertionError("the input was computed while only building the graph")


def unreadable(shape: tuple, dtype, chunks) -> "da.Array":
    """A Dask array whose blocks fail if anything ever computes them."""
    return da.from_delayed(dask.delayed(_never_called)(), shape, dtype).rechunk(chunks)


@pytest.mark.parametrize("dtype, result_dtype", [
    (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float16),
    (np.int32, np.float64), (np.bool_, np.float64),
])
def test_lazy_and_keeps_chunks_and_dtype(dtype, result_dtype):
    x = unreadable((10, 6), dtype, (4, 3))
    y = ld.leaky_relu(x, 0.1)
    grad = ld.leaky_relu_backward(unreadable((10, 6), dtype, (4, 3)), x, 0.1)
    for result in (y, grad):
        assert isinstance(result, da.Array)
        assert result.chunks == ((4, 4, 2), (3, 3))
        assert result.dtype == np.dtype(result_dtype)
        assert type(result._meta) is np.ndarray and result._meta.dtype == np.dtype(result_dtype)


def test_small_arrays_on_the_local_scheduler():
    x_np = values(np.float64, 37)
    grad_np = values(np.float64, 37, seed=3)
    x = da.from_array(x_np, chunks=10)
    grad = da.from_array(grad_np, chunks=7)  # different chunks: rechunked to common ones
    with dask.config.set(scheduler="synchronous"):
        assert_bits_equal(ld.leaky_relu(x, -0.5).compute(), expected_forward(x_np, -0.5))
        assert_bits_equal(ld.leaky_relu_backward(grad, x, 0.2).compute(),
                          expected_backward(grad_np, x_np, 0.2))
        zero_d = da.from_array(np.array(-2.0))
        assert_bits_equal(ld.leaky_relu(zero_d, 0.5).compute(), np.array(-1.0))


def test_bad_arguments_are_named_when_the_graph_is_built():
    x = da.ones((4, 4), chunks=2)
    with pytest.raises(TypeError, match="darr"):
        ld.leaky_relu(np.ones(3))
    with pytest.raises(TypeError, match="grad_output"):
        ld.leaky_relu_backward(np.ones((4, 4)), x)
    with pytest.raises(TypeError, match="negative_slope"):
        ld.leaky_relu(x, "0.1")
    with pytest.raises(ValueError, match="negative_slope"):
        ld.leaky_relu(x, float("inf"))
    with pytest.raises(TypeError, match="complex"):
        ld.leaky_relu(x.astype(np.complex128))
    with pytest.raises(TypeError, match="dtype"):
        ld.leaky_relu_backward(x.astype(np.float32), x)
    with pytest.raises(ValueError, match="shape"):
        ld.leaky_relu_backward(x[:2], x)


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each; always shut down."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, scheduler_port=0,
                                  silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_local_cluster_gives_the_in_memory_result(client, dtype):
    x_np = values(dtype, 4000, seed=7).reshape(80, 50)
    grad_np = values(dtype, 4000, seed=8).reshape(80, 50)
    x = da.from_array(x_np, chunks=(20, 25))
    grad = da.from_array(grad_np, chunks=(20, 25))
    assert x.npartitions == 8
    forward, backward = client.compute([ld.leaky_relu(x, 0.01),
                                        ld.leaky_relu_backward(grad, x, 0.01)])
    assert_bits_equal(forward.result(), expected_forward(x_np, 0.01), "forward on the cluster")
    assert_bits_equal(backward.result(), expected_backward(grad_np, x_np, 0.01),
                      "backward on the cluster")
    # The blocks really ran in the worker processes, which had to import leaky_c.dask.
    imported = client.run(lambda: "leaky_c.dask" in sys.modules)
    assert len(imported) == 2 and any(imported.values())
