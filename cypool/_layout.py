"""Memory layouts: channels-first (NCHW, C order) and channels-last (NHWC memory).

An array of logical shape ``(N, C, *spatial)`` (or unbatched ``(C, *spatial)``) is
*channels-last* when its channel axis has the smallest stride, as ``x_nhwc.transpose(0, 3, 1, 2)``
gives. PyTorch pools such tensors in place and returns channels-last results; cypool does the
same with its channels-last kernels, which see ``(images, D, H, W, C)`` C-contiguous arrays.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._memo import remember


def is_channels_last(array: np.ndarray, n_dims: int) -> bool:
    """Whether ``array``'s channel axis has the smallest stride of its non-unit axes.

    With one channel, or one spatial element, both layouts are the same memory and the answer
    is False (the channels-first kernels serve those arrays).
    """
    key = (array.shape, array.strides, n_dims)
    answer = _CHANNELS_LAST.get(key)
    if answer is None:
        answer = remember(_CHANNELS_LAST, key, _has_channels_last_strides(*key))
    return answer


def _has_channels_last_strides(shape: tuple[int, ...], strides: tuple[int, ...],
                               n_dims: int) -> bool:
    channel_axis = len(shape) - n_dims - 1
    if shape[channel_axis] == 1 or math.prod(shape[-n_dims:]) == 1:
        return False
    channel_stride = abs(strides[channel_axis])
    return all(abs(stride) > channel_stride
               for axis, (size, stride) in enumerate(zip(shape, strides))
               if axis != channel_axis and size > 1)


def result_is_channels_last(source: np.ndarray, out, n_dims: int) -> bool:
    """Whether an op that has kernels for both layouts stores its result channels-last.

    An ``out=`` array contiguous in one layout decides (a C-contiguous one wins when it is
    both); else the result takes ``source``'s layout (the input, or ``grad_output`` for a
    backward), as PyTorch's results do. ``out`` may be a ``(values, indices)`` pair: its values
    decide.
    """
    if out is None and source.flags.c_contiguous:
        return False  # the everyday case, decided without is_channels_last's stride scan
    if isinstance(out, (tuple, list)) and len(out) == 2:
        out = out[0]
    if isinstance(out, np.ndarray) and out.ndim == source.ndim:
        if out.flags.c_contiguous:
            return False
        if is_contiguous(out, n_dims, channels_last=True):
            return True
    return is_channels_last(source, n_dims)


class _Plan(NamedTuple):
    """How an array of one logical shape is stored channels-last."""

    to_last: tuple[int, ...]  # the axis order that moves the channel axis last
    back: tuple[int, ...]  # the order that moves it back
    stored_shape: tuple[int, ...]  # the shape in memory order: (..., *spatial, C)
    images_shape: tuple[int, ...]  # the kernels' (images, D, H, W, C)


def _plan(shape: tuple[int, ...], n_dims: int) -> _Plan:
    """The channels-last plan of ``shape`` (cached: ``transpose`` and ``reshape`` with ready
    orders and shapes cost far less than working them out, or ``np.moveaxis``)."""
    key = (shape, n_dims)
    plan = _PLANS.get(key)
    if plan is None:
        ndim = len(shape)
        channel_axis = ndim - n_dims - 1
        to_last = (tuple(range(channel_axis)) + tuple(range(channel_axis + 1, ndim))
                   + (channel_axis,))
        stored_shape = tuple(shape[axis] for axis in to_last)
        plan = remember(_PLANS, key, _Plan(
            to_last, tuple(int(axis) for axis in np.argsort(to_last)), stored_shape,
            (math.prod(stored_shape[:-n_dims - 1]),) + (1,) * (3 - n_dims)
            + stored_shape[-n_dims - 1:]))
    return plan


_PLANS: dict[tuple, _Plan] = {}
_CHANNELS_LAST: dict[tuple, bool] = {}


def images_view(array: np.ndarray, n_dims: int) -> np.ndarray:
    """The ``(images, D, H, W, C)`` view the channels-last kernels read (images = N, 1 when
    unbatched; missing spatial axes of size 1): a view if ``array`` is channels-last
    contiguous, else a copy (``_arrays.kernel_view`` also makes it aligned)."""
    plan = _plan(array.shape, n_dims)
    return array.transpose(plan.to_last).reshape(plan.images_shape)


def empty(shape: tuple[int, ...], dtype, n_dims: int, channels_last: bool) -> np.ndarray:
    """A new array of logical ``shape``, stored channels-last if ``channels_last``."""
    if not channels_last:
        return np.empty(shape, dtype)
    plan = _plan(tuple(shape), n_dims)
    return np.empty(plan.stored_shape, dtype).transpose(plan.back)


def is_contiguous(array: np.ndarray, n_dims: int, channels_last: bool) -> bool:
    """Whether ``array`` is contiguous in the given layout (C order, or channels-last)."""
    if not channels_last:
        return array.flags.c_contiguous
    return array.transpose(_plan(array.shape, n_dims).to_last).flags.c_contiguous


def describe(channels_last: bool) -> str:
    """The layout's name in error messages."""
    return ("channels-last contiguous (its channel axis innermost in memory, as the input's)"
            if channels_last else "C-contiguous")
