"""Large results in recycled memory: the Python face of csrc/blocks.c.

An allocating call whose result has at least ``FROM_BYTES`` bytes takes its memory
from a bounded cache of blocks instead of ``np.empty``: in a steady loop the
block of the result the loop dropped comes back, already mapped, so the call
runs at the speed of ``out=`` instead of faulting in a new mapping page by
page (benchmarks/RESULTS.md, "Allocating calls").

How a block comes back: ``ffi.gc`` ties it to a cffi pointer whose finaliser
gives it back; the result is an ndarray over ``ffi.buffer`` of that pointer,
so the buffer object is its ``.base`` (``owndata`` is False), and every view,
slice, ``memoryview`` or ``torch.from_numpy`` of it holds the buffer through
its own base chain.  Only when the last of them dies is the pointer freed and
the block idle again: a result never shares memory with a live array.

``LEAKY_C_OUTPUT_CACHE_BYTES``
    Bytes the idle blocks may hold (default ``DEFAULT_CACHE_BYTES``: 1 GiB, or
    1/16 of the physical memory if less); 0 disables the cache, so large
    results come from ``np.empty`` like small ones.  ``set_output_cache``
    changes it at run time; ``release_output_cache`` frees the idle blocks.
"""

from __future__ import annotations

import os
from typing import Any, Literal, SupportsIndex

import numpy as np

from ._backend import ffi, lib
from ._threads import MAX_BYTES, _check_range, _env_int
from ._validate import integer

#: Results of at least this many bytes use the cache: one block class (2 MiB,
#: csrc/blocks.c), so a block holds at most twice its result.  Below it
#: np.empty serves: whether glibc recycles a heap block or maps fresh pages
#: there depends on the process's history (its dynamic mmap threshold), which
#: the cache takes out of the picture from here on; smaller results would
#: waste most of a 2 MiB block (measured: benchmarks/RESULTS.md, "--compare
#: between identical runs").
FROM_BYTES = 2 << 20
#: The most bytes an element of a dtype the C serves has (float64).
_MAX_ITEMSIZE = 8


def _physical_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


DEFAULT_CACHE_BYTES = min(1 << 30, _physical_bytes() // 16)

_ndarray = np.ndarray
_empty = np.empty
if lib is not None:
    _take, _give, _gc, _buffer = lib.leaky_block_take, lib.leaky_block_give, ffi.gc, ffi.buffer

#: Results of from_bytes bytes or more come from the cache (never, when it is
#: off); from_items lets a call of fewer elements skip the byte count.
from_bytes = FROM_BYTES
from_items = FROM_BYTES // _MAX_ITEMSIZE


#: Where in its block a result starts: at the input's address modulo 4096 (to 16 bytes).
#: A result whose address lies a little below or above the input's, modulo 4096, makes
#: the CPU take its stores for ones the next loads depend on ("4K aliasing"): from a block
#: on a 2 MiB boundary, with NumPy's inputs 16 bytes past one, the streaming backward at
#: 2^24 float32 took 5.8-6.3 ms against 5.3-5.7 at the input's offset, and results 32-256
#: bytes above it took 6.4-7.8 (benchmarks/RESULTS.md, "Where a result starts").
ALIAS_MASK = 4096 - 16


def empty(shape: Any, dtype: np.dtype, nbytes: int, order: Literal["C", "F"] = "C", *,
          like: np.ndarray) -> np.ndarray:
    """An uninitialised array of nbytes bytes in the given order, from the cache, at
    ``like``'s address modulo 4096 (ALIAS_MASK)."""
    offset = like.ctypes.data & ALIAS_MASK
    block = _take(nbytes)  # its class by nbytes: 4096 spare bytes follow every block
    if not block:  # out of memory here: NumPy may still find some, or raise
        return _empty(shape, dtype, order=order)
    return _ndarray(shape, dtype, _buffer(_gc(block, _give), nbytes + offset), offset, order=order)


def output_cache_bytes() -> int:
    """Bytes the idle blocks may hold (0: the cache is off)."""
    return int(lib.leaky_get_block_cache_bytes()) if lib is not None else 0


def output_cache_held() -> int:
    """Bytes the idle blocks hold now."""
    return int(lib.leaky_block_cache_held()) if lib is not None else 0


def set_output_cache(max_bytes: SupportsIndex) -> None:
    """Let idle result blocks hold at most ``max_bytes`` bytes (an integer >= 0).

    0 turns the cache off: large results then come from ``np.empty``, and the
    idle blocks are freed; a smaller limit frees the oldest blocks beyond it.
    Results in use are not affected."""
    global from_bytes, from_items
    max_bytes = integer(max_bytes, "max_bytes")
    _check_range(max_bytes, 0, MAX_BYTES, "max_bytes", ValueError)
    if lib is None:
        return
    lib.leaky_set_block_cache_bytes(max_bytes)
    from_bytes = FROM_BYTES if max_bytes else 1 << 62
    from_items = from_bytes // _MAX_ITEMSIZE


def release_output_cache() -> int:
    """Free every idle result block now; returns the bytes freed."""
    return int(lib.leaky_block_cache_release()) if lib is not None else 0


set_output_cache(_env_int("LEAKY_C_OUTPUT_CACHE_BYTES", DEFAULT_CACHE_BYTES, 0, MAX_BYTES))
