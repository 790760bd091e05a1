"""Slow, obviously-correct NumPy implementation of cypool's pooling operations.

This module is the test suite's oracle and the executable statement of the semantics that
cypool reproduces (those of ``torch.nn.functional`` on the CPU, bit for bit). It is written
independently of the compiled package: it imports nothing else from cypool. It favours
clarity over speed: explicit Python loops over output positions and window taps, vectorised
only across the ``N * C`` planes, which all share one window geometry.

Conventions shared by every function
------------------------------------
- ``input`` has shape ``(N, C, *spatial)`` or, unbatched, ``(C, *spatial)``; the result has
  the same batchedness. ``spatial`` has 1, 2 or 3 dimensions for the ``1d``, ``2d``, ``3d``
  functions.
- Every size argument (``kernel_size``, ``stride``, ``padding``, ``dilation``) is an int,
  used for every spatial dimension, or a tuple with one int per spatial dimension.
  ``stride=None`` means ``stride = kernel_size``.
- Output length per dimension, with ``L`` the input length (floor division)::

      out = (L + 2*p - d*(k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
      if ceil_mode and (out - 1) * s >= L + p:
          out -= 1          # the last window must start inside the input or left padding

- The window of output position ``o`` covers the taps ``o*s - p + t*d`` for ``t`` in
  ``range(k)`` (``d = 1`` for average pooling). Taps outside ``[0, L)`` are padding.
- Windows and the taps inside them are visited in raster order: depth, then height, then
  width, the last dimension fastest.
- Only float32 and float64 are supported; arithmetic is done in the input's dtype.

Max pooling: padding never takes part. The first real tap starts as the best; each later
real tap ``v`` replaces it when ``v > best or isnan(v)``. So ties keep the first maximum, and
with NaNs the last NaN in raster order wins. The index saved is the flat position of the
winner inside the unpadded ``(n, c)`` plane: ``w``, ``h*W + w`` or ``(d*H + h)*W + w``.

Average pooling: per dimension ``start = o*s - p``, ``end = min(start + k, L + p)``; the
divisor is ``divisor_override`` if given, else the product over dimensions of
``end - start`` (``count_include_pad=True``) or of the lengths clipped to ``[0, L)``
(``count_include_pad=False``). The real taps are summed in the input dtype in raster order
starting from 0, then divided once: ``sum / dtype(divisor)``.

Backward passes visit output positions in raster order. Max adds each output gradient into
the input element named by its index. Average computes ``delta = grad / dtype(divisor)`` and
adds it to each real tap of the window.
"""

import itertools
import operator

import numpy as np

__all__ = [
    "pooling_output_size",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
]

_SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------

def pooling_output_size(length, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """Number of windows along one dimension (PyTorch's ``pooling_output_shape``).

    ``(L + 2p - d(k-1) - 1 + (s-1 if ceil_mode else 0)) // s + 1``, then, with ``ceil_mode``,
    one less if the last window would start at or past ``L + p``. The result may be < 1 for
    an invalid geometry; callers decide what to do with it.

    >>> [pooling_output_size(5, 2, 2, 0, 1, c) for c in (False, True)]
    [2, 3]
    >>> [pooling_output_size(6, 3, 2, 1, 1, c) for c in (False, True)]
    [3, 4]
    """
    extra = stride - 1 if ceil_mode else 0
    out = (length + 2 * padding - dilation * (kernel_size - 1) - 1 + extra) // stride + 1
    if ceil_mode and (out - 1) * stride >= length + padding:
        out -= 1
    return out


def _as_tuple(value, n_dims, name):
    """An int (for every dimension) or a tuple of ``n_dims`` ints -> tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != n_dims:
            raise ValueError(f"{name} must have {n_dims} elements, got {value!r}")
        return tuple(operator.index(v) for v in value)
    return (operator.index(value),) * n_dims


def _params(n_dims, kernel_size, stride, padding, dilation):
    kernel_size = _as_tuple(kernel_size, n_dims, "kernel_size")
    stride = kernel_size if stride is None else _as_tuple(stride, n_dims, "stride")
    padding = _as_tuple(padding, n_dims, "padding")
    dilation = _as_tuple(dilation, n_dims, "dilation")
    return kernel_size, stride, padding, dilation


def _check_dtype(array, name):
    if array.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {array.dtype}")


def _as_planes(input, n_dims):
    """``(N, C, *spatial)`` or ``(C, *spatial)`` -> (planes ``(N*C, *spatial)``, lead shape)."""
    x = np.asarray(input)
    if x.ndim not in (n_dims + 1, n_dims + 2):
        raise ValueError(
            f"input must have {n_dims + 1} or {n_dims + 2} dimensions, got shape {x.shape}")
    _check_dtype(x, "input")
    lead_shape = x.shape[:-n_dims]
    spatial = x.shape[-n_dims:]
    return x.reshape((-1,) + spatial), lead_shape


def _output_shape(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    out_shape = tuple(
        pooling_output_size(L, k, s, p, d, ceil_mode)
        for L, k, s, p, d in zip(spatial, kernel_size, stride, padding, dilation))
    if any(o < 1 for o in out_shape):
        raise ValueError(f"output size {out_shape} is too small (input spatial size {spatial})")
    return out_shape


def _flat_index(position, spatial):
    """Row-major flat index of ``position`` in a plane of shape ``spatial``."""
    index = 0
    for i, L in zip(position, spatial):
        index = index * L + i
    return index


# --------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------

def _max_pool(n_dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    planes, lead_shape = _as_planes(input, n_dims)
    kernel_size, stride, padding, dilation = _params(
        n_dims, kernel_size, stride, padding, dilation)
    spatial = planes.shape[1:]
    out_shape = _output_shape(spatial, kernel_size, stride, padding, dilation, ceil_mode)
    n_planes = planes.shape[0]

    values = np.empty((n_planes,) + out_shape, dtype=planes.dtype)
    indices = np.empty((n_planes,) + out_shape, dtype=np.int64)
    for out_pos in itertools.product(*(range(o) for o in out_shape)):
        best = None
        best_index = None
        for tap in itertools.product(*(range(k) for k in kernel_size)):
            in_pos = tuple(o * s - p + t * d for o, t, s, p, d
                           in zip(out_pos, tap, stride, padding, dilation))
            if not all(0 <= i < L for i, L in zip(in_pos, spatial)):
                continue  # padding never takes part
            v = planes[(slice(None),) + in_pos]
            flat = _flat_index(in_pos, spatial)
            if best is None:
                best = v.copy()
                best_index = np.full(n_planes, flat, dtype=np.int64)
            else:
                # PyTorch's update rule: a strictly greater value or any NaN takes over,
                # so ties keep the first maximum and the last NaN wins.
                take = (v > best) | np.isnan(v)
                best = np.where(take, v, best)
                best_index = np.where(take, flat, best_index)
        if best is None:
            raise ValueError(
                f"max pooling window at output position {out_pos} holds only padding "
                f"(input spatial size {spatial}, kernel_size {kernel_size}, stride {stride}, "
                f"padding {padding}, dilation {dilation})")
        values[(slice(None),) + out_pos] = best
        indices[(slice(None),) + out_pos] = best_index

    values = values.reshape(lead_shape + out_shape)
    indices = indices.reshape(lead_shape + out_shape)
    return (values, indices) if return_indices else values


def _max_pool_backward(n_dims, grad_output, indices, input_shape):
    grad_output = np.asarray(grad_output)
    _check_dtype(grad_output, "grad_output")
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
    input_shape = tuple(operator.index(n) for n in input_shape)
    if indices.shape != grad_output.shape:
        raise ValueError(f"indices shape {indices.shape} != grad_output shape "
                         f"{grad_output.shape}")
    if len(input_shape) != grad_output.ndim or input_shape[:-n_dims] != grad_output.shape[:-n_dims]:
        raise ValueError(f"input_shape {input_shape} does not match grad_output shape "
                         f"{grad_output.shape}")
    plane_size = int(np.prod(input_shape[-n_dims:]))
    n_planes = int(np.prod(input_shape[:-n_dims]))

    out_size = int(np.prod(grad_output.shape[-n_dims:]))
    grads = grad_output.reshape(n_planes, out_size)
    where = indices.reshape(n_planes, out_size)
    if where.size and (where.min() < 0 or where.max() >= plane_size):
        raise ValueError("indices out of range")
    grad_input = np.zeros((n_planes, plane_size), dtype=grad_output.dtype)
    rows = np.arange(n_planes)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in C
        for j in range(grads.shape[1]):  # output positions in raster order
            grad_input[rows, where[:, j]] += grads[:, j]
    return grad_input.reshape(input_shape)


# --------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------

def _avg_window(out_pos, spatial, kernel_size, stride, padding, count_include_pad,
                divisor_override):
    """Per-dimension ranges of real taps of one window, and the window's divisor."""
    ranges = []
    padded_size = 1
    real_size = 1
    for o, L, k, s, p in zip(out_pos, spatial, kernel_size, stride, padding):
        start = o * s - p
        end = min(start + k, L + p)         # a ceil-mode overhang past the padding never counts
        padded_size *= end - start
        start, end = max(start, 0), min(end, L)
        real_size *= end - start
        ranges.append(range(start, end))
    if divisor_override is not None:
        divisor = divisor_override
    elif count_include_pad:
        divisor = padded_size
    else:
        divisor = real_size
    return ranges, divisor


def _avg_pool(n_dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    planes, lead_shape = _as_planes(input, n_dims)
    kernel_size, stride, padding, _ = _params(n_dims, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("divisor_override must be non-zero")
    spatial = planes.shape[1:]
    out_shape = _output_shape(spatial, kernel_size, stride, padding, (1,) * n_dims, ceil_mode)
    dtype = planes.dtype.type

    output = np.empty((planes.shape[0],) + out_shape, dtype=planes.dtype)
    for out_pos in itertools.product(*(range(o) for o in out_shape)):
        ranges, divisor = _avg_window(out_pos, spatial, kernel_size, stride, padding,
                                      count_include_pad, divisor_override)
        total = np.zeros(planes.shape[0], dtype=planes.dtype)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in C
            for in_pos in itertools.product(*ranges):  # raster order, in the dtype
                total = total + planes[(slice(None),) + in_pos]
            output[(slice(None),) + out_pos] = total / dtype(divisor)
    return output.reshape(lead_shape + out_shape)


def _avg_pool_backward(n_dims, grad_output, input_shape, kernel_size, stride, padding,
                       ceil_mode, count_include_pad, divisor_override):
    grad_output = np.asarray(grad_output)
    _check_dtype(grad_output, "grad_output")
    input_shape = tuple(operator.index(n) for n in input_shape)
    kernel_size, stride, padding, _ = _params(n_dims, kernel_size, stride, padding, 1)
    spatial = input_shape[-n_dims:]
    out_shape = _output_shape(spatial, kernel_size, stride, padding, (1,) * n_dims, ceil_mode)
    if (len(input_shape) != grad_output.ndim
            or grad_output.shape != input_shape[:-n_dims] + out_shape):
        raise ValueError(f"input_shape {input_shape} does not match grad_output shape "
                         f"{grad_output.shape}")
    dtype = grad_output.dtype.type

    grads = grad_output.reshape((-1,) + out_shape)
    grad_input = np.zeros((grads.shape[0],) + spatial, dtype=grad_output.dtype)
    for out_pos in itertools.product(*(range(o) for o in out_shape)):
        ranges, divisor = _avg_window(out_pos, spatial, kernel_size, stride, padding,
                                      count_include_pad, divisor_override)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in C
            delta = grads[(slice(None),) + out_pos] / dtype(divisor)
            for in_pos in itertools.product(*ranges):
                grad_input[(slice(None),) + in_pos] += delta
    return grad_input.reshape(input_shape)


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------

def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-d max pooling of ``(N, C, L)`` or ``(C, L)``; see the module docstring for the rules.

    >>> values, indices = max_pool1d(np.array([[1.0, np.nan, 5.0, np.nan]]), 4,
    ...                              return_indices=True)
    >>> values, indices
    (array([[nan]]), array([[3]]))
    """
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-d max pooling of ``(N, C, H, W)`` or ``(C, H, W)``; indices are ``h*W + w``."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-d max pooling of ``(N, C, D, H, W)`` or ``(C, D, H, W)``; indices ``(d*H + h)*W + w``."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_backward(grad_output, indices, input_shape):
    """Gradient of 1-d max pooling: each output gradient is added at its saved index.

    >>> _, idx = max_pool1d(np.array([[1.0, 5, 2, 0, 3]]), 3, 1, return_indices=True)
    >>> max_pool1d_backward(np.ones((1, 3)), idx, (1, 5))
    array([[0., 2., 0., 0., 1.]])
    """
    return _max_pool_backward(1, grad_output, indices, input_shape)


def max_pool2d_backward(grad_output, indices, input_shape):
    """Gradient of 2-d max pooling: each output gradient is added at its saved index."""
    return _max_pool_backward(2, grad_output, indices, input_shape)


def max_pool3d_backward(grad_output, indices, input_shape):
    """Gradient of 3-d max pooling: each output gradient is added at its saved index."""
    return _max_pool_backward(3, grad_output, indices, input_shape)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """1-d average pooling of ``(N, C, L)`` or ``(C, L)``; see the module docstring.

    >>> avg_pool1d(np.ones((1, 6)), 3, 2, 1, ceil_mode=True).round(3)
    array([[0.667, 1.   , 1.   , 0.5  ]])
    """
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-d average pooling of ``(N, C, H, W)`` or ``(C, H, W)``; see the module docstring."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-d average pooling of ``(N, C, D, H, W)`` or ``(C, D, H, W)``; see the module docstring."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of 1-d average pooling: ``grad / divisor`` spread over each window.

    >>> avg_pool1d_backward(np.ones((1, 4)), (1, 6), 3, 2, 1, ceil_mode=True).round(3)
    array([[0.333, 0.667, 0.333, 0.667, 0.333, 0.833]])
    """
    return _avg_pool_backward(1, grad_output, input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad, divisor_override)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of 2-d average pooling: ``grad / divisor`` spread over each window."""
    return _avg_pool_backward(2, grad_output, input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad, divisor_override)


def avg_pool3d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of 3-d average pooling: ``grad / divisor`` spread over each window."""
    return _avg_pool_backward(3, grad_output, input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad, divisor_override)
