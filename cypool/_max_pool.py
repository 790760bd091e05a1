"""Max pooling with argmax indices, forward and backward, over 1, 2 and 3 spatial dims."""

from __future__ import annotations

import math

import numpy as np

from . import _arrays, _half, _layout
from ._backend import kernels
from ._shape import as_flag, check_windows_hold_input, pool_geometry
from ._threads import check_n_threads, n_threads_for

_FORWARD_DOC = """Max pooling over the {n}-d spatial axes of ``input``, as ``torch.nn.functional.max_pool{n}d``.

Parameters
----------
input : array_like, float16, float32, float64 or integer (int8 to int64, uint8 to uint32)
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified. A channels-last input (C the axis of smallest stride, as
    ``x_nhwc.transpose(0, 3, 1, 2)``) is pooled where it lies and gives channels-last results.
kernel_size : int or tuple of {n} ints
    Window size.
stride : int or tuple of {n} ints, optional
    Window step; default (None) ``kernel_size``.
padding : int or tuple of {n} ints, default 0
    Implicit padding on both sides, at most ``kernel_size // 2``. Padding never wins the max.
dilation : int or tuple of {n} ints, default 1
    Spacing between window taps.
ceil_mode : bool, default False
    Round the output size up instead of down; a last window that would start past the input
    and its left padding is dropped.
return_indices : bool, default False
    Also return the argmax of each window.
out : ndarray or (ndarray, ndarray), optional, keyword-only
    Where to write the result (a ``(values, indices)`` pair when ``return_indices``): aligned,
    writeable, of the result's exact shape and dtype, C-contiguous or channels-last
    contiguous (its layout is the result's, whatever the input's).
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).
index_dtype : {{numpy.int64, numpy.int32}}, default numpy.int64, keyword-only
    dtype of the indices. int32 halves their memory traffic (planes below 2**31 elements).

Returns
-------
values : ndarray
    Shape ``(N, C, {out_spatial})`` (or unbatched), the input's dtype. Per axis
    ``out = floor((L + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1`` (ceil with
    ``ceil_mode``).
indices : ndarray of int64 (or ``index_dtype``), only with ``return_indices``
    Flat position of each maximum in its unpadded input plane: {index_formula}. Ties give the
    first maximum in raster order; a NaN beats every number, and of several NaNs the last wins.

Raises
------
TypeError
    For an ``input`` of another dtype (bool, uint64, complex, ...), non-integer sizes, or an
    ``out`` of the wrong type or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, non-positive sizes,
    ``padding > kernel_size // 2``, an output smaller than 1, a window made only of padding, or
    an ``out`` of the wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_BACKWARD_DOC = """Gradient of ``{forward}`` with respect to its input.

{summary}

Parameters
----------
grad_output : array_like, float16, float32 or float64
    Gradient of the pooled output, shape ``(N, C, {out_spatial})`` or unbatched.{grad_layout}
indices : array_like of integers (int64 and int32 are used as they are)
    The ``indices`` that ``{forward}(..., return_indices=True)`` returned; same shape as
    ``grad_output``; each must lie in ``[0, {plane_size})``.
input_shape : sequence of ints
    Shape of the pooled input; must agree with ``grad_output`` on the batch and channel axes.
out : ndarray, optional, keyword-only
    Where to write the gradient: aligned, writeable, ``input_shape``, ``grad_output``'s dtype,
    {out_layout}. Its contents are unspecified if an error is raised.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum.

Returns
-------
grad_input : ndarray
    Shape ``input_shape``, dtype of ``grad_output``.

Raises
------
TypeError
    For a non-float ``grad_output``, non-integer ``indices`` or a wrong ``out`` type or dtype.
ValueError
    For mismatched shapes{shape_errors} or an index outside the input plane.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_SCATTER_SUMMARY = (
    "Each output gradient is added to the input element its index names; where windows "
    "overlap,\ncontributions add up in output raster order (PyTorch's order, so float sums "
    "round alike;\nfloat16 rounds after each addition, as PyTorch's does).")


def max_backward_doc(forward: str, out_spatial: str, plane_size: str, example: str, *,
                     summary: str = _SCATTER_SUMMARY, keeps_channels_last: bool = False,
                     shape_errors: str = "") -> str:
    """The docstring of the backward of a max-pooling op (every one scatters through its
    indices with _max_pool_backward); ``keeps_channels_last`` as _max_pool_backward's."""
    return _BACKWARD_DOC.format(
        forward=forward, summary=summary, out_spatial=out_spatial, plane_size=plane_size,
        grad_layout=(" A\n    channels-last ``grad_output`` gives a channels-last gradient (the "
                     "input's layout, in\n    PyTorch's rule)." if keeps_channels_last else ""),
        out_layout=("C-contiguous or channels-last contiguous (its layout is the gradient's)"
                    if keeps_channels_last else "C-contiguous"),
        shape_errors=shape_errors, example=example)


def _max_pool(n_dims, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices, out, n_threads, index_dtype):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_max_pool_input("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    geometry = pool_geometry(array.shape[-n_dims:], kernel_size, stride, padding, dilation,
                             ceil_mode)
    check_windows_hold_input(geometry)
    return_indices = as_flag("return_indices", return_indices)
    index_dtype = _arrays.as_index_dtype("index_dtype", index_dtype,
                                         math.prod(geometry.input_size))
    channels_last = _layout.result_is_channels_last(array, out, n_dims)
    values, indices = _arrays.value_index_outputs(out, return_indices,
                                                  array.shape[:-n_dims] + geometry.output_size,
                                                  array.dtype, index_dtype, array,
                                                  channels_last, n_dims)
    if values.size:
        pool_into(n_dims, array, geometry, values, indices, n_threads, channels_last)
    return (values, indices) if return_indices else values


def pool_into(n_dims, array, geometry, values, indices, n_threads, channels_last=False):
    """Max-pool the checked ``array`` with ``geometry`` into ``values`` (and ``indices``, local
    to ``array``'s planes, unless None), both of ``geometry.output_size`` and non-empty, with
    the kernels of the given layout (``values`` and ``indices`` must be contiguous in it).

    The kernels take ``geometry.padding`` only as the offset of the first window and clip taps
    to ``array``: cypool.dask pools a slice of a plane with it (windows at the slice's edge
    keep the taps that lie in the slice).
    """
    window = geometry.window_3d
    n_threads = n_threads_for(n_threads, values.size * math.prod(geometry.kernel))
    kernel_values = _half.kernel_output(values)
    source = _arrays.kernel_view(_half.widened(array), n_dims, channels_last)
    target = _arrays.kernel_view(kernel_values, n_dims, channels_last)
    if indices is None:  # the values-only kernel moves less memory
        forward = (kernels.max_pool_forward_values_cl if channels_last
                   else kernels.max_pool_forward_values)
        forward(source, target, *window, n_threads=n_threads)
    else:
        forward = kernels.max_pool_forward_cl if channels_last else kernels.max_pool_forward
        forward(source, target, _arrays.kernel_view(indices, n_dims, channels_last), *window,
                n_threads=n_threads)
    _half.narrow_into(values, kernel_values)


def _max_pool_backward(n_dims, grad_output, indices, input_shape, out, n_threads,
                       keeps_channels_last=True):
    """The scatter of every max-pooling op's backward; ``keeps_channels_last=False`` (the ops
    whose forwards return C order) gives C-order gradients for any ``grad_output``."""
    n_threads = check_n_threads(n_threads)
    gradient = _arrays.as_float_array("grad_output", grad_output)
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    index_array = _arrays.as_index_array("indices", indices)
    if index_array.shape != gradient.shape:
        raise ValueError(
            f"indices must have the shape of grad_output {gradient.shape}, "
            f"got {index_array.shape}"
        )
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    if shape[:-n_dims] != gradient.shape[:-n_dims]:
        raise ValueError(
            f"input_shape {shape} does not match grad_output {gradient.shape} on the batch "
            f"and channel axes"
        )
    # The gradient's layout is the input's (PyTorch's rule), or out's.
    channels_last = keeps_channels_last and _layout.result_is_channels_last(gradient, out,
                                                                           n_dims)
    grad_input = _arrays.output_array("out", out, shape, gradient.dtype,
                                      (gradient, index_array), channels_last, n_dims)
    if grad_input.size == 0:
        return grad_input
    plane_count = math.prod(shape[:-n_dims])
    if gradient.dtype == _half.HALF:
        out_of_range = _half.max_pool_backward(gradient, index_array, grad_input, n_dims)
    elif channels_last:
        out_of_range = kernels.max_pool_backward_cl(
            _arrays.kernel_view(gradient, n_dims, True),
            _arrays.kernel_view(_arrays.with_kernel_index_dtype(index_array), n_dims, True),
            _arrays.kernel_view(grad_input, n_dims, True),
            n_threads=n_threads_for(n_threads, grad_input.size))
    else:
        out_of_range = kernels.max_pool_backward(
            _arrays.kernel_array(gradient).reshape(plane_count, -1),
            _arrays.as_kernel_indices(index_array).reshape(plane_count, -1),
            grad_input.reshape(plane_count, -1),
            n_threads=n_threads_for(n_threads, grad_input.size),
        )
    if out_of_range:
        plane_size = math.prod(shape[-n_dims:])
        raise ValueError(
            f"indices must lie in [0, {plane_size}) (the input plane of input_shape {shape}); "
            f"{out_of_range} do not"
        )
    return grad_input


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, out=None, n_threads=None, index_dtype=np.int64):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, out, n_threads, index_dtype)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, out=None, n_threads=None, index_dtype=np.int64):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, out, n_threads, index_dtype)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, out=None, n_threads=None, index_dtype=np.int64):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, out, n_threads, index_dtype)


def max_pool1d_backward(grad_output, indices, input_shape, *, out=None, n_threads=None):
    return _max_pool_backward(1, grad_output, indices, input_shape, out, n_threads)


def max_pool2d_backward(grad_output, indices, input_shape, *, out=None, n_threads=None):
    return _max_pool_backward(2, grad_output, indices, input_shape, out, n_threads)


def max_pool3d_backward(grad_output, indices, input_shape, *, out=None, n_threads=None):
    return _max_pool_backward(3, grad_output, indices, input_shape, out, n_threads)


_SPATIAL = {1: ("L", "OL", "w", "L"), 2: ("H, W", "OH, OW", "h*W + w", "H*W"),
            3: ("D, H, W", "OD, OH, OW", "(d*H + h)*W + w", "D*H*W")}

_FORWARD_EXAMPLES = {
    1: """>>> x = np.array([[[1., 5., 2., 0., 3.]]], dtype=np.float32)
>>> values, indices = cypool.max_pool1d(x, 3, stride=1, return_indices=True)
>>> values
array([[[5., 5., 3.]]], dtype=float32)
>>> indices
array([[[1, 1, 4]]])""",
    2: """>>> x = np.arange(20, dtype=np.float64).reshape(1, 1, 4, 5)
>>> cypool.max_pool2d(x, (2, 3), stride=2, padding=(0, 1))
array([[[[ 6.,  8.,  9.],
         [16., 18., 19.]]]])""",
    3: """>>> x = np.arange(32, dtype=np.float32).reshape(1, 2, 2, 2, 4)
>>> values, indices = cypool.max_pool3d(x, 2, return_indices=True)
>>> values.shape, indices[0, 1].ravel().tolist()
((1, 2, 1, 1, 2), [13, 15])""",
}

_BACKWARD_EXAMPLES = {
    1: """>>> x = np.array([[1., 5., 2., 0., 3.]])
>>> values, indices = cypool.max_pool1d(x, 3, stride=1, return_indices=True)
>>> cypool.max_pool1d_backward(np.ones_like(values), indices, x.shape)
array([[0., 2., 0., 0., 1.]])""",
    2: """>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
>>> values, indices = cypool.max_pool2d(x, 2, return_indices=True)
>>> cypool.max_pool2d_backward(np.ones_like(values), indices, x.shape)[0]
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]], dtype=float32)""",
    3: """>>> x = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 2, 2)
>>> values, indices = cypool.max_pool3d(x, 2, return_indices=True)
>>> cypool.max_pool3d_backward(values, indices, x.shape).ravel().tolist()
[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]""",
}

for _n, (_forward, _backward) in {
    1: (max_pool1d, max_pool1d_backward),
    2: (max_pool2d, max_pool2d_backward),
    3: (max_pool3d, max_pool3d_backward),
}.items():
    _spatial, _out_spatial, _formula, _plane = _SPATIAL[_n]
    _forward.__doc__ = _FORWARD_DOC.format(
        n=_n, spatial=_spatial, out_spatial=_out_spatial, index_formula=f"``{_formula}``",
        example=_FORWARD_EXAMPLES[_n])
    _backward.__doc__ = max_backward_doc(f"max_pool{_n}d", _out_spatial, _plane,
                                         _BACKWARD_EXAMPLES[_n], keeps_channels_last=True)
