"""Power-average (Lp) pooling, forward and backward, over 1, 2 and 3 spatial dims.

Built as ``torch.nn.functional.lp_pool{n}d`` builds it, from average (or, for an infinite
norm, max) pooling and elementwise NumPy steps in the same order, so results follow PyTorch's:
bit for bit where its powers are exact (``norm_type`` 1 and 2, and the infinite norms), else to
within an ulp or two of float rounding (PyTorch computes general powers with its own
vectorised ``pow``). float16 follows PyTorch's chain of float16 operations, each computed in
float32 and rounded once (see ``_power`` and ``_scale`` for the two scalar rules), which makes
it bit for bit for every norm, forward and backward.
"""

from __future__ import annotations

import math

import numpy as np

from . import _arrays, _avg_pool, _half, _max_pool
from ._shape import as_flag, as_size_tuple


def _as_norm_type(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"norm_type must be a number, got {value!r}")
    norm = float(value)
    if norm == 0 or math.isnan(norm):
        raise ValueError(f"norm_type must be non-zero and not NaN, got {value!r}")
    return norm


def _power(array: np.ndarray, exponent: float) -> np.ndarray:
    """``array ** exponent`` with PyTorch's exact special cases for a scalar exponent.

    PyTorch's float16 ``pow`` casts the exponent to float16, computes in float32 and rounds
    once (the other float16 steps are single NumPy float16 operations, which round alike)."""
    if array.dtype == _half.HALF:
        exponent = float(_half.HALF.type(exponent))
        return _power(array.astype(np.float32), exponent).astype(_half.HALF)
    dtype = array.dtype.type
    with np.errstate(all="ignore"):
        if exponent == 1:
            return array.copy()
        if exponent == 2:
            return array * array
        if exponent == 3:
            return array * array * array
        if exponent == 0.5:
            return np.sqrt(array)
        if exponent == -0.5:
            return dtype(1) / np.sqrt(array)
        if exponent == -1:
            return dtype(1) / array
        if exponent == -2:
            return dtype(1) / (array * array)
        return np.power(array, dtype(exponent))


def _scale(array: np.ndarray, number: float) -> np.ndarray:
    """``number * array`` as PyTorch multiplies a tensor by a Python number: in the array's
    dtype, except that float16 is multiplied in float32 by the unrounded number (PyTorch's
    ``pow`` does round its exponent to float16; its multiplication does not) and rounded once."""
    if array.dtype == _half.HALF:
        return (np.float32(number) * array.astype(np.float32)).astype(_half.HALF)
    return array.dtype.type(number) * array


def _check_out(out, inputs):
    """The steps below read copies of the inputs, so the usual overlap check is made here."""
    if isinstance(out, np.ndarray) and any(np.shares_memory(out, array) for array in inputs):
        raise ValueError("out must not share memory with the inputs")


def _window(n_dims, kernel_size, stride):
    kernel = as_size_tuple("kernel_size", kernel_size, n_dims)
    return kernel, (None if stride is None else as_size_tuple("stride", stride, n_dims))


def _lp_pool(n_dims, input, norm_type, kernel_size, stride, ceil_mode, out, n_threads):
    norm = _as_norm_type(norm_type)
    array = _arrays.as_float_array("input", input)
    kernel, stride = _window(n_dims, kernel_size, stride)
    ceil_mode = as_flag("ceil_mode", ceil_mode)
    _check_out(out, (array,))
    if math.isinf(norm):
        max_pool = getattr(_max_pool, f"max_pool{n_dims}d")
        magnitude = np.abs(array) if norm > 0 else -np.abs(array)
        result = max_pool(magnitude, kernel, stride, 0, 1, ceil_mode, out=out,
                          n_threads=n_threads)
        if norm < 0:
            np.negative(result, out=result)
        return result
    avg_pool = getattr(_avg_pool, f"avg_pool{n_dims}d")
    pooled = avg_pool(_power(array, norm), kernel, stride, 0, ceil_mode, out=out,
                      n_threads=n_threads)
    dtype = array.dtype.type
    with np.errstate(all="ignore"):
        # PyTorch: (sign(out) * relu(abs(out))).mul(window size).pow(1 / norm_type)
        kept = np.sign(pooled) * np.maximum(np.abs(pooled), dtype(0))
        pooled[...] = _power(_scale(kept, math.prod(kernel)), 1.0 / norm)
    return pooled


def _lp_pool_backward(n_dims, grad_output, input, norm_type, kernel_size, stride, ceil_mode,
                      out, n_threads):
    """The chain rule through the forward's steps, each as PyTorch's autograd computes it."""
    norm = _as_norm_type(norm_type)
    array = _arrays.as_float_array("input", input)
    gradient = _arrays.as_float_array("grad_output", grad_output)
    if gradient.dtype != array.dtype:
        raise TypeError(f"grad_output must have input's dtype {array.dtype}, got "
                        f"{gradient.dtype}")
    kernel, stride = _window(n_dims, kernel_size, stride)
    ceil_mode = as_flag("ceil_mode", ceil_mode)
    _check_out(out, (array, gradient))
    dtype = array.dtype.type
    if math.isinf(norm):
        max_pool = getattr(_max_pool, f"max_pool{n_dims}d")
        magnitude = np.abs(array) if norm > 0 else -np.abs(array)
        values, indices = max_pool(magnitude, kernel, stride, 0, 1, ceil_mode, True,
                                   n_threads=n_threads)
        if gradient.shape != values.shape:
            raise ValueError(f"grad_output must have shape {values.shape} (lp_pool{n_dims}d's "
                             f"output for input {array.shape}), got {gradient.shape}")
        backward = getattr(_max_pool, f"max_pool{n_dims}d_backward")
        grad_input = backward(gradient if norm > 0 else -gradient, indices, array.shape,
                              out=out, n_threads=n_threads)
        grad_input *= np.sign(array) if norm > 0 else -np.sign(array)
        return grad_input
    avg_pool = getattr(_avg_pool, f"avg_pool{n_dims}d")
    powered = _power(array, norm)
    pooled = avg_pool(powered, kernel, stride, 0, ceil_mode, n_threads=n_threads)
    if gradient.shape != pooled.shape:
        raise ValueError(f"grad_output must have shape {pooled.shape} (lp_pool{n_dims}d's "
                         f"output for input {array.shape}), got {gradient.shape}")
    with np.errstate(all="ignore"):
        sign = np.sign(pooled)
        kept = np.maximum(np.abs(pooled), dtype(0))
        scaled = _scale(sign * kept, math.prod(kernel))
        # pow(scaled, 1/p): grad * ((1/p) * scaled ** (1/p - 1))
        grad = gradient * _scale(_power(scaled, 1.0 / norm - 1.0), 1.0 / norm)
        grad = _scale(grad, math.prod(kernel))             # mul(window size)
        # sign * relu(abs(.)): relu passes the gradient where its input is not <= 0 (NaN too)
        grad = np.where(kept <= 0, dtype(0), grad * sign) * sign
    avg_backward = getattr(_avg_pool, f"avg_pool{n_dims}d_backward")
    grad_input = avg_backward(grad.astype(array.dtype, copy=False), array.shape, kernel, stride,
                              0, ceil_mode, out=out, n_threads=n_threads)
    with np.errstate(all="ignore"):
        grad_input *= _scale(_power(array, norm - 1.0), norm)  # pow(input, p)
    return grad_input


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, out=None,
              n_threads=None):
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode, out, n_threads)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, out=None,
              n_threads=None):
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode, out, n_threads)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, out=None,
              n_threads=None):
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode, out, n_threads)


def lp_pool1d_backward(grad_output, input, norm_type, kernel_size, stride=None,
                       ceil_mode=False, *, out=None, n_threads=None):
    return _lp_pool_backward(1, grad_output, input, norm_type, kernel_size, stride, ceil_mode,
                             out, n_threads)


def lp_pool2d_backward(grad_output, input, norm_type, kernel_size, stride=None,
                       ceil_mode=False, *, out=None, n_threads=None):
    return _lp_pool_backward(2, grad_output, input, norm_type, kernel_size, stride, ceil_mode,
                             out, n_threads)


def lp_pool3d_backward(grad_output, input, norm_type, kernel_size, stride=None,
                       ceil_mode=False, *, out=None, n_threads=None):
    return _lp_pool_backward(3, grad_output, input, norm_type, kernel_size, stride, ceil_mode,
                             out, n_threads)


_DOC = """Power-average pooling over the {n}-d spatial axes, as ``torch.nn.functional.lp_pool{n}d``.

Each window gives ``(sum of x**p over the window) ** (1/p)``, computed as PyTorch computes it:
``avg_pool{n}d(x**p)`` times the window size, then the ``1/p`` power (so a ceil-mode window
that overhangs the input is scaled as PyTorch scales it). ``norm_type=inf`` is the max of
``|x|``, ``-inf`` the min of ``|x|``. No padding.

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; never modified.
norm_type : float
    The power p: non-zero, may be ``inf`` or ``-inf``.
kernel_size, stride : int or tuple of {n} ints
    Window size and step (``stride=None``: the kernel size).
ceil_mode : bool, default False
    Round the output size up.
out : ndarray, optional, keyword-only
    Where to write the result (C-contiguous, aligned, the result's shape and dtype).
n_threads : int, optional, keyword-only
    Threads for the pooling kernel; default (None) :func:`cypool.get_num_threads`.

Returns
-------
ndarray
    Shape ``(N, C, {out_spatial})``, the input's dtype.

Raises
------
TypeError
    For a non-float ``input`` or a non-numeric ``norm_type``.
ValueError
    For ``norm_type`` 0 or NaN, or a window that does not fit the input.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_BACKWARD_DOC = """Gradient of ``lp_pool{n}d`` with respect to its input.

The chain rule through the forward's steps, each as PyTorch's autograd computes it (so where
the p-th power sum of a window is 0 and ``p > 1``, the gradient is NaN or inf, as PyTorch's).

Parameters
----------
grad_output : array_like, float16, float32 or float64
    Gradient of ``lp_pool{n}d``'s output, its shape, ``input``'s dtype.
input : array_like
    The input of the forward call (the gradient depends on it).
norm_type, kernel_size, stride, ceil_mode
    As for the forward call.
out : ndarray, optional, keyword-only
    Where to write the gradient (``input``'s shape and dtype).
n_threads : int, optional, keyword-only
    Threads for the pooling kernels.

Returns
-------
ndarray
    The gradient with respect to ``input``.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""

_SPATIAL = {1: ("L", "OL"), 2: ("H, W", "OH, OW"), 3: ("D, H, W", "OD, OH, OW")}

_EXAMPLES = {
    1: (""">>> x = np.array([[[3., 4., 1., 1.]]])
>>> cypool.lp_pool1d(x, 2, 2)
array([[[5.        , 1.41421356]]])""",
        """>>> x = np.array([[[3., 4., 1., 1.]]])
>>> cypool.lp_pool1d_backward(np.ones((1, 1, 2)), x, 2, 2).round(4)
array([[[0.6   , 0.8   , 0.7071, 0.7071]]])"""),
    2: (""">>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
>>> cypool.lp_pool2d(x, float("inf"), 2)
array([[[[ 5.,  7.],
         [13., 15.]]]], dtype=float32)""",
        """>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
>>> cypool.lp_pool2d_backward(np.ones((1, 2, 2), np.float32), x, 1, 2)[0]
array([[1., 1., 1., 1.],
       [1., 1., 1., 1.],
       [1., 1., 1., 1.],
       [1., 1., 1., 1.]], dtype=float32)"""),
    3: (""">>> x = np.ones((1, 1, 2, 2, 2))
>>> cypool.lp_pool3d(x, 3, 2).item()
2.0""",
        """>>> x = np.ones((1, 2, 2, 2))
>>> cypool.lp_pool3d_backward(np.ones((1, 1, 1, 1)), x, 3, 2).round(6).ravel().tolist()
[0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]"""),
}

for _n, (_forward, _backward) in {1: (lp_pool1d, lp_pool1d_backward),
                                  2: (lp_pool2d, lp_pool2d_backward),
                                  3: (lp_pool3d, lp_pool3d_backward)}.items():
    _forward.__doc__ = _DOC.format(n=_n, spatial=_SPATIAL[_n][0], out_spatial=_SPATIAL[_n][1],
                                   example=_EXAMPLES[_n][0])
    _backward.__doc__ = _BACKWARD_DOC.format(n=_n, example=_EXAMPLES[_n][1])
