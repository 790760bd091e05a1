"""Array handling shared by every op: input checks, plane views, ``out=`` checks, threads.

Kernels see C-contiguous ``(planes, depth, height, width)`` arrays with planes = N * C and the
spatial axes left-padded with size-1 axes; everything that gets them there lives here.
"""

from __future__ import annotations

import math

import numpy as np

from . import _layout
from ._memo import remember
from ._shape import as_int

# The dtypes the floating-point kernels are compiled for.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Max pooling forward also runs on these (the integer dtypes PyTorch pools, and uint16/uint32).
INTEGER_DTYPES = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8,
                                             np.uint16, np.uint32))
# The window-pooling ops also take float16 (through float32 kernels, see _half.py).
HALF_AND_FLOAT_DTYPES = (np.dtype(np.float16),) + FLOAT_DTYPES
MAX_POOL_DTYPES = HALF_AND_FLOAT_DTYPES + INTEGER_DTYPES
# The dtypes max-pool indices can have; other integer indices given to a backward are converted
# to the first.
INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))
_INDEX_LIMITS = {dtype: int(np.iinfo(dtype).max) for dtype in INDEX_DTYPES}
# No array of 8-byte elements can have more elements than this.
_MAX_ARRAY_ELEMENTS = int(np.iinfo(np.intp).max) // 8


def as_array(name: str, value) -> np.ndarray:
    """``np.asarray(value)``; NumPy's own conversion errors (a ragged nested list, an object
    whose ``__array__`` fails) are raised again with ``name`` in the message."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name} cannot be converted to an array: {error}") from error


def as_float_array(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, which must hold float16, float32 or float64 (TypeError
    otherwise)."""
    array = as_array(name, value)
    if array.dtype not in HALF_AND_FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float16, float32 or float64 array, got dtype {array.dtype}")
    return array


def as_index_array(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, which must hold integers (TypeError otherwise)."""
    array = as_array(name, value)
    if array.dtype.kind not in "iu":  # signed or unsigned integers (np.issubdtype is slower)
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype}")
    return array


def as_max_pool_input(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, which must be a float or integer array max pooling takes."""
    array = as_array(name, value)
    if array.dtype not in MAX_POOL_DTYPES:
        raise TypeError(
            f"{name} must be a float16, float32, float64 or integer (int8 to int64, uint8 to "
            f"uint32) array, got dtype {array.dtype}"
        )
    return array


def as_index_dtype(name: str, value, plane_size: int) -> np.dtype:
    """The dtype for max-pool indices: int64, or int32 when every index fits."""
    if value is np.int64:  # the default: any plane fits
        return INDEX_DTYPES[0]
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be numpy.int64 or numpy.int32, got {value!r}") from None
    if value is None or dtype not in INDEX_DTYPES:  # np.dtype(None) is float64: say None
        raise TypeError(f"{name} must be numpy.int64 or numpy.int32, got {value!r}")
    if plane_size > _INDEX_LIMITS[dtype]:
        raise ValueError(
            f"{name}={dtype} cannot index an input plane of {plane_size} elements; use int64"
        )
    return dtype


def kernel_array(array: np.ndarray) -> np.ndarray:
    """``array`` as the kernels read it: C-contiguous and aligned, copied if it is not both.

    NumPy allows unaligned arrays (views of a byte buffer at an odd offset); C code handed
    their pointer has undefined behaviour even where the CPU tolerates it.
    """
    array = np.ascontiguousarray(array)
    return array if array.flags.aligned else array.copy()


def with_kernel_index_dtype(indices: np.ndarray) -> np.ndarray:
    """Integer indices as int64 or int32, which the kernels take (others become int64; values
    that do not fit wrap to negatives, which the kernels report as out of range)."""
    dtype = indices.dtype if indices.dtype in INDEX_DTYPES else INDEX_DTYPES[0]
    return indices.astype(dtype, copy=False)


def as_kernel_indices(indices: np.ndarray) -> np.ndarray:
    """Integer indices as a C-contiguous, aligned int64 or int32 array."""
    return kernel_array(with_kernel_index_dtype(indices))


def check_pooling_shape(name: str, shape: tuple[int, ...], n_dims: int) -> None:
    """Check a ``(N, C, *spatial)`` or unbatched ``(C, *spatial)`` shape.

    N may be 0; C and the spatial sizes must be positive (as in PyTorch).
    """
    if len(shape) not in (n_dims + 1, n_dims + 2):
        raise ValueError(
            f"{name} must have {n_dims + 1} (unbatched: C, *spatial) or {n_dims + 2} "
            f"(batched: N, C, *spatial) dimensions for {n_dims}-d pooling, "
            f"got shape {tuple(shape)}"
        )
    batch_axes = len(shape) - n_dims - 1  # 1 when batched, else 0
    if 0 in shape[batch_axes:]:
        raise ValueError(
            f"{name} must have non-zero channel and spatial sizes (only the batch size may "
            f"be 0), got shape {tuple(shape)}"
        )


def as_shape(name: str, value, ndim: int) -> tuple[int, ...]:
    """A shape argument (such as ``input_shape``) as a tuple of ``ndim`` non-negative ints."""
    if type(value) is tuple and all(type(size) is int for size in value):
        shape = value  # an ndarray's .shape, the everyday argument: nothing to convert
    else:
        try:
            shape = tuple(as_int(name, size) for size in value)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of ints, got {value!r}") from None
    if len(shape) != ndim or min(shape) < 0:
        raise ValueError(f"{name} must be {ndim} non-negative ints, got {value!r}")
    if math.prod(shape) > _MAX_ARRAY_ELEMENTS:
        raise ValueError(f"{name} {shape} is too large for an array")
    return shape


def planes(array: np.ndarray, n_spatial: int) -> np.ndarray:
    """A C-contiguous, aligned ``(planes, D, H, W)`` view of a pooling array (copying if
    needed: never for an ``output_array``, which the kernels must write in place)."""
    flags = array.flags
    if not (flags.c_contiguous and flags.aligned):
        array = kernel_array(array)
    return array.reshape(_plane_shape(array.shape, n_spatial))


def _plane_shape(shape: tuple[int, ...], n_spatial: int) -> tuple[int, ...]:
    """``planes``' shape for an array of ``shape`` (cached, see _memo)."""
    key = (shape, n_spatial)
    plane_shape = _PLANE_SHAPES.get(key)
    if plane_shape is None:
        plane_shape = remember(_PLANE_SHAPES, key, (
            (math.prod(shape[:len(shape) - n_spatial]),) + (1,) * (3 - n_spatial)
            + shape[len(shape) - n_spatial:]))
    return plane_shape


_PLANE_SHAPES: dict[tuple, tuple[int, ...]] = {}


def kernel_view(array: np.ndarray, n_spatial: int, channels_last: bool) -> np.ndarray:
    """``array`` as the kernels of its layout read it: ``planes`` (NCHW kernels) or
    ``_layout.images_view`` (channels-last kernels), C-contiguous and aligned (copied if
    needed: never for an ``output_array``, which the kernels must write in place)."""
    if channels_last:
        return kernel_array(_layout.images_view(array, n_spatial))
    return planes(array, n_spatial)


def output_array(name: str, out, shape: tuple[int, ...], dtype: np.dtype, inputs=(),
                 channels_last: bool = False, n_dims: int = 0) -> np.ndarray:
    """The array an op writes: ``out`` after checks, or a new one.

    ``out`` must be a writeable, aligned ndarray of exactly ``shape`` and ``dtype``, contiguous
    in the result's layout (C order, or channels-last with ``n_dims`` spatial axes), that
    shares no memory with any of ``inputs``.
    """
    if out is None:
        return _layout.empty(shape, dtype, n_dims, channels_last)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if not _layout.is_contiguous(out, n_dims, channels_last):
        raise ValueError(f"{name} must be {_layout.describe(channels_last)}")
    if not out.flags.aligned:
        raise ValueError(f"{name} must be aligned (its address a multiple of its item size)")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    for array in inputs:
        if np.may_share_memory(out, array) and np.shares_memory(out, array):
            raise ValueError(f"{name} must not share memory with the inputs")
    return out


def value_index_outputs(out, return_indices: bool, shape: tuple[int, ...], dtype: np.dtype,
                        index_dtype: np.dtype, array: np.ndarray, channels_last: bool = False,
                        n_dims: int = 0):
    """(values, indices or None) for a max-pooling op: ``out`` (a ``(values, indices)`` pair
    when ``return_indices``) after checks, or new arrays, in the layout ``output_array``
    describes."""
    if return_indices:
        if not (isinstance(out, (tuple, list)) and len(out) == 2) and out is not None:
            raise TypeError("out must be a (values, indices) pair when return_indices=True")
        values_out, indices_out = out if out is not None else (None, None)
    else:
        values_out, indices_out = out, None
    values = output_array("out", values_out, shape, dtype, (array,), channels_last, n_dims)
    indices = None
    if return_indices:
        indices = output_array("out", indices_out, shape, index_dtype, (array, values),
                               channels_last, n_dims)
    return values, indices
