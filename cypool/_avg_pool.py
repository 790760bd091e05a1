"""Average pooling, forward and backward, over 1, 2 and 3 spatial dims."""

from __future__ import annotations

import math
import threading

import numpy as np

from . import _arrays, _half, _layout
from ._backend import kernels
from ._shape import as_flag, check_divisor_override, pool_geometry
from ._threads import check_n_threads, n_threads_for

# The most memory one thread's cache of output rows' shares may take in the channels-last
# average backward (a 3x3 window over 56 columns of 64 float32 channels takes 126 KiB).
_SHARES_CACHE_BYTES = 4 << 20

_PARAMETERS = """kernel_size : int or tuple of {n} ints
    Window size.
stride : int or tuple of {n} ints, optional
    Window step; default (None) ``kernel_size``.
padding : int or tuple of {n} ints, default 0
    Implicit zero padding on both sides, at most ``kernel_size // 2``.
ceil_mode : bool, default False
    Round the output size up instead of down; a last window that would start past the input
    and its left padding is dropped.
count_include_pad : bool, default True
    Count the padding in the divisor (the window clipped to ``[-padding, L + padding)``; a
    ceil-mode overhang past the padding never counts). If False, divide by the number of real
    input elements in the window.
divisor_override : int, optional
    Divide every window sum by this positive number instead."""

_FORWARD_DOC = """Average pooling over the {n}-d spatial axes of ``input``, as ``torch.nn.functional.avg_pool{n}d``.

Sums run in the input dtype in raster order, then one division, which reproduces PyTorch's
CPU results bit for bit.

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified. A channels-last input (C the axis of smallest stride, as
    ``x_nhwc.transpose(0, 3, 1, 2)``) is pooled where it lies and gives channels-last results.
{parameters}
out : ndarray, optional, keyword-only
    Where to write the result: aligned, writeable, of the result's exact shape and dtype,
    C-contiguous or channels-last contiguous (its layout is the result's, whatever the
    input's).
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).

Returns
-------
ndarray
    Shape ``(N, C, {out_spatial})`` (or unbatched), the input's dtype. Per axis
    ``out = floor((L + 2*padding - kernel_size) / stride) + 1`` (ceil with ``ceil_mode``).

Raises
------
TypeError
    For a non-float ``input``, non-integer sizes, or an ``out`` of the wrong type or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, non-positive sizes,
    ``padding > kernel_size // 2``, an output smaller than 1, a non-positive
    ``divisor_override``, or an ``out`` of the wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_BACKWARD_DOC = """Gradient of ``avg_pool{n}d`` with respect to its input.

Each output gradient, divided by its window's divisor, is spread over the window's input
elements; where windows overlap, contributions add up in output raster order (PyTorch's
order, so float sums round alike). Deterministic for any thread count.

Parameters
----------
grad_output : array_like, float16, float32 or float64
    Gradient of the pooled output, shape ``(N, C, {out_spatial})`` or unbatched; it must be the
    shape ``avg_pool{n}d`` gives for ``input_shape`` and these window arguments. A
    channels-last ``grad_output`` gives a channels-last gradient (the input's layout, in
    PyTorch's rule).
input_shape : sequence of ints
    Shape of the pooled input.
{parameters}
out : ndarray, optional, keyword-only
    Where to write the gradient: aligned, writeable, ``input_shape``, ``grad_output``'s dtype,
    C-contiguous or channels-last contiguous (its layout is the gradient's).
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum.

Returns
-------
grad_input : ndarray
    Shape ``input_shape``, dtype of ``grad_output``.

Raises
------
TypeError, ValueError
    As ``avg_pool{n}d``, and ValueError when ``grad_output`` does not have the pooled shape.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


def _avg_pool(n_dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, out, n_threads):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_float_array("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    geometry = pool_geometry(array.shape[-n_dims:], kernel_size, stride, padding, 1,
                             ceil_mode)
    count_include_pad = as_flag("count_include_pad", count_include_pad)
    divisor = check_divisor_override(divisor_override)
    channels_last = _layout.result_is_channels_last(array, out, n_dims)
    result = _arrays.output_array("out", out, array.shape[:-n_dims] + geometry.output_size,
                                  array.dtype, (array,), channels_last, n_dims)
    if result.size:
        pool_into(n_dims, array, geometry, result, count_include_pad, divisor, n_threads,
                  channels_last)
    return result


def _avg_pool_backward(n_dims, grad_output, input_shape, kernel_size, stride, padding,
                       ceil_mode, count_include_pad, divisor_override, out, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient = _arrays.as_float_array("grad_output", grad_output)
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    geometry = pool_geometry(shape[-n_dims:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_flag("count_include_pad", count_include_pad)
    divisor = check_divisor_override(divisor_override)
    expected = shape[:-n_dims] + geometry.output_size
    if gradient.shape != expected:
        raise ValueError(
            f"grad_output must have shape {expected} (avg_pool{n_dims}d's output for "
            f"input_shape {shape}), got {gradient.shape}"
        )
    # The gradient's layout is the input's (PyTorch's rule), or out's.
    channels_last = _layout.result_is_channels_last(gradient, out, n_dims)
    grad_input = _arrays.output_array("out", out, shape, gradient.dtype, (gradient,),
                                      channels_last, n_dims)
    if grad_input.size:
        spread_into(n_dims, gradient, geometry, grad_input, count_include_pad, divisor,
                    n_threads, channels_last)
    return grad_input


def pool_into(n_dims, array, geometry, result, count_include_pad, divisor, n_threads,
              channels_last=False):
    """Average-pool the checked ``array`` with ``geometry`` into the non-empty ``result``
    (``divisor`` 0: none given), with the kernels of the given layout (``result`` must be
    contiguous in it).

    The kernels take ``geometry.padding`` only as the offset of the first window and clip taps
    to ``array``, so cypool.dask pools a slice of a plane with it (with ``divisor=1`` for
    window sums, as the divisor depends on the whole plane).
    """
    window = geometry.window_3d
    kernel_result = _half.kernel_output(result)
    forward = kernels.avg_pool_forward_cl if channels_last else kernels.avg_pool_forward
    forward(
        _arrays.kernel_view(_half.widened(array), n_dims, channels_last),
        _arrays.kernel_view(kernel_result, n_dims, channels_last),
        window.kernel, window.stride, window.padding, count_include_pad, divisor,
        n_threads=n_threads_for(n_threads, result.size * math.prod(geometry.kernel)),
    )
    _half.narrow_into(result, kernel_result)


def spread_into(n_dims, gradient, geometry, grad_input, count_include_pad, divisor,
                n_threads, channels_last=False):
    """The average-pool gradient of the checked ``gradient`` into the non-empty
    ``grad_input`` (``divisor`` 0: none given), with the kernels of the given layout;
    ``geometry.padding`` is the offset of the first window, as for ``pool_into``."""
    if gradient.dtype == _half.HALF:
        _half.avg_pool_backward(gradient, grad_input, geometry, count_include_pad, divisor,
                                n_dims)
        return
    window = geometry.window_3d
    n_threads = n_threads_for(n_threads, gradient.size * math.prod(geometry.kernel))
    if channels_last:
        kernels.avg_pool_backward_cl(
            _arrays.kernel_view(gradient, n_dims, True),
            _arrays.kernel_view(grad_input, n_dims, True),
            *_shares_cache(n_threads, gradient.shape[-1] * grad_input.shape[-n_dims - 1],
                           window.kernel, gradient.dtype),
            window.kernel, window.stride, window.padding, count_include_pad, divisor,
            n_threads=n_threads)
    else:
        kernels.avg_pool_backward(
            _arrays.planes(gradient, n_dims), _arrays.planes(grad_input, n_dims),
            window.kernel, window.stride, window.padding, count_include_pad, divisor,
            n_threads=n_threads)


def _shares_cache(n_threads, row_shares, kernel, dtype):
    """(shares, tags, slots): each thread's cache of output rows' shares (gradient / divisor,
    ``row_shares`` = OW * C per row) for the channels-last average backward, its tags (-1:
    empty), and its slot count: one per output row that can cover an input row (kernel depth
    * height), or one if those would pass _SHARES_CACHE_BYTES (then shares are divided again
    for every input row they reach). Each thread's rows end in at least a cache line that it
    does not use, so that no two threads write one line, wherever the arrays start.

    The arrays are the calling Python thread's, kept for its next call of the same sizes: a
    steady-state loop with ``out=`` allocates nothing (the cache is array-sized), and calls
    from other Python threads, which run at the same time, have their own."""
    slots = kernel[0] * kernel[1]
    if slots * row_shares * dtype.itemsize > _SHARES_CACHE_BYTES:
        slots = 1
    shares_shape = (n_threads, _with_spare_line(slots * row_shares, dtype.itemsize))
    tags_shape = (n_threads, _with_spare_line(slots, np.dtype(np.intp).itemsize))
    shares = getattr(_THREAD_SCRATCH, "shares", None)
    if (shares is None or shares.shape != shares_shape or shares.dtype != dtype
            or _THREAD_SCRATCH.tags.shape != tags_shape):
        shares = _THREAD_SCRATCH.shares = np.empty(shares_shape, dtype)
        _THREAD_SCRATCH.tags = np.empty(tags_shape, np.intp)
    tags = _THREAD_SCRATCH.tags
    tags.fill(-1)
    return shares, tags, slots


# Each Python thread's last _shares_cache arrays.
_THREAD_SCRATCH = threading.local()


def _with_spare_line(count, itemsize, line_bytes=64):
    """``count`` items of ``itemsize`` bytes, rounded up to whole cache lines, plus a line."""
    per_line = line_bytes // itemsize
    return (-(-count // per_line) + 1) * per_line


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, out=None, n_threads=None):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, out, n_threads)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, out=None, n_threads=None):
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, out, n_threads)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, out=None, n_threads=None):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, out, n_threads)


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                        out=None, n_threads=None):
    return _avg_pool_backward(1, grad_output, input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad, divisor_override, out, n_threads)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                        out=None, n_threads=None):
    return _avg_pool_backward(2, grad_output, input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad, divisor_override, out, n_threads)


def avg_pool3d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                        out=None, n_threads=None):
    return _avg_pool_backward(3, grad_output, input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad, divisor_override, out, n_threads)


_SPATIAL = {1: ("L", "OL"), 2: ("H, W", "OH, OW"), 3: ("D, H, W", "OD, OH, OW")}

_FORWARD_EXAMPLES = {
    1: """>>> x = np.ones((1, 6))
>>> cypool.avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True)
array([[0.66666667, 1.        , 1.        , 0.5       ]])
>>> cypool.avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
array([[1., 1., 1., 1.]])""",
    2: """>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> cypool.avg_pool2d(x, 2)
array([[[[ 2.5,  4.5],
         [10.5, 12.5]]]], dtype=float32)""",
    3: """>>> x = np.ones((2, 3, 4, 4, 4), dtype=np.float32)
>>> cypool.avg_pool3d(x, (2, 2, 4), divisor_override=4)[0, 0].ravel().tolist()
[4.0, 4.0, 4.0, 4.0]""",
}

_BACKWARD_EXAMPLES = {
    1: """>>> g = np.ones((1, 4))
>>> cypool.avg_pool1d_backward(g, (1, 6), 3, stride=2, padding=1, ceil_mode=True)
array([[0.33333333, 0.66666667, 0.33333333, 0.66666667, 0.33333333,
        0.83333333]])""",
    2: """>>> g = np.ones((1, 1, 2, 2), dtype=np.float32)
>>> cypool.avg_pool2d_backward(g, (1, 1, 4, 4), 2)[0, 0]
array([[0.25, 0.25, 0.25, 0.25],
       [0.25, 0.25, 0.25, 0.25],
       [0.25, 0.25, 0.25, 0.25],
       [0.25, 0.25, 0.25, 0.25]], dtype=float32)""",
    3: """>>> g = np.ones((1, 1, 1, 1, 1))
>>> cypool.avg_pool3d_backward(g, (1, 1, 2, 2, 2), 2).ravel().tolist()
[0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125]""",
}

for _n, (_forward, _backward) in {
    1: (avg_pool1d, avg_pool1d_backward),
    2: (avg_pool2d, avg_pool2d_backward),
    3: (avg_pool3d, avg_pool3d_backward),
}.items():
    _spatial, _out_spatial = _SPATIAL[_n]
    _parameters = _PARAMETERS.format(n=_n)
    _forward.__doc__ = _FORWARD_DOC.format(
        n=_n, spatial=_spatial, out_spatial=_out_spatial, parameters=_parameters,
        example=_FORWARD_EXAMPLES[_n])
    _backward.__doc__ = _BACKWARD_DOC.format(
        n=_n, out_spatial=_out_spatial, parameters=_parameters, example=_BACKWARD_EXAMPLES[_n])
