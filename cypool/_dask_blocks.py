"""What a block of each pooling op needs from its source, and how it is computed exactly.

A block runs the in-memory code on a slice of the planes. The kernels read ``padding`` only as
the offset of the first window and clip taps to the slice they get, so a slice that holds every
real tap of its windows, with the right offset, gives the windows of the whole plane. What
depends on the whole plane is put back here: max-pool indices are shifted from slice to plane
positions, and average divisors (true padding at the true edges, ceil-mode overhang) are
computed from the whole geometry and applied with the same one rounding as in memory.
Backward blocks get each input element's contributions from the same outputs in the same
ascending order as in memory, so float sums round alike.
"""

from __future__ import annotations

import math

import numpy as np

from . import _avg_pool, _half, _max_pool
from ._shape import Geometry

# ---------------------------------------------------------------------------------------------
# Plans: where an axis is cut and what each block needs. Window o of an axis starts at
# o*stride - padding in the input; its taps span (kernel - 1)*dilation + 1 elements.


def forward_cuts(source_bounds, stride: int, padding: int):
    """Output cuts for input chunk boundaries: the first window starting at or after each, so
    a block's windows start in its own input chunk (the halo is on the right only)."""
    return [-(-(bound + padding) // stride) for bound in source_bounds]


def forward_need(geometry: Geometry, axis: int):
    """Outputs [start, stop) of ``axis`` need the input range of their windows' real taps."""
    length, stride, padding = (geometry.input_size[axis], geometry.stride[axis],
                               geometry.padding[axis])
    span = (geometry.kernel[axis] - 1) * geometry.dilation[axis] + 1

    def need(start, stop):
        return (max(0, start * stride - padding),
                min(length, (stop - 1) * stride - padding + span))
    return need


def backward_cuts(source_bounds, kernel: int, stride: int, padding: int):
    """Input cuts for output chunk boundaries b: the first input whose covering windows start
    at output b, so a block's gradient starts in its own output chunk."""
    return [(bound - 1) * stride + kernel - padding for bound in source_bounds]


def backward_need(geometry: Geometry, axis: int):
    """Inputs [start, stop) of ``axis`` need the outputs whose windows cover them (none for
    inputs no window reaches)."""
    kernel, stride, padding, out_length = (geometry.kernel[axis], geometry.stride[axis],
                                           geometry.padding[axis],
                                           geometry.output_size[axis])

    def need(start, stop):
        first = max(0, (start + padding - kernel) // stride + 1)
        last = min(out_length, (stop - 1 + padding) // stride + 1)
        return first, max(first, last)
    return need


def proportional_cuts(source_bounds, source_length: int, length: int):
    """Cuts of an axis of ``length`` at the same fractions as ``source_bounds``."""
    return [bound * length // source_length for bound in source_bounds]


# ---------------------------------------------------------------------------------------------
# Blocks. Each gets ``ranges``: per axis of the array, (start, stop) of the result block and
# (lo, hi) of the source range it was given.


def _slice_geometry(geometry: Geometry, inputs, outputs) -> Geometry:
    """The windows of the outputs ``[first, stop)`` (per spatial axis, ``outputs``) over the
    input slice ``inputs``: the first window's offset in the slice is its padding."""
    return Geometry(
        input_size=tuple(stop - first for first, stop in inputs),
        kernel=geometry.kernel,
        stride=geometry.stride,
        padding=tuple(first_in - (first_out * stride - padding)
                      for (first_in, _), (first_out, _), stride, padding
                      in zip(inputs, outputs, geometry.stride, geometry.padding)),
        dilation=geometry.dilation,
        output_size=tuple(stop - first for first, stop in outputs),
    )


def _spatial(ranges, n_dims):
    """(result block, source range) of each spatial axis."""
    return ([(start, stop) for start, stop, _, _ in ranges[-n_dims:]],
            [(lo, hi) for _, _, lo, hi in ranges[-n_dims:]])


def _divisors(geometry: Geometry, outputs, count_include_pad: bool, divisor_override: int):
    """The integer divisor of each output window of the block ``outputs``, as the whole plane
    has it (the kernels' rule, stated in ``_half._axis_divisors``): axis counts multiply."""
    if divisor_override:
        return np.full([stop - first for first, stop in outputs], divisor_override, np.int64)
    divisor = np.ones((), np.int64)
    for axis, (first, stop) in enumerate(outputs):
        counts = _half._axis_divisors(geometry.input_size[axis], geometry.output_size[axis],
                                      geometry.kernel[axis], geometry.stride[axis],
                                      geometry.padding[axis], count_include_pad)
        divisor = np.multiply.outer(divisor, counts[first:stop])
    return divisor


def _as_float(divisor: np.ndarray, dtype) -> np.ndarray:
    """Integer divisors in ``dtype`` as in memory: one rounding (through float64, exact for
    these integers, as ``_half`` converts them)."""
    return divisor.astype(np.float64).astype(dtype)


def max_pool_block(n_dims, geometry, return_indices, index_dtype, n_threads, ranges, block):
    """Max pooling of an input slice; indices as positions in the whole plane."""
    outputs, inputs = _spatial(ranges, n_dims)
    local = _slice_geometry(geometry, inputs, outputs)
    shape = block.shape[:-n_dims] + local.output_size
    values = np.empty(shape, block.dtype)
    indices = np.empty(shape, np.int64) if return_indices else None
    if values.size:
        _max_pool.pool_into(n_dims, block, local, values, indices, n_threads)
    if not return_indices:
        return values
    coordinates = np.unravel_index(indices, local.input_size)
    whole = np.ravel_multi_index(
        tuple(c + first for c, (first, _) in zip(coordinates, inputs)), geometry.input_size)
    return values, whole.astype(index_dtype, copy=False)


def avg_pool_block(n_dims, geometry, count_include_pad, divisor_override, n_threads, ranges,
                   block):
    """Average pooling of an input slice. Without ``divisor_override`` the kernel sums (divisor
    1: the sum unchanged, in the same order) and the whole plane's divisors divide here, in
    the kernel's dtype (float32 for float16, rounded once at the end, as in memory)."""
    outputs, inputs = _spatial(ranges, n_dims)
    local = _slice_geometry(geometry, inputs, outputs)
    array = _half.widened(block)
    sums = np.empty(block.shape[:-n_dims] + local.output_size, array.dtype)
    if sums.size:
        _avg_pool.pool_into(n_dims, array, local, sums, count_include_pad,
                            divisor_override or 1, n_threads)
        if not divisor_override:
            sums /= _as_float(_divisors(geometry, outputs, count_include_pad, 0), sums.dtype)
    with np.errstate(over="ignore"):  # float16 overflows to inf, as in memory (_half)
        return sums.astype(block.dtype, copy=False)


def avg_pool_backward_block(n_dims, geometry, count_include_pad, divisor_override, dtype,
                            n_threads, ranges, gradient):
    """Average-pool gradient of an input block from the outputs whose windows cover it.

    Each output's share ``g / divisor`` is computed here with the whole plane's divisor, as
    the in-memory code computes it (one division in ``grad_output``'s dtype), and spread with
    divisor 1, which leaves it unchanged; each element adds its shares in ascending output
    order from +0, as in memory.
    """
    blocks, needs = _spatial(ranges, n_dims)
    shape = tuple(stop - start for start, stop, _, _ in ranges)
    if any(first == stop for first, stop in needs):  # no window reaches these inputs
        return np.zeros(shape, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        shares = gradient / _as_float(
            _divisors(geometry, needs, count_include_pad, divisor_override), dtype)
    # With kernel < stride, inputs before the first needed window lie in a gap between
    # windows and get nothing: the kernel spreads over the block from that window's start.
    covered = [(max(start, first * stride - padding), stop)
               for (start, stop), (first, _), stride, padding
               in zip(blocks, needs, geometry.stride, geometry.padding)]
    local = _slice_geometry(geometry, covered, needs)
    part = np.empty(shape[:-n_dims] + local.input_size, dtype)
    if part.size:
        _avg_pool.spread_into(n_dims, shares, local, part, count_include_pad, 1, n_threads)
    if covered == blocks:
        return part
    grad_input = np.zeros(shape, dtype)
    grad_input[(Ellipsis, *(slice(first - start, None)
                            for (first, _), (start, _) in zip(covered, blocks)))] = part
    return grad_input


def max_pool_backward_block(n_dims, input_shape, n_threads, ranges, gradient, indices):
    """Max-pool gradient of an input block from whole output planes (indices may name any
    element of the plane, as in memory).

    Contributions to other blocks go to one extra element past the block's plane, so the
    in-memory backward runs unchanged on (planes, 1, outputs) and adds each element's
    contributions in output raster order, as it does for the whole plane.
    """
    spatial = input_shape[-n_dims:]
    plane_size = math.prod(spatial)
    where = indices.astype(np.int64, copy=False)
    outside = int(np.count_nonzero((where < 0) | (where >= plane_size)))
    if outside:
        raise ValueError(
            f"indices must lie in [0, {plane_size}) (the input plane of input_shape "
            f"{tuple(input_shape)}); {outside} do not"
        )
    blocks, _ = _spatial(ranges, n_dims)
    block_spatial = tuple(stop - start for start, stop in blocks)
    block_size = math.prod(block_spatial)
    if block_spatial != spatial:
        coordinates = np.unravel_index(where, spatial)
        inside = np.logical_and.reduce([(c >= start) & (c < stop)
                                        for c, (start, stop) in zip(coordinates, blocks)])
        local = np.ravel_multi_index(
            tuple(c - start for c, (start, _) in zip(coordinates, blocks)), block_spatial,
            mode="clip")
        where = np.where(inside, local, block_size)
    planes, outputs = math.prod(gradient.shape[:-n_dims]), math.prod(gradient.shape[-n_dims:])
    grad_input = _max_pool._max_pool_backward(
        1, gradient.reshape(planes, 1, outputs), where.reshape(planes, 1, outputs),
        (planes, 1, block_size + 1), None, n_threads)
    return grad_input[:, 0, :block_size].reshape(gradient.shape[:-n_dims] + block_spatial)


def whole_plane_block(function, n_dims, spatial_shape, n_threads, gradient):
    """An in-memory backward ``function(n_dims, gradient, input_shape, out, n_threads)`` on
    whole planes: the block's planes, the input's spatial shape."""
    return function(n_dims, gradient, gradient.shape[:-n_dims] + tuple(spatial_shape), None,
                    n_threads)
