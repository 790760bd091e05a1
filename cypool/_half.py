"""float16 for the pooling ops, with PyTorch's CPU float16 results bit for bit.

Forwards run the float32 kernels on a float32 copy and round once at the end: max pooling only
compares (float32 holds every float16 exactly), and PyTorch's float16 average accumulates in
float32 and divides before rounding, as the float32 kernel does.

Backwards must round like PyTorch, which adds each contribution into a float16 gradient (each
addition rounds to float16). NumPy's float16 arithmetic rounds the same way (compute in float32,
round the result), so the scatter is done here in NumPy, in PyTorch's order: slower than the
kernels, but exact.
"""

from __future__ import annotations

import numpy as np

HALF = np.dtype(np.float16)


def widened(array: np.ndarray) -> np.ndarray:
    """``array`` as the kernels read it: float16 becomes a float32 copy, others pass."""
    return array.astype(np.float32) if array.dtype == HALF else array


def kernel_output(result: np.ndarray) -> np.ndarray:
    """Where a kernel writes ``result``: itself, or a float32 array to round into it."""
    return np.empty_like(result, np.float32) if result.dtype == HALF else result  # same layout


def narrow_into(result: np.ndarray, kernel_result: np.ndarray) -> None:
    """Round the kernel's float32 values into a float16 ``result`` (a no-op otherwise).
    Values beyond float16's range become +-inf, as PyTorch's do, without a NumPy warning."""
    if kernel_result is not result:
        with np.errstate(over="ignore"):
            np.copyto(result, kernel_result, casting="same_kind")


def max_pool_backward(gradient: np.ndarray, indices: np.ndarray, grad_input: np.ndarray,
                      n_dims: int) -> int:
    """Scatter a float16 ``gradient`` into ``grad_input`` (zeroed here) through ``indices``;
    outputs in raster order, one float16 rounding per addition. Returns the number of
    indices outside the plane (nothing is written then)."""
    planes = int(np.prod(grad_input.shape[:-n_dims], dtype=np.int64))
    plane_size = int(np.prod(grad_input.shape[-n_dims:], dtype=np.int64))
    where = indices.reshape(planes, -1).astype(np.int64)
    outside = int(np.count_nonzero((where < 0) | (where >= plane_size)))
    if outside:
        return outside
    # The scatter needs a flat view; a channels-last grad_input has none.
    flat = grad_input if grad_input.flags.c_contiguous else np.empty(grad_input.shape, HALF)
    flat[...] = 0
    targets = where + (np.arange(planes, dtype=np.int64) * plane_size)[:, None]
    # np.add.at adds in the order of its indices, unbuffered: repeated targets accumulate.
    # A float16 sum may overflow to inf, as PyTorch's does: no warning for that.
    with np.errstate(over="ignore", invalid="ignore"):
        np.add.at(flat.reshape(-1), targets.reshape(-1), gradient.reshape(-1))
    if flat is not grad_input:
        grad_input[...] = flat
    return 0


def _axis_divisors(length, out_length, kernel, stride, padding, count_include_pad):
    """PyTorch's per-axis window count for each output position along one axis."""
    start = np.arange(out_length) * stride - padding
    stop = np.minimum(start + kernel, length + padding)
    if not count_include_pad:
        start, stop = np.maximum(start, 0), np.minimum(stop, length)
    return stop - start


def avg_pool_backward(gradient: np.ndarray, grad_input: np.ndarray, geometry,
                      count_include_pad: bool, divisor_override: int, n_dims: int) -> None:
    """Average-pool gradient of a float16 ``gradient`` into ``grad_input``: per output,
    ``delta = float16(grad / float16(divisor))``, added to each real tap of its window with one
    float16 rounding per addition, each input element receiving its contributions in output
    raster order (the taps are visited in reverse raster order, which gives that order)."""
    if divisor_override > 0:
        divisor = np.full(geometry.output_size, divisor_override, np.float64)
    else:
        divisor = np.ones((), np.float64)
        for axis in range(n_dims):
            counts = _axis_divisors(geometry.input_size[axis], geometry.output_size[axis],
                                    geometry.kernel[axis], geometry.stride[axis],
                                    geometry.padding[axis], count_include_pad)
            divisor = np.multiply.outer(divisor, counts)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        delta = gradient / divisor.astype(HALF)  # float16 / float16: one rounding
    grad_input[...] = 0
    taps = np.ndindex(*geometry.kernel)
    for tap in reversed(list(taps)):
        inputs, outputs = [], []
        for axis, t in enumerate(tap):
            length, out_length = geometry.input_size[axis], geometry.output_size[axis]
            stride, offset = geometry.stride[axis], t - geometry.padding[axis]
            # Outputs o whose tap lands on a real element: 0 <= o*stride + offset < length.
            first = max(0, -(offset // stride))
            stop = min(out_length, (length - 1 - offset) // stride + 1)
            if stop <= first:
                break
            outputs.append(slice(first, stop))
            inputs.append(slice(first * stride + offset, (stop - 1) * stride + offset + 1,
                                stride))
        else:
            view = (Ellipsis,) + tuple(inputs)
            with np.errstate(invalid="ignore", over="ignore"):
                grad_input[view] += delta[(Ellipsis,) + tuple(outputs)]


def adaptive_avg_pool_backward(gradient: np.ndarray, grad_input: np.ndarray,
                               n_dims: int) -> None:
    """Adaptive average-pool gradient of a float16 ``gradient`` into ``grad_input``, in
    PyTorch's Half arithmetic: per output, in raster order, ``delta = g / kd / kh / kw`` with
    a float16 rounding after each division, added to each element of its window with one
    float16 rounding per addition. Windows as in _adaptive.pxi: output ``o`` of ``O`` over an
    axis of length ``L`` covers ``[floor(o*L/O), ceil((o+1)*L/O))``."""
    spatial, out_spatial = grad_input.shape[-n_dims:], gradient.shape[-n_dims:]
    grad_input[...] = 0
    with np.errstate(invalid="ignore", over="ignore"):
        for position in np.ndindex(*out_spatial):
            bounds = [((o * length) // out, -(-(o + 1) * length // out))
                      for o, out, length in zip(position, out_spatial, spatial)]
            delta = gradient[(Ellipsis,) + position]
            for start, stop in bounds:
                delta = delta / HALF.type(stop - start)
            window = (Ellipsis,) + tuple(slice(start, stop) for start, stop in bounds)
            grad_input[window] += delta[(Ellipsis,) + (None,) * n_dims]
