"""Max unpooling (the partial inverse of max pooling with indices), 1/2/3-d."""

from __future__ import annotations

import math

import numpy as np

from . import _arrays, _half
from ._backend import kernels
from ._shape import SIZE_ARGUMENT_LIMIT, as_int, as_size_tuple, as_stride
from ._threads import check_n_threads, n_threads_for

_DOC = """Max unpooling over {n}-d spatial axes, as ``torch.nn.functional.max_unpool{n}d``.

Builds a zero array of the pooled input's size and puts each value of ``input`` at the flat
position its index names in its plane (``output[n, c].flat[indices[n, c, ...]] = input[n, c,
...]``). Where indices repeat within a plane, the last one in raster order wins (PyTorch's
one-thread result; PyTorch's threads can pick another), for any ``n_threads``.

Parameters
----------
input : array_like, float16, float32, float64 or integer (int8 to int64, uint8 to uint32)
    Pooled values, shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0.
    Values are copied as they are (PyTorch unpools float16, float32 and float64).
indices : array_like of integers
    Same shape as ``input``, such as ``max_pool{n}d(..., return_indices=True)`` returns; each
    must lie in ``[0, {plane})`` of the output plane.
kernel_size : int or tuple of {n} ints
    The pooling window that produced ``input``.
stride : int or tuple of {n} ints, optional
    Its stride; default (None) ``kernel_size``.
padding : int or tuple of {n} ints, default 0
    Its padding.
output_size : sequence of ints, optional
    The output's spatial size ({n} ints, or {n_plus_2} with the batch and channel sizes first,
    which are ignored). Each must lie strictly between ``default - stride`` and
    ``default + stride``, where ``default = (L_in - 1)*stride - 2*padding + kernel_size`` is
    the size used without it.
out : ndarray, optional, keyword-only
    Where to write the result: C-contiguous, writeable, of the result's exact shape and dtype.
    Its contents are unspecified if an error is raised.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum.

Returns
-------
ndarray
    Shape ``(N, C, {out_spatial})`` (or unbatched), the input's dtype.

Raises
------
TypeError
    For an ``input`` of another dtype (bool, uint64, complex, ...), non-integer ``indices``
    or sizes, or a wrong ``out``.
ValueError
    For mismatched shapes, non-positive sizes, an ``output_size`` out of its range, an
    index outside the output plane, or an ``out`` of the wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


def _unpool_output_size(spatial, kernel, stride, padding, output_size):
    """PyTorch's ``_unpool_output_size``, with its checks."""
    n_dims = len(spatial)
    default = tuple((length - 1) * s - 2 * p + k
                    for length, k, s, p in zip(spatial, kernel, stride, padding))
    if output_size is None:
        sizes = default
    else:
        if not isinstance(output_size, (tuple, list)):
            raise TypeError(
                f"output_size must be None or a sequence of {n_dims} ints (or {n_dims + 2}), "
                f"got {output_size!r}"
            )
        sizes = tuple(output_size)
        if len(sizes) == n_dims + 2:
            sizes = sizes[2:]
        if len(sizes) != n_dims:
            raise ValueError(
                f"output_size must have {n_dims} or {n_dims + 2} elements, got {output_size!r}"
            )
        sizes = tuple(as_int("output_size", size, f"a sequence of {n_dims} ints")
                      for size in sizes)
        for axis, (size, base, s) in enumerate(zip(sizes, default, stride)):
            if not base - s < size < base + s:
                raise ValueError(
                    f"output_size {tuple(output_size)} is invalid: axis {axis} must lie "
                    f"strictly between {base - s} and {base + s} (kernel_size={kernel}, "
                    f"stride={stride}, padding={padding})"
                )
    if min(sizes) < 1:
        raise ValueError(
            f"output size {sizes} is too small: input size {tuple(spatial)} with "
            f"kernel_size={kernel}, stride={stride}, padding={padding}"
        )
    return sizes


def _max_unpool(n_dims, input, indices, kernel_size, stride, padding, output_size, out,
                n_threads):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_max_pool_input("input", input)  # whatever max pooling gives back
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    index_array = _arrays.as_index_array("indices", indices)
    if index_array.shape != array.shape:
        raise ValueError(
            f"indices must have the shape of input {array.shape}, got {index_array.shape}"
        )
    kernel = as_size_tuple("kernel_size", kernel_size, n_dims)
    strides = as_stride(stride, kernel)
    paddings = as_size_tuple("padding", padding, n_dims)
    for name, values in (("kernel_size", kernel), ("stride", strides)):
        if min(values) <= 0:
            raise ValueError(f"{name} must be positive, got {values}")
    if min(paddings) < 0:
        raise ValueError(f"padding must be non-negative, got {paddings}")
    sizes = _unpool_output_size(array.shape[-n_dims:], kernel, strides, paddings, output_size)
    if max(sizes) > SIZE_ARGUMENT_LIMIT or math.prod(sizes) > SIZE_ARGUMENT_LIMIT:
        raise ValueError(
            f"output size {sizes} is too large (output_size={output_size!r}, "
            f"kernel_size={kernel}, stride={strides}, padding={paddings})"
        )
    result = _arrays.output_array("out", out, array.shape[:-n_dims] + sizes, array.dtype,
                                  (array, index_array))
    if result.size == 0:
        return result
    plane_count = math.prod(array.shape[:-n_dims])
    # Unpooling only moves values and writes zeros: float16 moves as its bits (0 is +0.0).
    bits = np.uint16 if array.dtype == _half.HALF else array.dtype
    out_of_range = kernels.max_unpool_forward(
        _arrays.kernel_array(array).view(bits).reshape(plane_count, -1),
        _arrays.as_kernel_indices(index_array).reshape(plane_count, -1),
        result.view(bits).reshape(plane_count, -1),
        n_threads=n_threads_for(n_threads, result.size),
    )
    if out_of_range:
        raise ValueError(
            f"indices must lie in [0, {math.prod(sizes)}) (the output plane of spatial size "
            f"{sizes}); {out_of_range} do not"
        )
    return result


def _max_unpool_backward(n_dims, grad_output, indices, out, n_threads):
    check_n_threads(n_threads)  # checked for a uniform API; the gather runs in NumPy
    gradient = _arrays.as_float_array("grad_output", grad_output)
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    index_array = _arrays.as_index_array("indices", indices)
    if (index_array.ndim != gradient.ndim
            or index_array.shape[:-n_dims] != gradient.shape[:-n_dims]):
        raise ValueError(
            f"indices must have grad_output's batch and channel axes {gradient.shape[:-n_dims]} "
            f"and {n_dims} spatial axes, got shape {index_array.shape}"
        )
    result = _arrays.output_array("out", out, index_array.shape, gradient.dtype,
                                  (gradient, index_array))
    if result.size == 0:
        return result
    plane_count = math.prod(gradient.shape[:-n_dims])
    plane_size = math.prod(gradient.shape[-n_dims:])
    where = index_array.reshape(plane_count, -1)
    outside = int(np.count_nonzero((where < 0) | (where >= plane_size)))
    if outside:
        raise ValueError(
            f"indices must lie in [0, {plane_size}) (the plane of grad_output); "
            f"{outside} do not"
        )
    result.reshape(plane_count, -1)[...] = np.take_along_axis(
        gradient.reshape(plane_count, -1), where.astype(np.intp, copy=False), axis=1)
    return result


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None, *,
                 out=None, n_threads=None):
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size, out,
                       n_threads)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None, *,
                 out=None, n_threads=None):
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size, out,
                       n_threads)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None, *,
                 out=None, n_threads=None):
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size, out,
                       n_threads)


def max_unpool1d_backward(grad_output, indices, *, out=None, n_threads=None):
    return _max_unpool_backward(1, grad_output, indices, out, n_threads)


def max_unpool2d_backward(grad_output, indices, *, out=None, n_threads=None):
    return _max_unpool_backward(2, grad_output, indices, out, n_threads)


def max_unpool3d_backward(grad_output, indices, *, out=None, n_threads=None):
    return _max_unpool_backward(3, grad_output, indices, out, n_threads)


_BACKWARD_DOC = """Gradient of ``max_unpool{n}d`` with respect to its ``input``.

Each input element's gradient is the output gradient at the position its index names (a
gather, as PyTorch's autograd computes it: where indices repeat, every one of them gets that
gradient, including those whose value the last one overwrote).

Parameters
----------
grad_output : array_like, float16, float32 or float64
    Gradient of the unpooled output, shape ``(N, C, {out_spatial})`` or unbatched.
indices : array_like of integers
    The ``indices`` given to ``max_unpool{n}d``; its shape is the gradient's.
out : ndarray, optional, keyword-only
    Where to write the gradient (``indices``' shape, ``grad_output``'s dtype).
n_threads : int, optional, keyword-only
    Accepted for a uniform API (the gather runs in NumPy).

Returns
-------
ndarray
    Shape of ``indices``, dtype of ``grad_output``.

Examples
--------
>>> import numpy as np
>>> import cypool
>>> grad = np.arange(6.).reshape(1, 1, 6)
>>> cypool.max_unpool{n}d_backward(grad.reshape((1, 1) + (1,) * {n_minus_1} + (6,)),
...                              np.array([5, 0, 2]).reshape((1, 1) + (1,) * {n_minus_1} + (3,))
...                              ).ravel().tolist()
[5.0, 0.0, 2.0]
"""

for _n, _backward in {1: max_unpool1d_backward, 2: max_unpool2d_backward,
                      3: max_unpool3d_backward}.items():
    _backward.__doc__ = _BACKWARD_DOC.format(n=_n, n_minus_1=_n - 1,
                                             out_spatial=("OL", "OH, OW", "OD, OH, OW")[_n - 1])

_EXAMPLES = {
    1: """>>> x = np.array([[1., 5., 2., 0., 3., 4.]])
>>> values, indices = cypool.max_pool1d(x, 2, return_indices=True)
>>> cypool.max_unpool1d(values, indices, 2)
array([[0., 5., 2., 0., 0., 4.]])
>>> cypool.max_unpool1d(np.array([[1., 2., 3.]]), np.array([[0, 0, 1]]), 2)  # last wins
array([[2., 3., 0., 0., 0., 0.]])""",
    2: """>>> x = np.arange(20, dtype=np.float32).reshape(1, 1, 4, 5)
>>> values, indices = cypool.max_pool2d(x, 2, return_indices=True)
>>> cypool.max_unpool2d(values, indices, 2, output_size=(4, 5))[0, 0]
array([[ 0.,  0.,  0.,  0.,  0.],
       [ 0.,  6.,  0.,  8.,  0.],
       [ 0.,  0.,  0.,  0.,  0.],
       [ 0., 16.,  0., 18.,  0.]], dtype=float32)""",
    3: """>>> x = np.arange(8.).reshape(1, 1, 2, 2, 2)
>>> values, indices = cypool.max_pool3d(x, 2, return_indices=True)
>>> cypool.max_unpool3d(values, indices, 2).ravel().tolist()
[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]""",
}

_SPATIAL = {1: ("L", "OL", "L_out"), 2: ("H, W", "OH, OW", "OH*OW"),
            3: ("D, H, W", "OD, OH, OW", "OD*OH*OW")}

for _n, _function in {1: max_unpool1d, 2: max_unpool2d, 3: max_unpool3d}.items():
    _spatial, _out_spatial, _plane = _SPATIAL[_n]
    _function.__doc__ = _DOC.format(n=_n, n_plus_2=_n + 2, spatial=_spatial,
                                    out_spatial=_out_spatial, plane=_plane,
                                    example=_EXAMPLES[_n])
