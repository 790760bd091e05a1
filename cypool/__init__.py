"""cypool: fast, exact CPU max and average pooling for NumPy arrays.

Fixed-window, adaptive and global max and average pooling, their gradients, and max
unpooling. Functions follow ``torch.nn.functional`` (names, arguments, output sizes, tie and
NaN rules) and return NumPy arrays; layer classes (``MaxPool2d``, ...) keep what backward
needs, as ``torch.nn`` modules do. The kernels are Cython, parallel with OpenMP.
"""

from ._adaptive_pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool1d_backward,
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool3d,
    adaptive_avg_pool3d_backward,
    adaptive_max_pool1d,
    adaptive_max_pool1d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    adaptive_max_pool3d,
    adaptive_max_pool3d_backward,
)
from ._avg_pool import (
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool3d,
    avg_pool3d_backward,
)
from ._global_pool import (
    global_avg_pool1d,
    global_avg_pool1d_backward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_avg_pool3d,
    global_avg_pool3d_backward,
    global_max_pool1d,
    global_max_pool1d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
    global_max_pool3d,
    global_max_pool3d_backward,
)
from ._max_pool import (
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool3d,
    max_pool3d_backward,
)
from ._layers import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from ._threads import get_num_threads, set_num_threads
from ._unpool import max_unpool1d, max_unpool2d, max_unpool3d

__version__ = "0.1.0"

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "get_num_threads",
    "global_avg_pool1d",
    "global_avg_pool1d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_avg_pool3d",
    "global_avg_pool3d_backward",
    "global_max_pool1d",
    "global_max_pool1d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "global_max_pool3d",
    "global_max_pool3d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "set_num_threads",
]
