"""The C kernels per dtype, by name: the one table the dispatch reads."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._backend import ffi, lib
from ._validate import BFLOAT16


class Kernels(NamedTuple):
    fwd: Any        #: contiguous forward, leaky_fwd_<sfx>
    bwd: Any        #: contiguous backward, leaky_bwd_<sfx>
    buffer: Any     #: the cffi array type the arrays travel as
    code: int       #: enum leaky_dtype, for the strided and PReLU entry points
    suffix: str     #: the kernels' name suffix, for show_config()


def _table() -> dict[np.dtype, Kernels]:
    if lib is None:
        return {}
    dtypes = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64),
              "f16": np.dtype(np.float16), "bf16": BFLOAT16}
    # 16-bit floats travel as their bit patterns.
    buffers = {"f32": "float[]", "f64": "double[]", "f16": "uint16_t[]", "bf16": "uint16_t[]"}
    return {dtype: Kernels(getattr(lib, f"leaky_fwd_{sfx}"), getattr(lib, f"leaky_bwd_{sfx}"),
                           ffi.typeof(buffers[sfx]), getattr(lib, f"LEAKY_{sfx.upper()}"), sfx)
            for sfx, dtype in dtypes.items() if isinstance(dtype, np.dtype)}


#: dtype -> Kernels, for the dtypes the C serves (empty on the NumPy backend).
KERNELS: dict[np.dtype, Kernels] = _table()
FRESH_OUTPUT = lib.LEAKY_FRESH_OUTPUT if lib is not None else 0
