"""cypool: fast, exact CPU max and average pooling for NumPy arrays.

Functions follow ``torch.nn.functional`` (names, arguments, output sizes, tie and NaN rules) and
return NumPy arrays; layer classes (``MaxPool2d``, ...) keep what backward needs, as
``torch.nn`` modules do. The kernels are Cython, parallel with OpenMP.
"""

from ._avg_pool import (
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool3d,
    avg_pool3d_backward,
)
from ._max_pool import (
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool3d,
    max_pool3d_backward,
)
from ._layers import AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d
from ._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "get_num_threads",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "set_num_threads",
]
