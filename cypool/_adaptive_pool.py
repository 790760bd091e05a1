"""Adaptive max and average pooling, forward and backward, over 1, 2 and 3 spatial dims.

The output size is given; along an axis of input length ``L`` and output length ``O``, output
``o`` pools the window ``[floor(o*L/O), ceil((o+1)*L/O))``. An all-ones output size is global
pooling, which runs through the kernels of ``_global_pool`` (for average pooling that is also
where PyTorch changes its arithmetic: it takes ``input.mean``).
"""

from __future__ import annotations

import numpy as np

from . import _arrays, _global_pool, _half
from ._backend import kernels
from ._max_pool import _max_pool_backward, max_backward_doc
from ._shape import adaptive_output_size, as_flag, check_adaptive_sizes
from ._threads import check_n_threads, n_threads_for

_OUTPUT_SIZE = """output_size : int or tuple of {n} ints (or None)
    Output size per spatial axis; an int applies to every axis, and a ``None`` entry keeps
    that axis's input size. It may exceed the input size (windows then overlap)."""

_MAX_DOC = """Adaptive max pooling over the {n}-d spatial axes of ``input``, as ``torch.nn.functional.adaptive_max_pool{n}d``.

Along an axis of input length ``L`` and output length ``O``, output ``o`` is the maximum of
the window ``[floor(o*L/O), ceil((o+1)*L/O))``.

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified.
{output_size}
return_indices : bool, default False
    Also return the argmax of each window.
out : ndarray or (ndarray, ndarray), optional, keyword-only
    Where to write the result (a ``(values, indices)`` pair when ``return_indices``):
    C-contiguous, writeable, of the result's exact shape and dtype.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).
index_dtype : {{numpy.int64, numpy.int32}}, default numpy.int64, keyword-only
    dtype of the indices (int32 for planes below 2**31 elements).

Returns
-------
values : ndarray
    Shape ``(N, C, {out_spatial})`` (or unbatched), the input's dtype.
indices : ndarray of int64 (or ``index_dtype``), only with ``return_indices``
    Flat position of each maximum in its input plane: {index_formula}. Ties give the first
    maximum in raster order; a NaN beats every number, and of several NaNs the last wins.

Raises
------
TypeError
    For a non-float ``input``, a non-integer ``output_size``, or an ``out`` of the wrong type
    or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, an ``output_size`` of
    the wrong length or below 1, or an ``out`` of the wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_AVG_DOC = """Adaptive average pooling over the {n}-d spatial axes of ``input``, as ``torch.nn.functional.adaptive_avg_pool{n}d``.

Along an axis of input length ``L`` and output length ``O``, output ``o`` averages the window
``[floor(o*L/O), ceil((o+1)*L/O))``: the window is summed in the input dtype (float32 for
float16, rounded once at the end) in raster order, then divided by the window's extent along
each axis in turn (``sum / kd / kh / kw``), which reproduces PyTorch's CPU results bit for bit. An all-ones ``output_size`` is
``global_avg_pool{n}d`` (PyTorch computes a mean there, in another summation order).

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified.
{output_size}
out : ndarray, optional, keyword-only
    Where to write the result: C-contiguous, writeable, of the result's exact shape and dtype.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).

Returns
-------
ndarray
    Shape ``(N, C, {out_spatial})`` (or unbatched), the input's dtype.

Raises
------
TypeError
    For a non-float ``input``, a non-integer ``output_size``, or an ``out`` of the wrong type
    or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, an ``output_size`` of
    the wrong length or below 1, or an ``out`` of the wrong shape or layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


_AVG_BACKWARD_DOC = """Gradient of ``adaptive_avg_pool{n}d`` with respect to its input.

The output size is ``grad_output``'s. Each input element sums ``g / kd / kh / kw`` over the
outputs whose windows hold it, in output raster order (PyTorch's values, bit for bit;
deterministic for any thread count; float16 rounds after each division and each addition,
as PyTorch's float16 does). For an all-ones output size every element gets
``g / plane size``, as from PyTorch's mean (see ``global_avg_pool{n}d_backward``).

Parameters
----------
grad_output : array_like, float16, float32 or float64
    Gradient of the pooled output, shape ``(N, C, {out_spatial})`` or unbatched.
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
    For mismatched shapes.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


def _adaptive_max_pool(n_dims, input, output_size, return_indices, out, n_threads,
                       index_dtype):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_float_array("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    sizes = adaptive_output_size(output_size, array.shape[-n_dims:])
    return_indices = as_flag("return_indices", return_indices)
    if sizes == (1,) * n_dims:
        return _global_pool.global_max(n_dims, array, return_indices, out, n_threads,
                                       index_dtype)
    index_dtype = _arrays.as_index_dtype("index_dtype", index_dtype,
                                         int(np.prod(array.shape[-n_dims:], dtype=object)))
    values, indices = _arrays.value_index_outputs(out, return_indices,
                                                  array.shape[:-n_dims] + sizes, array.dtype,
                                                  index_dtype, array)
    if values.size:
        n_threads = n_threads_for(n_threads, max(array.size, values.size))
        kernel_values = _half.kernel_output(values)
        planes = _arrays.planes(_half.widened(array), n_dims)
        if indices is None:
            kernels.adaptive_max_pool_forward_values(planes,
                                                     _arrays.planes(kernel_values, n_dims),
                                                     n_threads=n_threads)
        else:
            kernels.adaptive_max_pool_forward(planes, _arrays.planes(kernel_values, n_dims),
                                              _arrays.planes(indices, n_dims),
                                              n_threads=n_threads)
        _half.narrow_into(values, kernel_values)
    return (values, indices) if return_indices else values


def _adaptive_avg_pool(n_dims, input, output_size, out, n_threads):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_float_array("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    sizes = adaptive_output_size(output_size, array.shape[-n_dims:])
    if sizes == (1,) * n_dims:
        return _global_pool.global_avg(n_dims, array, out, n_threads)
    result = _arrays.output_array("out", out, array.shape[:-n_dims] + sizes, array.dtype,
                                  (array,))
    if result.size:
        # float16: PyTorch sums in float32 and divides before it rounds, as this does.
        kernel_result = _half.kernel_output(result)
        kernels.adaptive_avg_pool_forward(
            _arrays.planes(_half.widened(array), n_dims), _arrays.planes(kernel_result, n_dims),
            n_threads=n_threads_for(n_threads, max(array.size, result.size)))
        _half.narrow_into(result, kernel_result)
    return result


def _adaptive_max_pool_backward(n_dims, grad_output, indices, input_shape, out, n_threads):
    # Its forward returns C order: so does the gradient, whatever grad_output's layout.
    return _max_pool_backward(n_dims, grad_output, indices, input_shape, out, n_threads,
                              keeps_channels_last=False)


def _adaptive_avg_pool_backward(n_dims, grad_output, input_shape, out, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient = _arrays.as_float_array("grad_output", grad_output)
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    if shape[:-n_dims] != gradient.shape[:-n_dims]:
        raise ValueError(
            f"input_shape {shape} does not match grad_output {gradient.shape} on the batch "
            f"and channel axes"
        )
    check_adaptive_sizes("grad_output's spatial size", gradient.shape[-n_dims:],
                         shape[-n_dims:])
    if gradient.shape[-n_dims:] == (1,) * n_dims:
        return _global_pool.global_avg_backward(n_dims, gradient, shape, out, n_threads)
    grad_input = _arrays.output_array("out", out, shape, gradient.dtype, (gradient,))
    if grad_input.size and gradient.dtype == _half.HALF:
        _half.adaptive_avg_pool_backward(gradient, grad_input, n_dims)
    elif grad_input.size:
        kernels.adaptive_avg_pool_backward(
            _arrays.planes(gradient, n_dims), _arrays.planes(grad_input, n_dims),
            n_threads=n_threads_for(n_threads, max(grad_input.size, gradient.size)))
    return grad_input


def adaptive_max_pool1d(input, output_size, return_indices=False, *, out=None, n_threads=None,
                        index_dtype=np.int64):
    return _adaptive_max_pool(1, input, output_size, return_indices, out, n_threads,
                              index_dtype)


def adaptive_max_pool2d(input, output_size, return_indices=False, *, out=None, n_threads=None,
                        index_dtype=np.int64):
    return _adaptive_max_pool(2, input, output_size, return_indices, out, n_threads,
                              index_dtype)


def adaptive_max_pool3d(input, output_size, return_indices=False, *, out=None, n_threads=None,
                        index_dtype=np.int64):
    return _adaptive_max_pool(3, input, output_size, return_indices, out, n_threads,
                              index_dtype)


def adaptive_avg_pool1d(input, output_size, *, out=None, n_threads=None):
    return _adaptive_avg_pool(1, input, output_size, out, n_threads)


def adaptive_avg_pool2d(input, output_size, *, out=None, n_threads=None):
    return _adaptive_avg_pool(2, input, output_size, out, n_threads)


def adaptive_avg_pool3d(input, output_size, *, out=None, n_threads=None):
    return _adaptive_avg_pool(3, input, output_size, out, n_threads)


def adaptive_max_pool1d_backward(grad_output, indices, input_shape, *, out=None,
                                 n_threads=None):
    return _adaptive_max_pool_backward(1, grad_output, indices, input_shape, out,
                                       n_threads)


def adaptive_max_pool2d_backward(grad_output, indices, input_shape, *, out=None,
                                 n_threads=None):
    return _adaptive_max_pool_backward(2, grad_output, indices, input_shape, out,
                                       n_threads)


def adaptive_max_pool3d_backward(grad_output, indices, input_shape, *, out=None,
                                 n_threads=None):
    return _adaptive_max_pool_backward(3, grad_output, indices, input_shape, out,
                                       n_threads)


def adaptive_avg_pool1d_backward(grad_output, input_shape, *, out=None, n_threads=None):
    return _adaptive_avg_pool_backward(1, grad_output, input_shape, out, n_threads)


def adaptive_avg_pool2d_backward(grad_output, input_shape, *, out=None, n_threads=None):
    return _adaptive_avg_pool_backward(2, grad_output, input_shape, out, n_threads)


def adaptive_avg_pool3d_backward(grad_output, input_shape, *, out=None, n_threads=None):
    return _adaptive_avg_pool_backward(3, grad_output, input_shape, out, n_threads)


_SPATIAL = {1: ("L", "OL", "w", "L"), 2: ("H, W", "OH, OW", "h*W + w", "H*W"),
            3: ("D, H, W", "OD, OH, OW", "(d*H + h)*W + w", "D*H*W")}

_MAX_EXAMPLES = {
    1: """>>> x = np.array([[[1., 5., 2., 0., 3.]]], dtype=np.float32)
>>> values, indices = cypool.adaptive_max_pool1d(x, 3, return_indices=True)
>>> values
array([[[5., 5., 3.]]], dtype=float32)
>>> indices
array([[[1, 1, 4]]])""",
    2: """>>> x = np.arange(20, dtype=np.float64).reshape(1, 1, 4, 5)
>>> cypool.adaptive_max_pool2d(x, (2, 3))
array([[[[ 6.,  8.,  9.],
         [16., 18., 19.]]]])
>>> cypool.adaptive_max_pool2d(x, (None, 2)).shape
(1, 1, 4, 2)""",
    3: """>>> x = np.arange(32, dtype=np.float32).reshape(1, 2, 2, 2, 4)
>>> values, indices = cypool.adaptive_max_pool3d(x, (1, 1, 2), return_indices=True)
>>> values.shape, indices[0, 1].ravel().tolist()
((1, 2, 1, 1, 2), [13, 15])""",
}

_AVG_EXAMPLES = {
    1: """>>> x = np.array([[1., 2., 3., 4., 5.]])
>>> cypool.adaptive_avg_pool1d(x, 3)
array([[1.5, 3. , 4.5]])""",
    2: """>>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> cypool.adaptive_avg_pool2d(x, 2)
array([[[[ 2.5,  4.5],
         [10.5, 12.5]]]], dtype=float32)""",
    3: """>>> x = np.ones((2, 3, 4, 5, 6), dtype=np.float32)
>>> cypool.adaptive_avg_pool3d(x, (2, 3, None)).shape
(2, 3, 2, 3, 6)""",
}

_MAX_BACKWARD_EXAMPLES = {
    1: """>>> x = np.array([[1., 5., 2., 0., 3.]])
>>> values, indices = cypool.adaptive_max_pool1d(x, 3, return_indices=True)
>>> cypool.adaptive_max_pool1d_backward(np.ones_like(values), indices, x.shape)
array([[0., 2., 0., 0., 1.]])""",
    2: """>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
>>> values, indices = cypool.adaptive_max_pool2d(x, 2, return_indices=True)
>>> cypool.adaptive_max_pool2d_backward(np.ones_like(values), indices, x.shape)[0]
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]], dtype=float32)""",
    3: """>>> x = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 2, 2)
>>> values, indices = cypool.adaptive_max_pool3d(x, (1, 1, 2), return_indices=True)
>>> cypool.adaptive_max_pool3d_backward(values, indices, x.shape).ravel().tolist()
[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0, 7.0]""",
}

_AVG_BACKWARD_EXAMPLES = {
    1: """>>> g = np.ones((1, 3))
>>> cypool.adaptive_avg_pool1d_backward(g, (1, 5))
array([[0.5       , 0.83333333, 0.33333333, 0.83333333, 0.5       ]])""",
    2: """>>> g = np.ones((1, 1, 2, 2), dtype=np.float32)
>>> cypool.adaptive_avg_pool2d_backward(g, (1, 1, 4, 4))[0, 0]
array([[0.25, 0.25, 0.25, 0.25],
       [0.25, 0.25, 0.25, 0.25],
       [0.25, 0.25, 0.25, 0.25],
       [0.25, 0.25, 0.25, 0.25]], dtype=float32)""",
    3: """>>> g = np.ones((1, 1, 1, 1, 2))
>>> cypool.adaptive_avg_pool3d_backward(g, (1, 1, 2, 2, 2)).ravel().tolist()
[0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]""",
}

for _n, (_max, _avg, _max_backward, _avg_backward) in {
    1: (adaptive_max_pool1d, adaptive_avg_pool1d, adaptive_max_pool1d_backward,
        adaptive_avg_pool1d_backward),
    2: (adaptive_max_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d_backward,
        adaptive_avg_pool2d_backward),
    3: (adaptive_max_pool3d, adaptive_avg_pool3d, adaptive_max_pool3d_backward,
        adaptive_avg_pool3d_backward),
}.items():
    _spatial, _out_spatial, _formula, _plane = _SPATIAL[_n]
    _output_size = _OUTPUT_SIZE.format(n=_n)
    _max.__doc__ = _MAX_DOC.format(n=_n, spatial=_spatial, out_spatial=_out_spatial,
                                   output_size=_output_size, index_formula=f"``{_formula}``",
                                   example=_MAX_EXAMPLES[_n])
    _avg.__doc__ = _AVG_DOC.format(n=_n, spatial=_spatial, out_spatial=_out_spatial,
                                   output_size=_output_size, example=_AVG_EXAMPLES[_n])
    _max_backward.__doc__ = max_backward_doc(f"adaptive_max_pool{_n}d", _out_spatial, _plane,
                                             _MAX_BACKWARD_EXAMPLES[_n])
    _avg_backward.__doc__ = _AVG_BACKWARD_DOC.format(n=_n, out_spatial=_out_spatial,
                                                     example=_AVG_BACKWARD_EXAMPLES[_n])
