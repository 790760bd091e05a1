"""Fractional max pooling (Graham, 2014), forward and backward, over 2 and 3 spatial dims.

Each (n, c) plane draws one random sample per spatial axis; along an axis of input length
``L``, output length ``O`` and kernel size ``k`` the sample ``u`` places the windows at
PyTorch's ``generate_intervals``: ``start[i] = int((i + u) * alpha) - int(u * alpha)`` with
``alpha = (L - k) / (O - 1)``, and ``start[O - 1] = L - k``, computed in the input's own
floating type (float32 arithmetic for float32 input, float16 for float16), as PyTorch does.
Each window is ``k`` wide and pooled by the max rule of ``max_pool`` (first maximum, last NaN).
The backward is max pooling's scatter through the indices.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _arrays, _half
from ._backend import kernels
from ._max_pool import _max_pool_backward, max_backward_doc
from ._shape import as_flag, as_int, as_size_tuple
from ._threads import check_n_threads, n_threads_for

# Which sample of a plane's (2 or 3) samples drives each spatial axis: PyTorch's 2-d kernel
# reads them as (width, height), its 3-d kernel as (depth, height, width).
_SAMPLE_OF_AXIS = {2: (1, 0), 3: (0, 1, 2)}
# PyTorch's size check is `out + k - 1 <= L` in 2-d but `out + k - 1 < L` in 3-d.
_EXTRA_INPUT = {2: 0, 3: 1}


def _as_generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    seed = as_int("random_state", random_state,
                  "None, an int seed or a numpy.random.Generator")
    if seed < 0:
        raise ValueError(f"random_state must be a non-negative seed, got {seed}")
    return np.random.default_rng(seed)


def _as_ratios(output_ratio, n_dims: int) -> tuple[float, ...]:
    expected = f"a number in (0, 1] or a sequence of {n_dims}"
    items = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) \
        else (output_ratio,) * n_dims
    if len(items) != n_dims:
        raise ValueError(f"output_ratio must be {expected}, got {output_ratio!r}")
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
            raise TypeError(f"output_ratio must be {expected}, got {output_ratio!r}")
        if not 0 < float(item) <= 1:  # a larger ratio never fits: output > input
            raise ValueError(f"output_ratio must be {expected}, got {output_ratio!r}")
    return tuple(float(item) for item in items)


def _output_size(n_dims, spatial, kernel, output_size, output_ratio) -> tuple[int, ...]:
    """``output_size``, or ``int(L * ratio)`` per axis (PyTorch's rule) when it is None;
    then PyTorch's check that the windows fit the input."""
    ratios = None if output_ratio is None else _as_ratios(output_ratio, n_dims)
    if output_size is not None:
        name, value = "output_size", output_size
        sizes = as_size_tuple("output_size", output_size, n_dims)
    elif ratios is not None:
        name, value = "output_ratio", output_ratio
        sizes = tuple(int(length * ratio) for length, ratio in zip(spatial, ratios))
    else:
        raise ValueError(
            f"fractional_max_pool{n_dims}d needs output_size or output_ratio, got neither")
    if min(sizes) < 1:
        raise ValueError(f"{name}={value!r} gives the output size {sizes}; every axis needs "
                         f"at least 1")
    extra = _EXTRA_INPUT[n_dims]
    if any(size + k - 1 + extra > length for size, k, length in zip(sizes, kernel, spatial)):
        relation = "at most" if extra == 0 else "less than"
        raise ValueError(
            f"output size {sizes} (from {name}) with kernel_size={kernel} does not fit the "
            f"input size {tuple(spatial)}: output + kernel_size - 1 must be {relation} the "
            f"input size on every axis")
    return sizes


def _samples(value, random_state, dtype: np.dtype, batch: int, channels: int,
             n_dims: int) -> np.ndarray:
    """The ``(batch, channels, n_dims)`` samples: ``_random_samples`` after checks, or drawn
    from ``random_state``."""
    shape = (batch, channels, n_dims)
    if value is None:
        generator = _as_generator(random_state)
        if dtype == _half.HALF:
            # Multiples of 2**-11 are exact in float16 and stay below 1 (a float32 draw
            # rounded to float16 could round up to 1).
            return (generator.integers(0, 2**11, shape) * 2.0**-11).astype(dtype)
        return generator.random(shape, dtype=dtype)
    if random_state is not None:
        raise ValueError("give _random_samples or random_state, not both")
    samples = _arrays.as_array("_random_samples", value)
    if samples.dtype != dtype:
        raise TypeError(
            f"_random_samples must have the input's dtype {dtype} (the windows are computed "
            f"in it, as in PyTorch), got dtype {samples.dtype}")
    if (samples.ndim != 3 or samples.shape[0] < batch or samples.shape[1:] != shape[1:]):
        raise ValueError(
            f"_random_samples must have shape {shape} (batch, channels, {n_dims}; extra rows "
            f"past the batch are ignored, as in PyTorch), got {samples.shape}")
    samples = samples[:batch]
    if not np.all((samples >= 0) & (samples < 1)):
        raise ValueError("_random_samples must lie in [0, 1)")
    return samples


def _interval_starts(samples: np.ndarray, length: int, out: int, kernel: int,
                     axis: int) -> np.ndarray:
    """(planes, out) window starts along one axis from each plane's sample: PyTorch's
    generate_intervals, in the samples' dtype (NumPy's float16 operations round each result
    to float16, as PyTorch's Half does)."""
    starts = np.empty((samples.shape[0], out), np.int64)
    starts[:, -1] = length - kernel
    if out > 1:
        scalar = samples.dtype.type
        with np.errstate(over="ignore", invalid="ignore"):
            alpha = scalar(length - kernel) / scalar(out - 1)
            scaled = (np.arange(out - 1).astype(samples.dtype) + samples[:, None]) * alpha
            offsets = samples * alpha
        # float16 overflows past 65504: PyTorch then converts inf to int, which C leaves
        # undefined. Refused, as is any start outside the input (the kernel trusts them).
        if not (np.isfinite(scaled).all() and np.isfinite(offsets).all()):
            raise ValueError(
                f"spatial axis {axis} is too long for {samples.dtype} window arithmetic "
                f"(input size {length}, output size {out}, kernel_size {kernel}); use a "
                f"wider dtype")
        starts[:, :-1] = scaled.astype(np.int64) - offsets.astype(np.int64)[:, None]
    if starts.min() < 0 or starts.max() > length - kernel:
        raise ValueError(
            f"the windows of spatial axis {axis} (input size {length}, output size {out}, "
            f"kernel_size {kernel}) fall outside the input in {samples.dtype} arithmetic; "
            f"use a wider dtype")
    return starts


def _fractional_max_pool(n_dims, input, kernel_size, output_size, output_ratio,
                         return_indices, random_samples, random_state, out, n_threads):
    n_threads = check_n_threads(n_threads)
    array = _arrays.as_float_array("input", input)
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    spatial = array.shape[-n_dims:]
    kernel = as_size_tuple("kernel_size", kernel_size, n_dims)
    if min(kernel) <= 0:
        raise ValueError(f"kernel_size must be positive, got {kernel}")
    sizes = _output_size(n_dims, spatial, kernel, output_size, output_ratio)
    return_indices = as_flag("return_indices", return_indices)
    lead = array.shape[:-n_dims]
    batch = lead[0] if len(lead) == 2 else 1
    samples = _samples(random_samples, random_state, array.dtype, batch, lead[-1], n_dims)
    values, indices = _arrays.value_index_outputs(out, return_indices, lead + sizes,
                                                  array.dtype, np.dtype(np.int64), array)
    if values.size == 0:
        return (values, indices) if return_indices else values
    plane_samples = samples.reshape(-1, n_dims)
    missing = 3 - n_dims
    starts = [np.zeros((plane_samples.shape[0], 1), np.int64)] * missing + [
        _interval_starts(plane_samples[:, which], length, size, k, axis)
        for axis, (which, length, size, k)
        in enumerate(zip(_SAMPLE_OF_AXIS[n_dims], spatial, sizes, kernel))]
    window = (1,) * missing + kernel
    n_threads = n_threads_for(n_threads, values.size * math.prod(kernel))
    kernel_values = _half.kernel_output(values)
    if indices is None:
        kernels.fractional_max_pool_forward_values(
            _arrays.planes(_half.widened(array), n_dims), _arrays.planes(kernel_values, n_dims),
            *starts, window, n_threads=n_threads)
    else:
        kernels.fractional_max_pool_forward(
            _arrays.planes(_half.widened(array), n_dims), _arrays.planes(kernel_values, n_dims),
            _arrays.planes(indices, n_dims), *starts, window, n_threads=n_threads)
    _half.narrow_into(values, kernel_values)
    return (values, indices) if return_indices else values


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None, *, random_state=None,
                          out=None, n_threads=None):
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples, random_state, out, n_threads)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None, *, random_state=None,
                          out=None, n_threads=None):
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples, random_state, out, n_threads)


def fractional_max_pool2d_backward(grad_output, indices, input_shape, *, out=None,
                                   n_threads=None):
    return _max_pool_backward(2, grad_output, indices, input_shape, out, n_threads,
                              keeps_channels_last=False)


def fractional_max_pool3d_backward(grad_output, indices, input_shape, *, out=None,
                                   n_threads=None):
    return _max_pool_backward(3, grad_output, indices, input_shape, out, n_threads,
                              keeps_channels_last=False)


_FORWARD_DOC = """Fractional max pooling over the {n}-d spatial axes of ``input``, as ``torch.nn.functional.fractional_max_pool{n}d``.

Each (n, c) plane draws one sample ``u`` in [0, 1) per spatial axis; along an axis of input
length ``L``, output length ``O`` and kernel size ``k``, output ``i`` pools the ``k`` elements
from ``int((i + u) * alpha) - int(u * alpha)`` on, with ``alpha = (L - k) / (O - 1)``, and the
last output the last ``k`` elements. The starts are computed in the input's dtype, as
PyTorch does, so given the same samples the values and indices equal PyTorch's bit for bit.
Max rule as ``max_pool{n}d``: ties give the first maximum in raster order, a NaN beats every
number and of several NaNs the last wins.

Parameters
----------
input : array_like, float16, float32 or float64
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``; N may be 0. Any memory
    layout; never modified. (float16 is pooled in float32 and rounded once, which is exact.)
kernel_size : int or tuple of {n} ints
    Window size.
output_size : int or tuple of {n} ints, optional
    Output size; ``output + kernel_size - 1`` must be {relation} the input size on every
    axis (PyTorch's check{check_note}).
output_ratio : float or tuple of {n} floats in (0, 1], optional
    Used when ``output_size`` is None (and ignored otherwise, as in PyTorch):
    ``output_size = int(L * ratio)`` per axis.
return_indices : bool, default False
    Also return the argmax of each window.
_random_samples : array_like, optional
    The samples, shape ``(N, C, {n})`` (``(1, C, {n})`` unbatched; extra rows are ignored, as
    in PyTorch), of the input's dtype, in [0, 1). Sample {width_sample} drives the width,
    {sample_order}.
random_state : None, int or numpy.random.Generator, optional, keyword-only
    Where the samples come from when ``_random_samples`` is None: a seed or a generator
    (which is advanced), drawn as ``generator.random((N, C, {n}), dtype)`` (float16: random
    multiples of 2**-11); None draws fresh ones. Not with ``_random_samples``.
out : ndarray or (ndarray, ndarray), optional, keyword-only
    Where to write the result (a ``(values, indices)`` pair when ``return_indices``):
    C-contiguous, aligned, writeable, of the result's exact shape and dtype.
n_threads : int, optional, keyword-only
    Threads to use; default (None) OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl).

Returns
-------
values : ndarray
    Shape ``(N, C, {out_spatial})`` (or unbatched), the input's dtype.
indices : ndarray of int64, only with ``return_indices``
    Flat position of each maximum in its input plane: ``{index_formula}``.

Raises
------
TypeError
    For a non-float ``input``, non-integer sizes, ``_random_samples`` of another dtype than
    the input, a bad ``random_state``, or an ``out`` of the wrong type or dtype.
ValueError
    For a wrong number of dimensions, zero channel or spatial sizes, neither ``output_size``
    nor ``output_ratio``, an output that does not fit the input, samples of the wrong shape
    or outside [0, 1), both ``_random_samples`` and ``random_state``, a float16 axis too long
    for float16 window arithmetic (``L - k`` above 65504), or an ``out`` of the wrong shape or
    layout.

Examples
--------
>>> import numpy as np
>>> import cypool
{example}
"""


_FORWARD_EXAMPLES = {
    2: """>>> x = np.arange(30, dtype=np.float32).reshape(1, 1, 5, 6)
>>> samples = np.array([[[0.5, 0.25]]], dtype=np.float32)  # (width, height)
>>> values, indices = cypool.fractional_max_pool2d(x, 2, output_size=(3, 4),
...                                                return_indices=True,
...                                                _random_samples=samples)
>>> values
array([[[[ 7.,  9., 10., 11.],
         [13., 15., 16., 17.],
         [25., 27., 28., 29.]]]], dtype=float32)
>>> np.array_equal(indices, values)  # x holds its own flat positions
True
>>> cypool.fractional_max_pool2d(x, 2, output_ratio=0.5, random_state=0).shape
(1, 1, 2, 3)""",
    3: """>>> x = np.arange(120.).reshape(1, 4, 5, 6)  # unbatched: C=1
>>> samples = np.array([[[0.1, 0.5, 0.9]]])  # (depth, height, width)
>>> values = cypool.fractional_max_pool3d(x, 2, output_size=(2, 2, 3),
...                                       _random_samples=samples)
>>> values.ravel().tolist()
[37.0, 39.0, 41.0, 55.0, 57.0, 59.0, 97.0, 99.0, 101.0, 115.0, 117.0, 119.0]""",
}

_BACKWARD_EXAMPLES = {
    2: """>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
>>> # Output 3 from 4 with k=2: windows at every position, whatever the samples.
>>> values, indices = cypool.fractional_max_pool2d(x, 2, output_size=3, return_indices=True,
...                                                random_state=1)
>>> cypool.fractional_max_pool2d_backward(np.ones_like(values), indices, x.shape)[0]
array([[0., 0., 0., 0.],
       [0., 1., 1., 1.],
       [0., 1., 1., 1.],
       [0., 1., 1., 1.]], dtype=float32)""",
    3: """>>> x = np.arange(64.).reshape(1, 1, 4, 4, 4)
>>> values, indices = cypool.fractional_max_pool3d(x, 3, output_size=1, return_indices=True,
...                                                random_state=0)
>>> cypool.fractional_max_pool3d_backward(values, indices, x.shape).ravel()[-3:].tolist()
[0.0, 0.0, 63.0]""",
}

_SPATIAL = {2: ("H, W", "OH, OW", "h*W + w", "H*W"),
            3: ("D, H, W", "OD, OH, OW", "(d*H + h)*W + w", "D*H*W")}

for _n, (_forward, _backward) in {
    2: (fractional_max_pool2d, fractional_max_pool2d_backward),
    3: (fractional_max_pool3d, fractional_max_pool3d_backward),
}.items():
    _spatial, _out_spatial, _formula, _plane = _SPATIAL[_n]
    _forward.__doc__ = _FORWARD_DOC.format(
        n=_n, spatial=_spatial, out_spatial=_out_spatial, index_formula=_formula,
        relation="at most" if _EXTRA_INPUT[_n] == 0 else "less than",
        check_note="" if _n == 2 else "; its 2-d check allows equality",
        width_sample=_SAMPLE_OF_AXIS[_n][-1],
        sample_order=("sample 1 the height (PyTorch's order)" if _n == 2
                      else "samples 0 and 1 the depth and height"),
        example=_FORWARD_EXAMPLES[_n])
    _backward.__doc__ = max_backward_doc(f"fractional_max_pool{_n}d", _out_spatial, _plane,
                                         _BACKWARD_EXAMPLES[_n])
