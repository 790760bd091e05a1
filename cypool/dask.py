"""cypool's pooling functions on Dask arrays: lazy, and bit for bit the in-memory results for
any chunking.

Needs the ``dask`` extra (``pip install "cypool[dask]"``); ``import cypool`` never imports it.
Each function takes a ``dask.array.Array`` (or anything ``numpy.asarray`` accepts, made one
Dask chunk) and returns Dask arrays; nothing is computed until you ask for it, on any
scheduler (threads, processes, ``distributed``).

- Batch and channel chunks map straight onto the kernels.
- Window pooling (``max_pool*``, ``avg_pool*`` and their backwards) also splits the spatial
  axes, for any chunk sizes: each output block reads exactly the input its windows need from
  the neighbouring chunks (a halo), padding and ``ceil_mode`` apply only at the true edges of
  the array, and max-pool indices are positions in the whole plane. Output chunks follow the
  input's: a block holds the windows that start in its input chunk.
- Adaptive and global pooling do not decompose exactly over spatial chunks (adaptive windows
  move with the size; the global average reproduces PyTorch's summation order over the whole
  plane): their spatial axes are joined into one chunk per plane first.
- ``max_pool*_backward`` takes indices that may name any element of the plane, as in memory,
  so each gradient block reads the whole ``grad_output`` planes of its batch and channel
  chunk.
- The backwards take ``chunks=``, the chunks of the gradient they return (by default: batch
  and channel chunks of ``grad_output``, spatial chunks that match its spatial chunks).

Peak memory is bounded by the chunks: a task holds its input block with its halo and its
output block, and a scheduler runs one task per worker thread at a time.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

try:
    import dask.array as da
    from dask.array.core import normalize_chunks
except ImportError as error:
    raise ImportError('cypool.dask needs Dask: pip install "cypool[dask]"') from error

from . import _adaptive_pool, _arrays, _dask_blocks, _global_pool
from ._dask_graph import (
    bounds_of,
    check_known_chunks,
    cut_plan,
    gather_map,
    same_plan,
    split,
)
from ._shape import (
    adaptive_output_size,
    as_flag,
    check_adaptive_sizes,
    check_divisor_override,
    check_windows_hold_input,
    pool_geometry,
)
from ._threads import check_n_threads

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "global_avg_pool1d",
    "global_avg_pool1d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_avg_pool3d",
    "global_avg_pool3d_backward",
    "global_max_pool1d",
    "global_max_pool1d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "global_max_pool3d",
    "global_max_pool3d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
]

# ---------------------------------------------------------------------------------------------
# Arguments


def _as_dask(name, value):
    """``value`` as a Dask array with known chunk sizes (a NumPy array becomes one chunk)."""
    if not isinstance(value, da.Array):
        array = _arrays.as_array(name, value)
        value = da.from_array(array, chunks=array.shape or -1)
    check_known_chunks(name, value)
    return value


def _dtype_probe(array):
    """An empty NumPy array of ``array``'s dtype, for the in-memory dtype checks."""
    return np.empty(0, array.dtype)


def _meta(ndim, dtype):
    return np.empty((0,) * ndim, dtype)


def _plane_axes(array, n_dims):
    return range(array.ndim - n_dims)


def _result_chunks(name, chunks, shape, gradient, n_dims):
    """``chunks=`` of a backward as one tuple per axis (None: not given), and ``gradient``
    rechunked to its batch and channel chunks."""
    if chunks is None:
        return None, gradient
    try:
        normalized = normalize_chunks(chunks, shape, dtype=gradient.dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be chunks for input_shape {shape}, got {chunks!r}: "
                         f"{error}") from None
    planes = {axis: normalized[axis] for axis in _plane_axes(gradient, n_dims)}
    return normalized, gradient.rechunk(planes)


def _values_and_indices(combined, ndim, dtype, index_dtype):
    return split(combined, [_meta(ndim, dtype), _meta(ndim, index_dtype)])


# ---------------------------------------------------------------------------------------------
# Window pooling: blocks with halos


def _inner_bounds(chunks):
    """Boundaries between chunks (the array's ends are no cuts)."""
    return bounds_of(chunks)[1:-1]


def _window_plans(array, geometry, n_dims, cut, need, result_lengths, cuts=None):
    """Plans for every axis: batch and channels as they are, each spatial axis cut at
    ``cuts`` (given, or ``cut`` of the source's chunk boundaries)."""
    plans = [same_plan(array.chunks[axis]) for axis in _plane_axes(array, n_dims)]
    for axis in range(n_dims):
        source_axis = array.ndim - n_dims + axis
        axis_cuts = (cuts[source_axis] if cuts is not None
                     else cut(_inner_bounds(array.chunks[source_axis]), axis))
        plans.append(cut_plan(result_lengths[axis], axis_cuts, need(geometry, axis)))
    return plans


def _max_pool(n_dims, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices, n_threads, index_dtype):
    n_threads = check_n_threads(n_threads)
    array = _as_dask("input", input)
    _arrays.as_max_pool_input("input", _dtype_probe(array))
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    geometry = pool_geometry(array.shape[-n_dims:], kernel_size, stride, padding, dilation,
                             ceil_mode)
    check_windows_hold_input(geometry)
    return_indices = as_flag("return_indices", return_indices)
    index_dtype = _arrays.as_index_dtype("index_dtype", index_dtype,
                                         math.prod(geometry.input_size))
    plans = _window_plans(
        array, geometry, n_dims,
        lambda bounds, axis: _dask_blocks.forward_cuts(bounds, geometry.stride[axis],
                                                       geometry.padding[axis]),
        _dask_blocks.forward_need, geometry.output_size)
    block = partial(_dask_blocks.max_pool_block, n_dims, geometry, return_indices, index_dtype,
                    n_threads)
    if not return_indices:
        return gather_map("max_pool", block, [array], plans, _meta(array.ndim, array.dtype))
    combined = gather_map("max_pool", block, [array], plans, _meta(array.ndim, object))
    return _values_and_indices(combined, array.ndim, array.dtype, index_dtype)


def _avg_pool(n_dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, n_threads):
    n_threads = check_n_threads(n_threads)
    array = _as_dask("input", input)
    _arrays.as_float_array("input", _dtype_probe(array))
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    geometry = pool_geometry(array.shape[-n_dims:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_flag("count_include_pad", count_include_pad)
    divisor = check_divisor_override(divisor_override)
    plans = _window_plans(
        array, geometry, n_dims,
        lambda bounds, axis: _dask_blocks.forward_cuts(bounds, geometry.stride[axis],
                                                       geometry.padding[axis]),
        _dask_blocks.forward_need, geometry.output_size)
    block = partial(_dask_blocks.avg_pool_block, n_dims, geometry, count_include_pad, divisor,
                    n_threads)
    return gather_map("avg_pool", block, [array], plans, _meta(array.ndim, array.dtype))


def _avg_pool_backward(n_dims, grad_output, input_shape, kernel_size, stride, padding,
                       ceil_mode, count_include_pad, divisor_override, chunks, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient = _as_dask("grad_output", grad_output)
    _arrays.as_float_array("grad_output", _dtype_probe(gradient))
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    geometry = pool_geometry(shape[-n_dims:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_flag("count_include_pad", count_include_pad)
    divisor = check_divisor_override(divisor_override)
    expected = shape[:-n_dims] + geometry.output_size
    if gradient.shape != expected:
        raise ValueError(
            f"grad_output must have shape {expected} (avg_pool{n_dims}d's output for "
            f"input_shape {shape}), got {gradient.shape}"
        )
    cuts, gradient = _result_chunks("chunks", chunks, shape, gradient, n_dims)
    plans = _window_plans(
        gradient, geometry, n_dims,
        lambda bounds, axis: _dask_blocks.backward_cuts(
            bounds, geometry.kernel[axis], geometry.stride[axis], geometry.padding[axis]),
        _dask_blocks.backward_need, geometry.input_size,
        cuts=None if cuts is None else [bounds_of(axis_chunks) for axis_chunks in cuts])
    block = partial(_dask_blocks.avg_pool_backward_block, n_dims, geometry, count_include_pad,
                    divisor, gradient.dtype, n_threads)
    return gather_map("avg_pool_backward", block, [gradient], plans,
                      _meta(gradient.ndim, gradient.dtype))


def _max_pool_backward(n_dims, grad_output, indices, input_shape, chunks, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient = _as_dask("grad_output", grad_output)
    _arrays.as_float_array("grad_output", _dtype_probe(gradient))
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    index_array = _as_dask("indices", indices)
    _arrays.as_index_array("indices", _dtype_probe(index_array))
    if index_array.shape != gradient.shape:
        raise ValueError(
            f"indices must have the shape of grad_output {gradient.shape}, "
            f"got {index_array.shape}"
        )
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    if shape[:-n_dims] != gradient.shape[:-n_dims]:
        raise ValueError(
            f"input_shape {shape} does not match grad_output {gradient.shape} on the batch "
            f"and channel axes"
        )
    cuts, gradient = _result_chunks("chunks", chunks, shape, gradient, n_dims)
    index_array = index_array.rechunk(gradient.chunks)
    plans = [same_plan(gradient.chunks[axis]) for axis in _plane_axes(gradient, n_dims)]
    for axis in range(gradient.ndim - n_dims, gradient.ndim):
        # Indices may name any element of the plane: every block reads whole output planes.
        axis_cuts = (bounds_of(cuts[axis]) if cuts is not None else
                     _dask_blocks.proportional_cuts(_inner_bounds(gradient.chunks[axis]),
                                                    gradient.shape[axis], shape[axis]))
        plans.append(cut_plan(shape[axis], axis_cuts,
                              lambda start, stop, length=gradient.shape[axis]: (0, length)))
    block = partial(_dask_blocks.max_pool_backward_block, n_dims, shape, n_threads)
    return gather_map("max_pool_backward", block, [gradient, index_array], plans,
                      _meta(gradient.ndim, gradient.dtype))


# ---------------------------------------------------------------------------------------------
# Adaptive and global pooling: whole planes


def _whole_planes(array, n_dims):
    return array.rechunk({axis: -1 for axis in range(array.ndim - n_dims, array.ndim)})


def _map_whole_planes(array, n_dims, function, output_spatial, meta):
    array = _whole_planes(array, n_dims)
    chunks = array.chunks[:-n_dims] + tuple((size,) for size in output_spatial)
    return array.map_blocks(function, chunks=chunks, meta=meta)


def _adaptive_max_pool(n_dims, input, output_size, return_indices, n_threads, index_dtype):
    n_threads = check_n_threads(n_threads)
    array = _as_dask("input", input)
    _arrays.as_float_array("input", _dtype_probe(array))
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    sizes = adaptive_output_size(output_size, array.shape[-n_dims:])
    return_indices = as_flag("return_indices", return_indices)
    index_dtype = _arrays.as_index_dtype("index_dtype", index_dtype,
                                         math.prod(array.shape[-n_dims:]))
    function = partial(_adaptive_pool._adaptive_max_pool, n_dims, output_size=sizes,
                       return_indices=return_indices, out=None, n_threads=n_threads,
                       index_dtype=index_dtype)
    if not return_indices:
        return _map_whole_planes(array, n_dims, function, sizes, _meta(array.ndim, array.dtype))
    combined = _map_whole_planes(array, n_dims, function, sizes, _meta(array.ndim, object))
    return _values_and_indices(combined, array.ndim, array.dtype, index_dtype)


def _adaptive_avg_pool(n_dims, input, output_size, n_threads):
    n_threads = check_n_threads(n_threads)
    array = _as_dask("input", input)
    _arrays.as_float_array("input", _dtype_probe(array))
    _arrays.check_pooling_shape("input", array.shape, n_dims)
    sizes = adaptive_output_size(output_size, array.shape[-n_dims:])
    function = partial(_adaptive_pool._adaptive_avg_pool, n_dims, output_size=sizes, out=None,
                       n_threads=n_threads)
    return _map_whole_planes(array, n_dims, function, sizes, _meta(array.ndim, array.dtype))


def _whole_plane_backward(n_dims, function, gradient, shape, chunks, n_threads):
    """A checked backward through the in-memory ``function`` on whole planes."""
    cuts, gradient = _result_chunks("chunks", chunks, shape, gradient, n_dims)
    block = partial(_dask_blocks.whole_plane_block, function, n_dims, shape[-n_dims:],
                    n_threads)
    result = _map_whole_planes(gradient, n_dims, block, shape[-n_dims:],
                               _meta(gradient.ndim, gradient.dtype))
    return result if cuts is None else result.rechunk(cuts)


def _checked_gradient(n_dims, grad_output, input_shape):
    """A float16/float32/float64 ``grad_output`` as a Dask array, and ``input_shape`` as a
    tuple."""
    gradient = _as_dask("grad_output", grad_output)
    _arrays.as_float_array("grad_output", _dtype_probe(gradient))
    _arrays.check_pooling_shape("grad_output", gradient.shape, n_dims)
    shape = _arrays.as_shape("input_shape", input_shape, gradient.ndim)
    _arrays.check_pooling_shape("input_shape", shape, n_dims)
    return gradient, shape


def _adaptive_avg_pool_backward(n_dims, grad_output, input_shape, chunks, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient, shape = _checked_gradient(n_dims, grad_output, input_shape)
    if shape[:-n_dims] != gradient.shape[:-n_dims]:
        raise ValueError(
            f"input_shape {shape} does not match grad_output {gradient.shape} on the batch "
            f"and channel axes"
        )
    check_adaptive_sizes("grad_output's spatial size", gradient.shape[-n_dims:],
                         shape[-n_dims:])
    return _whole_plane_backward(n_dims, _adaptive_pool._adaptive_avg_pool_backward, gradient,
                                 shape, chunks, n_threads)


def _adaptive_max_pool_backward(n_dims, grad_output, indices, input_shape, chunks, n_threads):
    return _max_pool_backward(n_dims, grad_output, indices, input_shape, chunks, n_threads)


def _global_max_pool(n_dims, input, return_indices, n_threads, index_dtype):
    return _adaptive_max_pool(n_dims, input, 1, return_indices, n_threads, index_dtype)


def _global_avg_pool(n_dims, input, n_threads):
    return _adaptive_avg_pool(n_dims, input, 1, n_threads)


def _global_max_pool_backward(n_dims, grad_output, indices, input_shape, chunks, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient, shape = _checked_gradient(n_dims, grad_output, input_shape)
    _global_pool._check_global_gradient(n_dims, gradient, shape)
    return _max_pool_backward(n_dims, gradient, indices, shape, chunks, n_threads)


def _global_avg_pool_backward(n_dims, grad_output, input_shape, chunks, n_threads):
    n_threads = check_n_threads(n_threads)
    gradient, shape = _checked_gradient(n_dims, grad_output, input_shape)
    _global_pool._check_global_gradient(n_dims, gradient, shape)
    return _whole_plane_backward(n_dims, _global_pool._global_avg_pool_backward, gradient,
                                 shape, chunks, n_threads)


# ---------------------------------------------------------------------------------------------
# The public functions, one implementation per family for 1, 2 and 3 spatial dims

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}
_EXAMPLE_SHAPES = {1: ((2, 3, 11), (1, 2, 4)), 2: ((2, 3, 10, 9), (1, 3, 4, 5)),
                   3: ((1, 2, 6, 7, 5), (1, 1, 4, 3, 2))}

_DOC = """Lazy ``cypool.{name}`` of a Dask array: the same values, bit for bit, for any chunking.

{how}

Parameters
----------
{parameters}
n_threads : int, optional, keyword-only
    Threads per task (default: OpenMP's current maximum in the worker).

Returns
-------
{returns}

Raises
------
TypeError, ValueError
    As ``cypool.{name}``, when the graph is built{raises}.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> import cypool
>>> import cypool.dask
>>> x = np.random.default_rng(0).standard_normal({shape}).astype(np.float32)
>>> lazy = da.from_array(x, chunks={chunks})
{example}
"""

_INPUT = """input : dask.array.Array or array_like
    Shape ``(N, C, {spatial})`` or unbatched ``(C, {spatial})``, of a dtype
    ``cypool.{name}`` takes."""
_GRADIENT = """grad_output : dask.array.Array or array_like
    Gradient of the pooled output, as for ``cypool.{name}``."""
_INDICES = """indices : dask.array.Array or array_like
    The indices of the forward pass (positions in the whole plane), same shape as
    ``grad_output``."""
_INPUT_SHAPE = """input_shape : sequence of ints
    Shape of the pooled input."""


def _chunks_doc(default):
    return ("chunks : optional, keyword-only\n    Chunks of the returned gradient, in any form "
            "``dask.array`` takes for ``input_shape``\n    (default: " + default + ").")

_RESULT = """dask.array.Array
    As ``cypool.{name}`` returns, lazily."""
_PAIR = """values : dask.array.Array
    The pooled values.
indices : dask.array.Array, only with ``return_indices``
    Position of each maximum in its whole input plane, as in memory."""

_HOW = {
    "window": ("Spatial chunks are pooled exactly: each output block reads the halo its "
               "windows need from the neighbouring chunks; padding and ``ceil_mode`` apply at "
               "the array's edges only. Output chunks follow the input's."),
    "window_backward": ("Each gradient block reads the outputs whose windows cover it, and "
                        "adds their shares in the in-memory order."),
    "max_backward": ("Indices may name any element of the plane, as in memory, so each "
                     "gradient block reads the whole ``grad_output`` planes of its batch and "
                     "channel chunk."),
    "whole": ("Adaptive and global windows do not decompose exactly over spatial chunks: the "
              "spatial axes are joined into one chunk per plane (batch and channel chunks "
              "are kept)."),
}


def _document(function, name, n_dims, how, parameters, returns, example, raises=""):
    shape, chunks = _EXAMPLE_SHAPES[n_dims]
    function.__name__ = function.__qualname__ = name
    function.__doc__ = _DOC.format(
        name=name, how=_HOW[how], returns=returns.format(name=name), raises=raises,
        shape=shape, chunks=chunks,
        parameters="\n".join(part.format(name=name, spatial=_SPATIAL[n_dims])
                             for part in parameters),
        example=example.format(name=name, n=n_dims))
    return function


def _forward_example(arguments, with_indices=False):
    if with_indices:
        return (f">>> values, indices = cypool.dask.{{name}}(lazy, {arguments}"
                f"return_indices=True)\n"
                f">>> expected = cypool.{{name}}(x, {arguments}return_indices=True)\n"
                f">>> np.array_equal(values.compute(), expected[0])\nTrue\n"
                f">>> np.array_equal(indices.compute(), expected[1])\nTrue")
    return (f">>> result = cypool.dask.{{name}}(lazy, {arguments})\n"
            f">>> np.array_equal(result.compute(), cypool.{{name}}(x, {arguments}))\nTrue")


def _max_backward_example(forward, arguments):
    return (f">>> values, indices = cypool.dask.{forward}(lazy, {arguments}"
            f"return_indices=True)\n"
            f">>> grad = cypool.dask.{{name}}(values, indices, x.shape)\n"
            f">>> pair = cypool.{forward}(x, {arguments}return_indices=True)\n"
            f">>> np.array_equal(grad.compute(), cypool.{{name}}(pair[0], pair[1], x.shape))\n"
            f"True")


def _avg_backward_example(forward, arguments):
    comma = ", " if arguments else ""
    return (f">>> g = cypool.dask.{forward}(lazy{comma}{arguments})\n"
            f">>> grad = cypool.dask.{{name}}(g, x.shape{comma}{arguments})\n"
            f">>> expected = cypool.{{name}}(g.compute(), x.shape{comma}{arguments})\n"
            f">>> np.array_equal(grad.compute(), expected)\nTrue")


_WINDOW = """kernel_size, stride, padding, dilation, ceil_mode, return_indices
    As ``cypool.{name}``.
index_dtype : {{numpy.int64, numpy.int32}}, default numpy.int64, keyword-only
    dtype of the indices."""
_AVG_WINDOW = """kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    As ``cypool.{name}``."""
_OUTPUT_SIZE = """output_size, return_indices
    As ``cypool.{name}``.
index_dtype : {{numpy.int64, numpy.int32}}, default numpy.int64, keyword-only
    dtype of the indices."""
_AVG_OUTPUT_SIZE = """output_size
    As ``cypool.{name}``."""
_RETURN_INDICES = """return_indices : bool, default False
    Also return the position of each maximum.
index_dtype : {{numpy.int64, numpy.int32}}, default numpy.int64, keyword-only
    dtype of the indices."""
_SPREAD_CHUNKS = "batch and channel chunks of ``grad_output``, spatial chunks like its own"
_INDEX_RAISES = "; ValueError when computed, for an index outside the plane"


def _max_pool_function(n_dims):
    def function(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False, *, n_threads=None, index_dtype=np.int64):
        return _max_pool(n_dims, input, kernel_size, stride, padding, dilation, ceil_mode,
                         return_indices, n_threads, index_dtype)
    return _document(function, f"max_pool{n_dims}d", n_dims, "window", [_INPUT, _WINDOW],
                     _PAIR, _forward_example("3, stride=2, padding=1, ", with_indices=True))


def _max_pool_backward_function(n_dims, family="max", forward_arguments="2, "):
    implementation = {"max": _max_pool_backward, "adaptive_max": _adaptive_max_pool_backward,
                      "global_max": _global_max_pool_backward}[family]

    def function(grad_output, indices, input_shape, *, chunks=None, n_threads=None):
        return implementation(n_dims, grad_output, indices, input_shape, chunks, n_threads)
    return _document(
        function, f"{family}_pool{n_dims}d_backward", n_dims, "max_backward",
        [_GRADIENT, _INDICES, _INPUT_SHAPE,
         _chunks_doc("batch and channel chunks of ``grad_output``, spatial chunks at the "
                     "same fractions of the axes as its own")],
        _RESULT, _max_backward_example(f"{family}_pool{n_dims}d", forward_arguments),
        _INDEX_RAISES)


def _avg_pool_function(n_dims):
    def function(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, n_threads=None):
        return _avg_pool(n_dims, input, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override, n_threads)
    return _document(function, f"avg_pool{n_dims}d", n_dims, "window", [_INPUT, _AVG_WINDOW],
                     _RESULT, _forward_example("3, stride=2, padding=1, ceil_mode=True"))


def _avg_pool_backward_function(n_dims):
    def function(grad_output, input_shape, kernel_size, stride=None, padding=0,
                 ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                 chunks=None, n_threads=None):
        return _avg_pool_backward(n_dims, grad_output, input_shape, kernel_size, stride,
                                  padding, ceil_mode, count_include_pad, divisor_override,
                                  chunks, n_threads)
    return _document(
        function, f"avg_pool{n_dims}d_backward", n_dims, "window_backward",
        [_GRADIENT, _INPUT_SHAPE, _AVG_WINDOW, _chunks_doc(_SPREAD_CHUNKS)],
        _RESULT, _avg_backward_example(f"avg_pool{n_dims}d", "3, stride=2, padding=1"))


def _adaptive_max_pool_function(n_dims):
    def function(input, output_size, return_indices=False, *, n_threads=None,
                 index_dtype=np.int64):
        return _adaptive_max_pool(n_dims, input, output_size, return_indices, n_threads,
                                  index_dtype)
    return _document(function, f"adaptive_max_pool{n_dims}d", n_dims, "whole",
                     [_INPUT, _OUTPUT_SIZE], _PAIR, _forward_example("3, ", with_indices=True))


def _adaptive_avg_pool_function(n_dims):
    def function(input, output_size, *, n_threads=None):
        return _adaptive_avg_pool(n_dims, input, output_size, n_threads)
    return _document(function, f"adaptive_avg_pool{n_dims}d", n_dims, "whole",
                     [_INPUT, _AVG_OUTPUT_SIZE],
                     _RESULT, _forward_example("3"))


def _whole_backward_function(n_dims, family):
    implementation = {"adaptive_avg": _adaptive_avg_pool_backward,
                      "global_avg": _global_avg_pool_backward}[family]

    def function(grad_output, input_shape, *, chunks=None, n_threads=None):
        return implementation(n_dims, grad_output, input_shape, chunks, n_threads)
    arguments = "3" if family == "adaptive_avg" else ""
    return _document(
        function, f"{family}_pool{n_dims}d_backward", n_dims, "whole",
        [_GRADIENT, _INPUT_SHAPE, _chunks_doc("whole planes")],
        _RESULT, _avg_backward_example(f"{family}_pool{n_dims}d", arguments)
        .replace(f"x.shape, {arguments})", "x.shape)"))


def _global_max_pool_function(n_dims):
    def function(input, return_indices=False, *, n_threads=None, index_dtype=np.int64):
        return _global_max_pool(n_dims, input, return_indices, n_threads, index_dtype)
    return _document(function, f"global_max_pool{n_dims}d", n_dims, "whole",
                     [_INPUT, _RETURN_INDICES], _PAIR, _forward_example("", with_indices=True))


def _global_avg_pool_function(n_dims):
    def function(input, *, n_threads=None):
        return _global_avg_pool(n_dims, input, n_threads)
    return _document(function, f"global_avg_pool{n_dims}d", n_dims, "whole", [_INPUT],
                     _RESULT, _forward_example("").replace("(lazy, )", "(lazy)")
                     .replace("(x, )", "(x)"))


max_pool1d, max_pool2d, max_pool3d = map(_max_pool_function, (1, 2, 3))
max_pool1d_backward, max_pool2d_backward, max_pool3d_backward = map(
    _max_pool_backward_function, (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = map(_avg_pool_function, (1, 2, 3))
avg_pool1d_backward, avg_pool2d_backward, avg_pool3d_backward = map(
    _avg_pool_backward_function, (1, 2, 3))
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = map(
    _adaptive_max_pool_function, (1, 2, 3))
adaptive_max_pool1d_backward, adaptive_max_pool2d_backward, adaptive_max_pool3d_backward = (
    _max_pool_backward_function(n, "adaptive_max", "3, ") for n in (1, 2, 3))
adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d = map(
    _adaptive_avg_pool_function, (1, 2, 3))
adaptive_avg_pool1d_backward, adaptive_avg_pool2d_backward, adaptive_avg_pool3d_backward = (
    _whole_backward_function(n, "adaptive_avg") for n in (1, 2, 3))
global_max_pool1d, global_max_pool2d, global_max_pool3d = map(
    _global_max_pool_function, (1, 2, 3))
global_max_pool1d_backward, global_max_pool2d_backward, global_max_pool3d_backward = (
    _max_pool_backward_function(n, "global_max", "") for n in (1, 2, 3))
global_avg_pool1d, global_avg_pool2d, global_avg_pool3d = map(
    _global_avg_pool_function, (1, 2, 3))
global_avg_pool1d_backward, global_avg_pool2d_backward, global_avg_pool3d_backward = (
    _whole_backward_function(n, "global_avg") for n in (1, 2, 3))
