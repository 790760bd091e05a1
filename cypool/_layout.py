"""Memory layouts: channels-first (NCHW, C order) and channels-last (NHWC memory).

An array of logical shape ``(N, C, *spatial)`` (or unbatched ``(C, *spatial)``) is
*channels-last* when its channel axis has the smallest stride, as ``x_nhwc.transpose(0, 3, 1, 2)``
gives. PyTorch pools such tensors in place and returns channels-last results; cypool does the
same with its channels-last kernels, which see ``(images, D, H, W, C)`` C-contiguous arrays.
"""

from __future__ import annotations

import math

import numpy as np


def is_channels_last(array: np.ndarray, n_dims: int) -> bool:
    """Whether ``array``'s channel axis has the smallest stride of its non-unit axes.

    With one channel, or one spatial element, both layouts are the same memory and the answer
    is False (the channels-first kernels serve those arrays).
    """
    channel_axis = array.ndim - n_dims - 1
    if array.shape[channel_axis] == 1 or math.prod(array.shape[-n_dims:]) == 1:
        return False
    channel_stride = abs(array.strides[channel_axis])
    return all(abs(stride) > channel_stride
               for axis, (size, stride) in enumerate(zip(array.shape, array.strides))
               if axis != channel_axis and size > 1)


def result_is_channels_last(source: np.ndarray, out, n_dims: int) -> bool:
    """Whether an op that has kernels for both layouts stores its result channels-last.

    An ``out=`` array contiguous in one layout decides (a C-contiguous one wins when it is
    both); else the result takes ``source``'s layout (the input, or ``grad_output`` for a
    backward), as PyTorch's results do. ``out`` may be a ``(values, indices)`` pair: its values
    decide.
    """
    if isinstance(out, (tuple, list)) and len(out) == 2:
        out = out[0]
    if isinstance(out, np.ndarray) and out.ndim == source.ndim:
        if out.flags.c_contiguous:
            return False
        if is_contiguous(out, n_dims, channels_last=True):
            return True
    return is_channels_last(source, n_dims)


def _orders(ndim: int, n_dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the axis order that moves the channel axis last, the order that moves it back);
    ``transpose`` with a cached order costs far less than ``np.moveaxis``, which matters on
    small arrays."""
    orders = _ORDERS.get((ndim, n_dims))
    if orders is None:
        channel_axis = ndim - n_dims - 1
        to_last = (tuple(range(channel_axis)) + tuple(range(channel_axis + 1, ndim))
                   + (channel_axis,))
        orders = _ORDERS[ndim, n_dims] = (to_last,
                                          tuple(int(axis) for axis in np.argsort(to_last)))
    return orders


_ORDERS: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}


def _to_channels_last(array: np.ndarray, n_dims: int) -> np.ndarray:
    """The view of ``array`` with its channel axis moved last: ``(..., *spatial, C)``."""
    return array.transpose(_orders(array.ndim, n_dims)[0])


def images_view(array: np.ndarray, n_dims: int) -> np.ndarray:
    """The ``(images, D, H, W, C)`` view the channels-last kernels read (images = N, 1 when
    unbatched; missing spatial axes of size 1): a view if ``array`` is channels-last
    contiguous, else a copy (``_arrays.kernel_view`` also makes it aligned)."""
    moved = _to_channels_last(array, n_dims)
    shape = moved.shape
    return moved.reshape((math.prod(shape[:-n_dims - 1]),) + (1,) * (3 - n_dims)
                         + shape[-n_dims - 1:])


def empty(shape: tuple[int, ...], dtype, n_dims: int, channels_last: bool) -> np.ndarray:
    """A new array of logical ``shape``, stored channels-last if ``channels_last``."""
    if not channels_last:
        return np.empty(shape, dtype)
    to_last, back = _orders(len(shape), n_dims)
    return np.empty(tuple(shape[axis] for axis in to_last), dtype).transpose(back)


def is_contiguous(array: np.ndarray, n_dims: int, channels_last: bool) -> bool:
    """Whether ``array`` is contiguous in the given layout (C order, or channels-last)."""
    if not channels_last:
        return array.flags.c_contiguous
    return _to_channels_last(array, n_dims).flags.c_contiguous


def describe(channels_last: bool) -> str:
    """The layout's name in error messages."""
    return ("channels-last contiguous (its channel axis innermost in memory, as the input's)"
            if channels_last else "C-contiguous")
