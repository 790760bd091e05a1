"""Global max and average pooling (one output per plane), forward and backward, 1/2/3-d.

``global_*_pool{n}d(x)`` equals ``adaptive_*_pool{n}d(x, 1)`` (PyTorch's semantics, bit for
bit) through kernels made for it: one reduction per plane, vectorised, parallel over planes
and, for few large planes, over pieces of a plane, with a result that does not depend on the
thread count.
"""

from __future__ import annotations

import math

import numpy as np

from . import _arrays, _half
from ._backend import kernels
from ._max_pool import _max_pool_backward, max_backward_doc
from ._shape import as_flag
from ._threads import check_n_threads, n_threads_for

_SPATIAL = {1: ("L", "1", "w", "L"), 2: ("H, W", "1, 1", "h*W + w", "H*W"),
            3: ("D, H, W", "1, 1, 1", "(d*H + h)*W + w", "D*H*W")}

_MAX_DOC = """Global max pooling over the {n}-d spatial axes of ``input``: the maximum of each plane.

The same as ``adaptive_max_pool{n}d(input, 1)`` (and ``torch.nn.functional.adaptive_max_pool{n}d``
with output size 1), through a kernel that reduces each plane at once.

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified.
return_indices : bool, default False
    Also return the position of each maximum.
out : ndarray or (ndarray, ndarray), optional, keyword-only
    Where to write the result (a ``(values, indices)`` pair when ``return_indices``):
    C-contiguous, writeable, of the result's exact shape and dtype.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).
    A few large planes are split between the threads; the result never depends on them.
index_dtype : {{numpy.int64, numpy.int32}}, default numpy.int64, keyword-only
    dtype of the indices (int32 for planes below 2**31 elements).

Returns
-------
values : ndarray
    Shape ``(N, C, {ones})`` (or unbatched): the spatial axes are kept, with size 1.
indices : ndarray of int64 (or ``index_dtype``), only with ``return_indices``
    Flat position of each maximum in its plane, {index_formula}. Ties give the first maximum in
    raster order; a NaN beats every number, and of several NaNs the last wins.

Raises
------
TypeError
    For a non-float ``input`` or an ``out`` of the wrong type or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, or an ``out`` of the
    wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_AVG_DOC = """Global average pooling over the {n}-d spatial axes of ``input``: the mean of each plane.

The same as ``adaptive_avg_pool{n}d(input, 1)``, bit for bit as PyTorch computes it: PyTorch
takes ``input.mean(spatial axes)`` there, whose float sum follows its vectorised cascade
order (with the AVX2 vector width of 8 float32 or 4 float64 lanes), then divides once by the
plane size; cypool reproduces that order for any thread count. (PyTorch itself, running more
than one thread, sums a single plane of 32768 elements or more in another order.)

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified.
out : ndarray, optional, keyword-only
    Where to write the result: C-contiguous, writeable, of the result's exact shape and dtype.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).

Returns
-------
ndarray
    Shape ``(N, C, {ones})`` (or unbatched), the input's dtype.

Raises
------
TypeError
    For a non-float ``input`` or an ``out`` of the wrong type or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, or an ``out`` of the
    wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


_AVG_BACKWARD_DOC = """Gradient of ``global_avg_pool{n}d`` with respect to its input.

Every element of a plane gets ``grad_output / plane size`` (one division, as PyTorch's mean).

Parameters
----------
grad_output : array_like, float16, float32 or float64
    Gradient of the pooled output, shape ``(N, C, {ones})`` or unbatched.
input_shape : sequence of ints
    Shape of the pooled input; must agree with ``grad_output`` on the batch and channel axes.
out : ndarray, optional, keyword-only
    Where to write the gradient: C-contiguous, writeable, ``input_shape``, ``grad_output``'s
    dtype.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum.

Returns
-------
grad_input : ndarray
    Shape ``input_shape``, dtype of ``grad_output``.

Raises
------
TypeError
    For a non-float ``grad_output`` or a wrong ``out`` type or dtype.
ValueError
    For mismatched shapes or spatial sizes of ``grad_output`` other than 1.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


def _planes_of(array, n_dims):
    """A C-contiguous ``(planes, plane_size)`` view of a pooling array (copying if needed)."""
    return _arrays.planes(array, n_dims).reshape(
        -1, math.prod(array.shape[array.ndim - n_dims:]))


def global_max(n_dims, array, return_indices, out, n_threads, index_dtype):
    """Global max pooling of a checked float ``array`` (also adaptive max to all-ones)."""
    index_dtype = _arrays.as_index_dtype("index_dtype", index_dtype,
                                         math.prod(array.shape[-n_dims:]))
    output_shape = array.shape[:-n_dims] + (1,) * n_dims
    values, indices = _arrays.value_index_outputs(out, return_indices, output_shape,
                                                  array.dtype, index_dtype, array)
    if values.size:
        n_threads = n_threads_for(n_threads, array.size)
        kernel_values = _half.kernel_output(values)
        planes = _planes_of(_half.widened(array), n_dims)
        if indices is None:
            kernels.global_max_pool_forward_values(planes, kernel_values.reshape(-1),
                                                   n_threads=n_threads)
        else:
            kernels.global_max_pool_forward(planes, kernel_values.reshape(-1),
                                            indices.reshape(-1), n_threads=n_threads)
        _half.narrow_into(values, kernel_values)
    return (values, indices) if return_indices else values


def global_avg(n_dims, array, out, n_threads):
    """Global average pooling of a checked float ``array`` (also adaptive avg to all-ones)."""
    result = _arrays.output_array("out", out, array.shape[:-n_dims] + (1,) * n_dims,
                                  array.dtype, (array,))
    if result.size:
        # float16: PyTorch's mean sums in float32 (in the float32 order) and rounds once.
        kernel_result = _half.kernel_output(result)
        kernels.global_avg_pool_forward(_planes_of(_half.widened(array), n_dims),
                                        kernel_result.reshape(-1),
                                        n_threads=n_threads_for(n_threads, array.size))
        _half.narrow_into(result, kernel_result)
    return result


def global_avg_backward(n_dims, gradient, shape, out, n_threads):
    """Gradient of global average pooling; ``gradient`` and ``shape`` are checked."""
    grad_input = _arrays.output_array("out", out, shape, gradient.dtype, (gradient,))
    if grad_input.size:
        # float16: g / plane size in float32, rounded once (PyTorch's mean backward).
        kernel_grad = _half.kernel_output(grad_input)
        kernels.global_avg_pool_backward(
            _planes_of(_half.widened(gradient), n_dims).reshape(-1),
            kernel_grad.reshape(-1, math.prod(shape[-n_dims:])),
            n_threads=n_threads_for(n_threads, grad_input.size))
        _half.narrow_into(grad_input, kernel_grad)
    return grad_input


def _check_global_gradient(n_dims, gradient, shape):
    if gradient.shape[-n_dims:] != (1,) * n_dims:
        raise ValueError(
            f"grad_output must have spatial size 1 along every axis (global pooling's "
            f"output), got shape {gradient.shape}"
        )
    if shape[:-n_dims] != gradient.shape[:-n_dims]:
        raise ValueError(
            f"input_shape {shape} does not match grad_output {gradient.shape} on the batch "
            f"and channel axes"
        )


def _global_max_pool(n_dims, input, return_indices, out, n_threads, index_dtype):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_float_array("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    return global_max(n_dims, array, as_flag("return_indices", return_indices), out,
                      n_threads, index_dtype)


def _global_avg_pool(n_dims, input, out, n_threads):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_float_array("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    return global_avg(n_dims, array, out, n_threads)


def _global_max_pool_backward(n_dims, grad_output, indices, input_shape, out, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient = _arrays.as_float_array("grad_output", grad_output)
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _check_global_gradient(n_dims, gradient, shape)
    return _max_pool_backward(n_dims, gradient, indices, shape, out, n_threads,
                              keeps_channels_last=False)


def _global_avg_pool_backward(n_dims, grad_output, input_shape, out, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient = _arrays.as_float_array("grad_output", grad_output)
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    _check_global_gradient(n_dims, gradient, shape)
    return global_avg_backward(n_dims, gradient, shape, out, n_threads)


def global_max_pool1d(input, return_indices=False, *, out=None, n_threads=None,
                      index_dtype=np.int64):
    return _global_max_pool(1, input, return_indices, out, n_threads, index_dtype)


def global_max_pool2d(input, return_indices=False, *, out=None, n_threads=None,
                      index_dtype=np.int64):
    return _global_max_pool(2, input, return_indices, out, n_threads, index_dtype)


def global_max_pool3d(input, return_indices=False, *, out=None, n_threads=None,
                      index_dtype=np.int64):
    return _global_max_pool(3, input, return_indices, out, n_threads, index_dtype)


def global_avg_pool1d(input, *, out=None, n_threads=None):
    return _global_avg_pool(1, input, out, n_threads)


def global_avg_pool2d(input, *, out=None, n_threads=None):
    return _global_avg_pool(2, input, out, n_threads)


def global_avg_pool3d(input, *, out=None, n_threads=None):
    return _global_avg_pool(3, input, out, n_threads)


def global_max_pool1d_backward(grad_output, indices, input_shape, *, out=None, n_threads=None):
    return _global_max_pool_backward(1, grad_output, indices, input_shape, out, n_threads)


def global_max_pool2d_backward(grad_output, indices, input_shape, *, out=None, n_threads=None):
    return _global_max_pool_backward(2, grad_output, indices, input_shape, out, n_threads)


def global_max_pool3d_backward(grad_output, indices, input_shape, *, out=None, n_threads=None):
    return _global_max_pool_backward(3, grad_output, indices, input_shape, out, n_threads)


def global_avg_pool1d_backward(grad_output, input_shape, *, out=None, n_threads=None):
    return _global_avg_pool_backward(1, grad_output, input_shape, out, n_threads)


def global_avg_pool2d_backward(grad_output, input_shape, *, out=None, n_threads=None):
    return _global_avg_pool_backward(2, grad_output, input_shape, out, n_threads)


def global_avg_pool3d_backward(grad_output, input_shape, *, out=None, n_threads=None):
    return _global_avg_pool_backward(3, grad_output, input_shape, out, n_threads)


_MAX_EXAMPLES = {
    1: """>>> x = np.array([[[1., 5., 2., 5.], [np.nan, 0., np.nan, 3.]]], dtype=np.float32)
>>> values, indices = cypool.global_max_pool1d(x, return_indices=True)
>>> values.ravel().tolist(), indices.ravel().tolist()
([5.0, nan], [1, 2])""",
    2: """>>> x = np.arange(12, dtype=np.float64).reshape(1, 1, 3, 4)
>>> cypool.global_max_pool2d(x, return_indices=True)
(array([[[[11.]]]]), array([[[[11]]]]))""",
    3: """>>> x = np.zeros((2, 3, 4, 5, 6), dtype=np.float32)
>>> x[1, 2, 3, 0, 5] = 1
>>> values, indices = cypool.global_max_pool3d(x, return_indices=True)
>>> values.shape, int(indices[1, 2, 0, 0, 0])
((2, 3, 1, 1, 1), 95)""",
}

_AVG_EXAMPLES = {
    1: """>>> cypool.global_avg_pool1d(np.array([[1., 2., 3., 6.]]))
array([[3.]])""",
    2: """>>> x = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
>>> cypool.global_avg_pool2d(x)[:, :, 0, 0]
array([[ 1.5,  5.5,  9.5],
       [13.5, 17.5, 21.5]], dtype=float32)""",
    3: """>>> cypool.global_avg_pool3d(np.ones((1, 2, 3, 4, 5))).ravel().tolist()
[1.0, 1.0]""",
}

_MAX_BACKWARD_EXAMPLES = {
    1: """>>> x = np.array([[1., 5., 2., 5.]])
>>> values, indices = cypool.global_max_pool1d(x, return_indices=True)
>>> cypool.global_max_pool1d_backward(np.ones_like(values), indices, x.shape)
array([[0., 1., 0., 0.]])""",
    2: """>>> x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
>>> values, indices = cypool.global_max_pool2d(x, return_indices=True)
>>> cypool.global_max_pool2d_backward(values, indices, x.shape)
array([[[0., 0., 0.],
        [0., 0., 5.]]], dtype=float32)""",
    3: """>>> x = np.arange(8.).reshape(1, 1, 2, 2, 2)
>>> values, indices = cypool.global_max_pool3d(x, return_indices=True)
>>> cypool.global_max_pool3d_backward(values, indices, x.shape).ravel().tolist()
[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]""",
}

_AVG_BACKWARD_EXAMPLES = {
    1: """>>> cypool.global_avg_pool1d_backward(np.array([[[2.]]]), (1, 1, 4))
array([[[0.5, 0.5, 0.5, 0.5]]])""",
    2: """>>> g = np.ones((1, 1, 1), dtype=np.float32)
>>> cypool.global_avg_pool2d_backward(g, (1, 2, 2))
array([[[0.25, 0.25],
        [0.25, 0.25]]], dtype=float32)""",
    3: """>>> g = np.full((1, 1, 1, 1, 1), 8.)
>>> cypool.global_avg_pool3d_backward(g, (1, 1, 2, 2, 2)).ravel().tolist()
[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]""",
}

for _n, (_max, _avg, _max_backward, _avg_backward) in {
    1: (global_max_pool1d, global_avg_pool1d, global_max_pool1d_backward,
        global_avg_pool1d_backward),
    2: (global_max_pool2d, global_avg_pool2d, global_max_pool2d_backward,
        global_avg_pool2d_backward),
    3: (global_max_pool3d, global_avg_pool3d, global_max_pool3d_backward,
        global_avg_pool3d_backward),
}.items():
    _spatial, _ones, _formula, _plane = _SPATIAL[_n]
    _max.__doc__ = _MAX_DOC.format(n=_n, spatial=_spatial, ones=_ones,
                                   index_formula=f"``{_formula}``", example=_MAX_EXAMPLES[_n])
    _avg.__doc__ = _AVG_DOC.format(n=_n, spatial=_spatial, ones=_ones,
                                   example=_AVG_EXAMPLES[_n])
    _max_backward.__doc__ = max_backward_doc(
        f"global_max_pool{_n}d", _ones, _plane, _MAX_BACKWARD_EXAMPLES[_n],
        summary="Each plane's output gradient goes to the element its index names; every "
                "other element gets 0.",
        shape_errors=", spatial sizes of ``grad_output`` other than 1,")
    _avg_backward.__doc__ = _AVG_BACKWARD_DOC.format(n=_n, ones=_ones,
                                                     example=_AVG_BACKWARD_EXAMPLES[_n])
