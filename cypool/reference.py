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
- float32 and float64 everywhere, arithmetic in the input's dtype. float16 (all but lp
  pooling) follows PyTorch's Half rules: forwards and the global average backward compute in
  float32 and round once; the max backwards add in float16 (one rounding per addition); the
  adaptive average backward divides ``g / kd / kh / kw`` and adds in float16, rounding after
  each operation. Max pooling forward and max unpooling also take the integer dtypes int8,
  int16, int32, int64, uint8, uint16, uint32.

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

Adaptive pooling: ``output_size`` is an int or a tuple with one entry per spatial dimension
(``None`` keeps that input size). Along a dimension of input length ``L`` and output length
``O`` the window of output ``o`` is ``[floor(o*L/O), ceil((o+1)*L/O))``. Max follows the max
rules above (no padding). Average sums the window in the input dtype in raster order from 0,
then divides by the window's extent along each dimension in turn: ``sum / kd / kh / kw``; its
backward adds ``grad / kd / kh / kw`` to each element of the window, outputs in raster order.

Global pooling (and adaptive pooling to an all-ones output size, which PyTorch computes as
``input.mean(spatial dims)``): max as above over the whole plane; average is PyTorch's sum of
the contiguous plane (``_torch_sum``: a fixed cascade of partial sums, described there) divided
once by the plane size, and its backward gives every element ``grad / dtype(plane size)``.
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
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_max_pool1d_backward", "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_backward",
    "global_max_pool1d", "global_max_pool2d", "global_max_pool3d",
    "global_max_pool1d_backward", "global_max_pool2d_backward", "global_max_pool3d_backward",
    "global_avg_pool1d", "global_avg_pool2d", "global_avg_pool3d",
    "global_avg_pool1d_backward", "global_avg_pool2d_backward", "global_avg_pool3d_backward",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
]

_SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Max and average pooling (window ops) also take float16, with PyTorch's float16 arithmetic:
# forward averages accumulate in float32 and round once; backwards add in float16 (NumPy's
# float16 operations round each result, as PyTorch's do).
_WINDOW_DTYPES = (np.dtype(np.float16),) + _SUPPORTED_DTYPES
_MAX_POOL_DTYPES = _WINDOW_DTYPES + tuple(
    np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32))


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


def _check_dtype(array, name, supported=_SUPPORTED_DTYPES):
    if array.dtype not in supported:
        raise TypeError(f"{name} must have one of the dtypes {[str(d) for d in supported]}, "
                        f"got dtype {array.dtype}")


def _as_planes(input, n_dims, supported=_SUPPORTED_DTYPES):
    """``(N, C, *spatial)`` or ``(C, *spatial)`` -> (planes ``(N*C, *spatial)``, lead shape)."""
    x = np.asarray(input)
    if x.ndim not in (n_dims + 1, n_dims + 2):
        raise ValueError(
            f"input must have {n_dims + 1} or {n_dims + 2} dimensions, got shape {x.shape}")
    _check_dtype(x, "input", supported)
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
    planes, lead_shape = _as_planes(input, n_dims, _MAX_POOL_DTYPES)
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
    _check_dtype(grad_output, "grad_output", _WINDOW_DTYPES)
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
    planes, lead_shape = _as_planes(input, n_dims, _WINDOW_DTYPES)
    kernel_size, stride, padding, _ = _params(n_dims, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("divisor_override must be non-zero")
    spatial = planes.shape[1:]
    out_shape = _output_shape(spatial, kernel_size, stride, padding, (1,) * n_dims, ceil_mode)
    # float16 sums run in float32 (PyTorch's accumulation type for it), rounded once.
    accumulate = np.float32 if planes.dtype == np.float16 else planes.dtype.type

    output = np.empty((planes.shape[0],) + out_shape, dtype=planes.dtype)
    for out_pos in itertools.product(*(range(o) for o in out_shape)):
        ranges, divisor = _avg_window(out_pos, spatial, kernel_size, stride, padding,
                                      count_include_pad, divisor_override)
        total = np.zeros(planes.shape[0], dtype=accumulate)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in C
            for in_pos in itertools.product(*ranges):  # raster order, in the dtype
                total = total + planes[(slice(None),) + in_pos].astype(accumulate)
            output[(slice(None),) + out_pos] = total / accumulate(divisor)
    return output.reshape(lead_shape + out_shape)


def _avg_pool_backward(n_dims, grad_output, input_shape, kernel_size, stride, padding,
                       ceil_mode, count_include_pad, divisor_override):
    grad_output = np.asarray(grad_output)
    _check_dtype(grad_output, "grad_output", _WINDOW_DTYPES)
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


# --------------------------------------------------------------------------------------
# Adaptive and global pooling
# --------------------------------------------------------------------------------------

def adaptive_window(o, out_size, in_size):
    """``range`` of the input positions pooled by output ``o`` along one dimension.

    >>> [adaptive_window(o, 3, 5) for o in range(3)]
    [range(0, 2), range(1, 4), range(3, 5)]
    """
    return range((o * in_size) // out_size, -((-(o + 1) * in_size) // out_size))


def _adaptive_output_size(output_size, spatial):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != len(spatial):
            raise ValueError(f"output_size must have {len(spatial)} elements, got {output_size!r}")
        sizes = tuple(L if o is None else operator.index(o) for o, L in zip(output_size, spatial))
    else:
        sizes = (operator.index(output_size),) * len(spatial)
    if any(o < 1 for o in sizes):
        raise ValueError(f"output_size must be positive, got {output_size!r}")
    return sizes


def _adaptive_max_pool(n_dims, input, output_size, return_indices):
    planes, lead_shape = _as_planes(input, n_dims, _WINDOW_DTYPES)
    spatial = planes.shape[1:]
    out_shape = _adaptive_output_size(output_size, spatial)
    values = np.empty((planes.shape[0],) + out_shape, dtype=planes.dtype)
    indices = np.empty((planes.shape[0],) + out_shape, dtype=np.int64)
    for out_pos in itertools.product(*(range(o) for o in out_shape)):
        windows = [adaptive_window(o, O, L) for o, O, L in zip(out_pos, out_shape, spatial)]
        best = None
        for in_pos in itertools.product(*windows):  # raster order
            v = planes[(slice(None),) + in_pos]
            flat = _flat_index(in_pos, spatial)
            if best is None:
                best, best_index = v.copy(), np.full(planes.shape[0], flat, dtype=np.int64)
            else:
                take = (v > best) | np.isnan(v)   # first maximum, last NaN
                best = np.where(take, v, best)
                best_index = np.where(take, flat, best_index)
        values[(slice(None),) + out_pos] = best
        indices[(slice(None),) + out_pos] = best_index
    values = values.reshape(lead_shape + out_shape)
    indices = indices.reshape(lead_shape + out_shape)
    return (values, indices) if return_indices else values


def _ceil_log2(x):
    """PyTorch's ``utils::CeilLog2``: 1 for x <= 2, else ceil(log2(x))."""
    return 1 if x <= 2 else (x - 1).bit_length()


def _multi_row_sum(rows):
    """PyTorch's ``multi_row_sum``: ``rows`` is ``(P, size, ...)``; sums over ``size`` in a
    cascade of 4 accumulator levels, so that only partial sums of similar size are added."""
    shape = (rows.shape[0],) + rows.shape[2:]
    size = rows.shape[1]
    level_power = max(4, _ceil_log2(size) // 4)
    level_step = 1 << level_power
    level_mask = level_step - 1
    acc = [np.zeros(shape, rows.dtype) for _ in range(4)]
    i = 0
    while i + level_step <= size:
        for _ in range(level_step):       # a block of level_step rows into level 0
            acc[0] = acc[0] + rows[:, i]
            i += 1
        for j in range(1, 4):             # carry up while the counter wraps
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = np.zeros(shape, rows.dtype)
            if i & (level_mask << (j * level_power)):
                break
    while i < size:
        acc[0] = acc[0] + rows[:, i]
        i += 1
    for j in range(1, 4):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def _row_sum(items):
    """PyTorch's ``row_sum``: ``items`` is ``(P, size, ...)``, read as rows of 4 items
    summed by ``_multi_row_sum``, then the leftover items, then the 4 partial sums."""
    planes, size = items.shape[:2]
    whole = size // 4
    partial = _multi_row_sum(items[:, :whole * 4].reshape((planes, whole, 4) + items.shape[2:]))
    total = partial[:, 0]
    for i in range(whole * 4, size):
        total = total + items[:, i]
    for k in range(1, 4):
        total = total + partial[:, k]
    return total


def _torch_sum(planes):
    """PyTorch's CPU sum of each row of the C-contiguous ``(P, n)`` array ``planes``.

    With its AVX2 kernels PyTorch reads a row of ``n >= V`` elements as ``n // V`` vectors of
    ``V`` lanes (8 float32 or 4 float64), sums those with ``_row_sum``, then adds to 0 the
    ``n % V`` leftover elements and then the V lanes; for ``n < V`` it runs ``_row_sum`` on
    the scalars. (With more than one thread PyTorch splits a lone row of 32768 or more
    elements between the threads; this is its one-thread order.)
    """
    count, n = planes.shape
    lanes = 8 if planes.dtype == np.float32 else 4
    with np.errstate(invalid="ignore", over="ignore"):
        if n < lanes:
            return np.zeros(count, planes.dtype) + _row_sum(planes)
        vectors = n // lanes
        lane_sums = _row_sum(planes[:, :vectors * lanes].reshape(count, vectors, lanes))
        total = np.zeros(count, planes.dtype)
        for k in range(vectors * lanes, n):
            total = total + planes[:, k]
        for k in range(lanes):
            total = total + lane_sums[:, k]
        return np.zeros(count, planes.dtype) + total


def _adaptive_avg_pool(n_dims, input, output_size):
    planes, lead_shape = _as_planes(input, n_dims, _WINDOW_DTYPES)
    spatial = planes.shape[1:]
    out_shape = _adaptive_output_size(output_size, spatial)
    # float16 is summed and divided in float32, then rounded once (PyTorch's opmath).
    dtype = np.float32 if planes.dtype == np.float16 else planes.dtype.type
    if out_shape == (1,) * n_dims:   # PyTorch: input.mean(spatial dims)
        flat = np.ascontiguousarray(planes).reshape(planes.shape[0], int(np.prod(spatial)))
        output = _torch_sum(flat.astype(dtype)) / dtype(flat.shape[1])
        return output.astype(planes.dtype).reshape(lead_shape + out_shape)
    output = np.empty((planes.shape[0],) + out_shape, dtype=planes.dtype)
    for out_pos in itertools.product(*(range(o) for o in out_shape)):
        windows = [adaptive_window(o, O, L) for o, O, L in zip(out_pos, out_shape, spatial)]
        total = np.zeros(planes.shape[0], dtype=dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            for in_pos in itertools.product(*windows):   # raster order, in the dtype
                total = total + planes[(slice(None),) + in_pos].astype(dtype)
            for window in windows:                        # sum / kd / kh / kw
                total = total / dtype(len(window))
        output[(slice(None),) + out_pos] = total
    return output.reshape(lead_shape + out_shape)


def _adaptive_avg_pool_backward(n_dims, grad_output, input_shape):
    grad_output = np.asarray(grad_output)
    _check_dtype(grad_output, "grad_output", _WINDOW_DTYPES)
    input_shape = tuple(operator.index(n) for n in input_shape)
    if (len(input_shape) != grad_output.ndim
            or input_shape[:-n_dims] != grad_output.shape[:-n_dims]):
        raise ValueError(f"input_shape {input_shape} does not match grad_output shape "
                         f"{grad_output.shape}")
    spatial = input_shape[-n_dims:]
    out_shape = grad_output.shape[-n_dims:]
    dtype = grad_output.dtype.type
    grads = grad_output.reshape((-1,) + out_shape)
    grad_input = np.zeros((grads.shape[0],) + spatial, dtype=grad_output.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        if out_shape == (1,) * n_dims:   # PyTorch's mean backward: grad / plane size
            divide_in = np.float32 if dtype is np.float16 else dtype  # float16: rounded once
            delta = grads.reshape(-1).astype(divide_in) / divide_in(np.prod(spatial))
            grad_input[...] = delta.reshape((-1,) + (1,) * n_dims)
            return grad_input.reshape(input_shape)
        for out_pos in itertools.product(*(range(o) for o in out_shape)):
            windows = [adaptive_window(o, O, L) for o, O, L in zip(out_pos, out_shape, spatial)]
            delta = grads[(slice(None),) + out_pos]
            for window in windows:
                delta = delta / dtype(len(window))
            for in_pos in itertools.product(*windows):
                grad_input[(slice(None),) + in_pos] += delta
    return grad_input.reshape(input_shape)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """1-d adaptive max pooling of ``(N, C, L)`` or ``(C, L)``; see the module docstring.

    >>> adaptive_max_pool1d(np.array([[1.0, np.nan, 5.0, np.nan, 2.0]]), 3, True)
    (array([[nan, nan, nan]]), array([[1, 3, 3]]))
    """
    return _adaptive_max_pool(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2-d adaptive max pooling of ``(N, C, H, W)`` or ``(C, H, W)``; indices ``h*W + w``."""
    return _adaptive_max_pool(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """3-d adaptive max pooling; indices ``(d*H + h)*W + w``."""
    return _adaptive_max_pool(3, input, output_size, return_indices)


def adaptive_max_pool1d_backward(grad_output, indices, input_shape):
    """Gradient of 1-d adaptive max pooling: each output gradient is added at its index."""
    return _max_pool_backward(1, grad_output, indices, input_shape)


def adaptive_max_pool2d_backward(grad_output, indices, input_shape):
    """Gradient of 2-d adaptive max pooling: each output gradient is added at its index."""
    return _max_pool_backward(2, grad_output, indices, input_shape)


def adaptive_max_pool3d_backward(grad_output, indices, input_shape):
    """Gradient of 3-d adaptive max pooling: each output gradient is added at its index."""
    return _max_pool_backward(3, grad_output, indices, input_shape)


def adaptive_avg_pool1d(input, output_size):
    """1-d adaptive average pooling; see the module docstring.

    >>> adaptive_avg_pool1d(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), 3)
    array([[1.5, 3. , 4.5]])
    """
    return _adaptive_avg_pool(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """2-d adaptive average pooling: ``sum / kh / kw`` per window."""
    return _adaptive_avg_pool(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """3-d adaptive average pooling: ``sum / kd / kh / kw`` per window."""
    return _adaptive_avg_pool(3, input, output_size)


def adaptive_avg_pool1d_backward(grad_output, input_shape):
    """Gradient of 1-d adaptive average pooling (output size from ``grad_output``).

    >>> adaptive_avg_pool1d_backward(np.ones((1, 3)), (1, 5))
    array([[0.5       , 0.83333333, 0.33333333, 0.83333333, 0.5       ]])
    """
    return _adaptive_avg_pool_backward(1, grad_output, input_shape)


def adaptive_avg_pool2d_backward(grad_output, input_shape):
    """Gradient of 2-d adaptive average pooling (output size from ``grad_output``)."""
    return _adaptive_avg_pool_backward(2, grad_output, input_shape)


def adaptive_avg_pool3d_backward(grad_output, input_shape):
    """Gradient of 3-d adaptive average pooling (output size from ``grad_output``)."""
    return _adaptive_avg_pool_backward(3, grad_output, input_shape)


def global_max_pool1d(input, return_indices=False):
    """``adaptive_max_pool1d(input, 1, return_indices)``."""
    return _adaptive_max_pool(1, input, 1, return_indices)


def global_max_pool2d(input, return_indices=False):
    """``adaptive_max_pool2d(input, 1, return_indices)``."""
    return _adaptive_max_pool(2, input, 1, return_indices)


def global_max_pool3d(input, return_indices=False):
    """``adaptive_max_pool3d(input, 1, return_indices)``."""
    return _adaptive_max_pool(3, input, 1, return_indices)


global_max_pool1d_backward = adaptive_max_pool1d_backward
global_max_pool2d_backward = adaptive_max_pool2d_backward
global_max_pool3d_backward = adaptive_max_pool3d_backward


def global_avg_pool1d(input):
    """``adaptive_avg_pool1d(input, 1)``: PyTorch's mean of each plane."""
    return _adaptive_avg_pool(1, input, 1)


def global_avg_pool2d(input):
    """``adaptive_avg_pool2d(input, 1)``: PyTorch's mean of each plane."""
    return _adaptive_avg_pool(2, input, 1)


def global_avg_pool3d(input):
    """``adaptive_avg_pool3d(input, 1)``: PyTorch's mean of each plane."""
    return _adaptive_avg_pool(3, input, 1)


global_avg_pool1d_backward = adaptive_avg_pool1d_backward
global_avg_pool2d_backward = adaptive_avg_pool2d_backward
global_avg_pool3d_backward = adaptive_avg_pool3d_backward


# --------------------------------------------------------------------------------------
# Max unpooling
# --------------------------------------------------------------------------------------

def _max_unpool(n_dims, input, indices, kernel_size, stride, padding, output_size):
    planes, lead_shape = _as_planes(input, n_dims, _MAX_POOL_DTYPES)
    kernel_size, stride, padding, _ = _params(n_dims, kernel_size, stride, padding, 1)
    spatial = planes.shape[1:]
    indices = np.asarray(indices).reshape(planes.shape[0], int(np.prod(spatial)))
    if output_size is None:   # the size that pooling started from
        out_shape = tuple((L - 1) * s - 2 * p + k
                          for L, k, s, p in zip(spatial, kernel_size, stride, padding))
    else:
        out_shape = tuple(output_size)[-n_dims:]
    values = planes.reshape(planes.shape[0], int(np.prod(spatial)))
    plane_size = int(np.prod(out_shape))
    if indices.size and (indices.min() < 0 or indices.max() >= plane_size):
        raise ValueError("indices out of range")
    output = np.zeros((planes.shape[0], plane_size), dtype=planes.dtype)
    rows = np.arange(planes.shape[0])
    for j in range(values.shape[1]):   # raster order: a repeated index keeps the last value
        output[rows, indices[:, j]] = values[:, j]
    return output.reshape(lead_shape + out_shape)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Zeros of the pooled input's size with ``input`` put back at ``indices``.

    >>> max_unpool1d(np.array([[1.0, 2.0, 3.0]]), np.array([[0, 0, 1]]), 2)
    array([[2., 3., 0., 0., 0., 0.]])
    """
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """2-d max unpooling; see ``max_unpool1d``."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """3-d max unpooling; see ``max_unpool1d``."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


# --------------------------------------------------------------------------------------
# Power-average (Lp) pooling: PyTorch's definition, in terms of the functions above
# --------------------------------------------------------------------------------------

def _lp_pool(n_dims, input, norm_type, kernel_size, stride, ceil_mode):
    x = np.asarray(input)
    max_pool = globals()[f"max_pool{n_dims}d"]
    if norm_type == float("inf"):
        return max_pool(np.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool(-np.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    kernel_size, _, _, _ = _params(n_dims, kernel_size, stride, 0, 1)
    dtype = x.dtype.type
    with np.errstate(all="ignore"):
        average = globals()[f"avg_pool{n_dims}d"](x ** dtype(norm_type), kernel_size, stride, 0,
                                                  ceil_mode)
        # (window mean of x**p) * window size, with PyTorch's sign(.) * relu(abs(.)) guard.
        total = np.sign(average) * np.maximum(np.abs(average), 0) * dtype(np.prod(kernel_size))
        return total ** dtype(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """1-d power-average pooling, as ``torch.nn.functional.lp_pool1d`` defines it.

    >>> lp_pool1d(np.array([[3.0, 4.0]]), 2, 2)
    array([[5.]])
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-d power-average pooling, as ``torch.nn.functional.lp_pool2d`` defines it."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3-d power-average pooling, as ``torch.nn.functional.lp_pool3d`` defines it."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# --------------------------------------------------------------------------------------
# Fractional max pooling
# --------------------------------------------------------------------------------------

def fractional_intervals(sample, in_size, out_size, kernel_size):
    """Window starts along one dimension for one random ``sample`` (PyTorch's
    ``generate_intervals``), computed in the sample's own floating type (float16 arithmetic
    rounds after every operation, as PyTorch's ``Half`` does)::

        alpha = T(L - k) / T(O - 1)
        start[i] = int(T(i) + u) * alpha) - int(u * alpha)     for i < O - 1
        start[O - 1] = L - k

    >>> fractional_intervals(np.float32(0.5), 10, 4, 2)
    [0, 3, 5, 8]
    """
    dtype = type(sample)
    starts = []
    if out_size > 1:
        alpha = dtype(in_size - kernel_size) / dtype(out_size - 1)
        for i in range(out_size - 1):
            starts.append(int((dtype(i) + sample) * alpha) - int(sample * alpha))
    starts.append(in_size - kernel_size)
    return starts


# The sample of each spatial dimension, by position in the sample triple / pair: PyTorch's 2-d
# kernel reads (width, height), its 3-d kernel (depth, height, width).
_FRACTIONAL_SAMPLE_OF_DIMENSION = {2: (1, 0), 3: (0, 1, 2)}


def _fractional_max_pool(n_dims, input, kernel_size, output_size, output_ratio,
                         return_indices, _random_samples):
    planes, lead_shape = _as_planes(input, n_dims, _WINDOW_DTYPES)
    spatial = planes.shape[1:]
    kernel_size = _as_tuple(kernel_size, n_dims, "kernel_size")
    if output_size is None:
        ratio = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * n_dims
        output_size = tuple(int(L * r) for L, r in zip(spatial, ratio))
    out_shape = _as_tuple(output_size, n_dims, "output_size")
    # PyTorch's checks: out + k - 1 <= L in 2-d, but out + k - 1 < L in 3-d.
    slack = 0 if n_dims == 2 else 1
    if any(o < 1 or o + k - 1 + slack > L for o, k, L in zip(out_shape, kernel_size, spatial)):
        raise ValueError(f"output_size {out_shape} with kernel_size {kernel_size} does not fit "
                         f"the input size {spatial}")
    samples = np.asarray(_random_samples)
    if samples.dtype != planes.dtype:
        raise TypeError("_random_samples must have the input's dtype")
    samples = samples[:lead_shape[0] if len(lead_shape) == 2 else 1]  # extra rows: unused
    samples = samples.reshape(planes.shape[0], n_dims)
    values = np.empty((planes.shape[0],) + out_shape, dtype=planes.dtype)
    indices = np.empty((planes.shape[0],) + out_shape, dtype=np.int64)
    for plane in range(planes.shape[0]):
        starts = [fractional_intervals(samples[plane, which], L, O, k) for which, L, O, k
                  in zip(_FRACTIONAL_SAMPLE_OF_DIMENSION[n_dims], spatial, out_shape,
                         kernel_size)]
        for out_pos in itertools.product(*(range(o) for o in out_shape)):
            window = [range(s[o], s[o] + k) for s, o, k in zip(starts, out_pos, kernel_size)]
            best = best_index = None
            for in_pos in itertools.product(*window):  # raster order
                v = planes[(plane,) + in_pos]
                if best is None or v > best or np.isnan(v):  # first maximum, last NaN
                    best, best_index = v, _flat_index(in_pos, spatial)
            values[(plane,) + out_pos] = best
            indices[(plane,) + out_pos] = best_index
    values = values.reshape(lead_shape + out_shape)
    indices = indices.reshape(lead_shape + out_shape)
    return (values, indices) if return_indices else values


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """2-d fractional max pooling with the given samples ``(N, C, 2)`` (unbatched ``(1, C, 2)``;
    extra rows are ignored), of the input's dtype: sample 0 draws the width intervals, sample
    1 the height's. Each window is ``kernel_size`` wide and starts at the interval start; max
    as in ``max_pool2d``. ``output_ratio`` gives ``output_size = int(L * ratio)``."""
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """3-d fractional max pooling with samples ``(N, C, 3)``: depth, height, width."""
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


fractional_max_pool2d_backward = max_pool2d_backward
fractional_max_pool3d_backward = max_pool3d_backward
