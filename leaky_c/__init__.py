"""leaky_c: fast, bit-exact Leaky ReLU kernels in C for NumPy arrays.

>>> import numpy as np, leaky_c
>>> leaky_c.leaky_relu(np.array([-2.0, 0.0, 3.0]), 0.1)
array([-0.2,  0. ,  3. ])
"""

from ._api import leaky_relu, leaky_relu_backward
from ._backend import backend
from ._blocks import release_output_cache, set_output_cache
from ._config import show_config
from ._prelu import prelu, prelu_backward
from ._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "backend",
    "get_num_threads",
    "leaky_relu",
    "leaky_relu_backward",
    "prelu",
    "prelu_backward",
    "release_output_cache",
    "set_num_threads",
    "set_output_cache",
    "show_config",
]
