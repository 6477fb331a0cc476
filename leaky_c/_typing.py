"""The types of the public API's arguments and results, for type checkers only.

Imported under ``TYPE_CHECKING`` (leaky_c/_api.py, _prelu.py): nothing here runs.
The overloads that use these follow the runtime's rules (leaky_c/_validate.py):
a floating ndarray keeps its dtype and shape type, an integer or bool one
computes in float64, a NumPy float scalar keeps its type, a Python or NumPy
int, a bool or a float gives ``np.float64``, and ``out=`` gives ``out``'s type.

A 0-d ndarray gives a NumPy scalar at run time.  Its overload matches only an
array whose shape type is ``tuple[()]``: ``Nonempty`` bounds the shape of the
ndarray overloads that come before it, so an ordinary array (shape type
``tuple[int, ...]`` or ``tuple[Any, ...]``, as ``np.array(1.0)`` has) keeps
the ndarray result.  Such an array that is 0-d at run time, or another
array-like (a list; an object with ``__array__``) that is, is typed as an
ndarray but is a NumPy scalar.
"""

from __future__ import annotations

import numbers
from decimal import Decimal
from typing import Any, TypeVar, Union

import numpy as np
from typing_extensions import TypeAlias, Unpack

#: A NumPy floating scalar type: float16, float32, float64, longdouble.
Float = TypeVar("Float", bound=np.floating[Any])
#: The shape type of an array with at least one dimension.
Nonempty = TypeVar("Nonempty", bound=tuple[int, Unpack[tuple[int, ...]]])
#: ``out``: any ndarray (its dtype and shape are checked at run time).
Out = TypeVar("Out", bound=np.ndarray[Any, Any])

#: Integer and bool dtypes, which compute in float64.
IntegerScalar: TypeAlias = Union[np.integer[Any], np.bool_]
#: A 0-d array of the real dtypes a slope may have.
ZeroDSlope: TypeAlias = np.ndarray[tuple[()], np.dtype[Union[np.floating[Any], np.integer[Any]]]]
#: Every real number ``negative_slope`` accepts (a bool is refused at run time;
#: ``float`` includes ``int`` for type checkers, and ``numbers.Real`` Fraction).
Slope: TypeAlias = Union[float, np.floating[Any], np.integer[Any], numbers.Real, Decimal,
                         ZeroDSlope]
