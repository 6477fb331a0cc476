"""Memory layout: which arrays the C may read and write directly, and how.

Elementwise work may write element i while reading element i of the same
memory, and nothing else.  So the C is handed an output directly only when no
two of its elements share memory, and an input only when it is either exactly
the output (same address, same strides) or shares no memory with it.
Everything else goes through a copy, which gives the result NumPy's ufuncs
give: as if the inputs had been copied first.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

_may_share_memory = np.may_share_memory


def address(arr: np.ndarray) -> int:
    return int(arr.__array_interface__["data"][0])


def same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """The same elements at the same addresses (in-place work is safe)."""
    return address(a) == address(b) and a.shape == b.shape and a.strides == b.strides


def has_internal_overlap(arr: np.ndarray) -> bool:
    """May two elements of arr share memory?  False only when provably not.

    The axes, by increasing |stride|, must each step past everything the
    smaller ones span (the test NumPy's ufuncs start with before their exact
    solver); zero strides (broadcasting, as_strided) and sliding windows fail it.
    """
    if arr.flags.c_contiguous or arr.flags.f_contiguous or arr.size == 0:
        return False
    span = arr.itemsize
    for stride, length in sorted((abs(s), n) for s, n in zip(arr.strides, arr.shape) if n > 1):
        if stride < span:
            return True
        span += stride * (length - 1)
    return False


def writable_target(out: np.ndarray) -> np.ndarray:
    """The plain ndarray behind out (a masked array's data, a matrix's elements),
    so that reshaping and viewing never meet a subclass's own rules."""
    return out if type(out) is np.ndarray else out.view(np.ndarray)


def direct_output(out: np.ndarray) -> bool:
    """The kernels can write into out itself: aligned, native, no self-overlap."""
    return out.flags.aligned and out.dtype.isnative and not has_internal_overlap(out)


def unaliased(inputs: tuple[np.ndarray, ...], dst: np.ndarray) -> list[np.ndarray]:
    """Inputs as the C may read them while it writes dst (dst has no internal
    overlap): an input sharing memory with dst other than as the same view is
    copied first, as NumPy ufuncs do; unaligned inputs are copied too."""
    result = []
    for arr in inputs:
        if not arr.flags.aligned or (_may_share_memory(arr, dst) and not same_view(arr, dst)):
            arr = arr.copy()
        result.append(arr)
    return result


def flat(arr: np.ndarray, order: str) -> Optional[np.ndarray]:
    """arr as a C-contiguous aligned array in the given memory order, or None.

    Elementwise work ignores layout, so order "F" is served by the transpose of
    an F-contiguous array.
    """
    if order == "F":
        arr = arr.T
    return arr if arr.flags.c_contiguous and arr.flags.aligned else None


def merged_axes(arrays: tuple[np.ndarray, ...]) -> tuple[list[int], list[list[int]]]:
    """(shape, strides per array) for iterating all arrays in the last one's
    memory order, with axes merged wherever every array allows it."""
    dst = arrays[-1]
    axes = sorted((d for d in range(dst.ndim) if dst.shape[d] != 1),
                  key=lambda d: -abs(dst.strides[d]))
    shape = [dst.shape[d] for d in axes]
    strides = [[a.strides[d] for d in axes] for a in arrays]
    for i in range(len(shape) - 2, -1, -1):  # merge axis i into i + 1 where memory allows
        if all(s[i] == s[i + 1] * shape[i + 1] for s in strides):
            outer = shape.pop(i)
            shape[i] *= outer  # the old axis i + 1 is now at i
            for s in strides:
                s.pop(i)
    if not shape:
        shape, strides = [1], [[a.itemsize] for a in arrays]
    return shape, strides
