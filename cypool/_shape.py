"""Pooling geometry: size-argument normalisation, output sizes and window checks.

Everything about window arithmetic lives here, in pure Python, so each rule is stated once.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._memo import remember

# Larger size arguments are nonsense for any array that fits in memory and would overflow the
# kernels' 64-bit window arithmetic (products of three axes, position * stride).
SIZE_ARGUMENT_LIMIT = 2**40


def as_int(name: str, value, expected: str = "an int") -> int:
    """``value`` as a Python int (NumPy integers too, bools not); TypeError naming ``name``."""
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{name} must be {expected}, got {value!r}")


def as_size_tuple(name: str, value, n_dims: int) -> tuple[int, ...]:
    """``value`` as a tuple of ``n_dims`` Python ints.

    A scalar applies to every spatial axis; a sequence gives one value per axis (a 1-element
    sequence is broadcast, as PyTorch does). Raises TypeError for non-integers (bools included)
    and ValueError for a sequence of the wrong length.
    """
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * n_dims
        if len(items) != n_dims:
            raise ValueError(
                f"{name} must be an int or a sequence of {n_dims} ints, got {value!r} "
                f"({len(items)} values)"
            )
    else:
        items = (value,) * n_dims
    result = []
    for item in items:
        try:
            integer = as_int(name, item)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a sequence of {n_dims} ints, got {value!r}"
            ) from None
        if abs(integer) > SIZE_ARGUMENT_LIMIT:
            raise ValueError(f"{name} is too large: {value!r} (limit {SIZE_ARGUMENT_LIMIT})")
        result.append(integer)
    return tuple(result)


def is_default_stride(stride) -> bool:
    """``stride=None`` or an empty sequence (``torch.nn.functional`` allows both): the stride
    is the kernel size."""
    return stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)


def as_stride(stride, kernel: tuple[int, ...]) -> tuple[int, ...]:
    """The per-axis stride: ``kernel`` for a default stride, else ``stride`` as a tuple."""
    return kernel if is_default_stride(stride) else as_size_tuple("stride", stride, len(kernel))


def as_flag(name: str, value) -> bool:
    """A bool argument: True, False, NumPy bools, or the ints 0 and 1."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {value!r}")


def pooling_output_size(
    length: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length of one axis, PyTorch's ``pooling_output_shape``.

    ``floor((length + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1``, rounded up
    instead with ``ceil_mode``; in ceil mode the last window must start inside the input or the
    left padding, else it is dropped.
    """
    span = length + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        span += stride - 1
    size = span // stride + 1  # floor division, also for a negative span
    if ceil_mode and (size - 1) * stride >= length + padding:
        size -= 1
    return size


@dataclass(frozen=True)
class Geometry:
    """A validated pooling window over ``input_size`` (the spatial axes only)."""

    input_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    output_size: tuple[int, ...]

    @functools.cached_property
    def window_3d(self) -> Window3d:
        """The window as the 3-d kernels take it: missing leading axes get a 1-tap window.
        Worked out once per geometry (pool_geometry caches geometries, and every call reads
        this)."""
        missing = 3 - len(self.kernel)
        return Window3d((1,) * missing + self.kernel, (1,) * missing + self.stride,
                        (0,) * missing + self.padding, (1,) * missing + self.dilation)


class Window3d(NamedTuple):
    """A window over three spatial axes, in the order of the kernels' arguments."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]


def _argument_key(value):
    """A hashable key for a size argument that tells apart what compares equal but validates
    differently (1, True and 1.0); TypeError for an unhashable one."""
    if isinstance(value, (tuple, list)):
        return (list if isinstance(value, list) else tuple,
                tuple(_argument_key(item) for item in value))
    hash(value)
    return (type(value), value)


def pool_geometry(
    input_size: tuple[int, ...],
    kernel_size,
    stride,
    padding,
    dilation,
    ceil_mode,
) -> Geometry:
    """Normalise and check the window arguments of a pooling op over ``input_size``.

    ``stride=None`` (or an empty sequence, as ``torch.nn.functional`` allows) means
    ``stride = kernel_size``. Raises ValueError naming the argument for non-positive sizes,
    padding above half the kernel, and an output smaller than 1; TypeError for non-integers.

    Valid geometries are cached: a training loop calls with the same arguments every step, and
    the checks cost more than pooling a small array does.
    """
    arguments = (input_size, kernel_size, stride, padding, dilation, ceil_mode)
    key: tuple[object, ...]
    if (type(ceil_mode) is bool and _is_plain_size(kernel_size) and _is_plain_size(stride)
            and _is_plain_size(padding) and _is_plain_size(dilation)):
        key = arguments  # the everyday call: built-in ints and a bool, keyed as they are
    else:
        try:
            key = (_TAGGED,) + tuple(_argument_key(argument) for argument in arguments)
        except TypeError:  # an unhashable argument (an array, say): checked every time
            return _checked_geometry(*arguments)
    geometry = _GEOMETRIES.get(key)
    if geometry is None:
        # Invalid arguments raise: never cached.
        geometry = remember(_GEOMETRIES, key, _checked_geometry(*arguments))
    return geometry


def _is_plain_size(value) -> bool:
    """None, a built-in int or a tuple of them (not bools, floats or NumPy ints, which compare
    equal to ints but validate differently): arguments that can key the cache as they are."""
    kind = type(value)
    return (kind is int or value is None
            or (kind is tuple and all(type(item) is int for item in value)))


# Marks the keys built by _argument_key, so that they never equal a plain key.
_TAGGED = object()

# Valid geometries by the key of their arguments, for pool_geometry.
_GEOMETRIES: dict[tuple, Geometry] = {}


def _checked_geometry(input_size, kernel_size, stride, padding, dilation, ceil_mode) -> Geometry:
    n_dims = len(input_size)
    kernel = as_size_tuple("kernel_size", kernel_size, n_dims)
    strides = as_stride(stride, kernel)
    paddings = as_size_tuple("padding", padding, n_dims)
    dilations = as_size_tuple("dilation", dilation, n_dims)
    for name, values in (("kernel_size", kernel), ("stride", strides), ("dilation", dilations)):
        if min(values) <= 0:
            raise ValueError(f"{name} must be positive, got {values}")
    if min(paddings) < 0:
        raise ValueError(f"padding must be non-negative, got {paddings}")
    if any(p > k // 2 for p, k in zip(paddings, kernel)):
        raise ValueError(
            f"padding must be at most half of kernel_size, got padding={paddings} "
            f"for kernel_size={kernel}"
        )
    # Divisors and window offsets are products over the axes: keep them far from int64 limits.
    window_volume = math.prod(
        min(d * (k - 1) + 1, length + 2 * p)
        for length, k, p, d in zip(input_size, kernel, paddings, dilations)
    )
    if window_volume > SIZE_ARGUMENT_LIMIT:
        raise ValueError(
            f"kernel_size={kernel} with padding={paddings} makes windows of {window_volume} "
            f"elements, more than cypool supports ({SIZE_ARGUMENT_LIMIT})"
        )
    output_size = tuple(
        pooling_output_size(length, k, s, p, d, as_flag("ceil_mode", ceil_mode))
        for length, k, s, p, d in zip(input_size, kernel, strides, paddings, dilations)
    )
    if min(output_size) < 1:
        raise ValueError(
            f"output size is too small: input size {input_size} with kernel_size={kernel}, "
            f"stride={strides}, padding={paddings}, dilation={dilations} gives {output_size}"
        )
    return Geometry(input_size, kernel, strides, paddings, dilations, output_size)


def check_windows_hold_input(geometry: Geometry) -> None:
    """Reject a max-pool geometry with a window made only of padding.

    Dilation makes it possible (length 1, kernel 2, dilation 2, padding 1): PyTorch then returns
    -inf with an index outside the plane, and its backward writes out of bounds. Only windows
    that start in the left padding can miss the input: later ones start at a real element.
    Without dilation none can (padding is at most half the window).
    """
    if max(geometry.dilation) == 1:
        return
    for axis, (length, k, s, p, d, out) in enumerate(
        zip(
            geometry.input_size,
            geometry.kernel,
            geometry.stride,
            geometry.padding,
            geometry.dilation,
            geometry.output_size,
        )
    ):
        for o in range(min(out, p // s + 1)):
            start = o * s - p
            first_real_tap = -(start // d)  # ceil(-start / d): the first tap at or past 0
            if first_real_tap >= k or start + first_real_tap * d >= length:
                raise ValueError(
                    f"max pooling window {o} of spatial axis {axis} covers only padding "
                    f"(input size {length}, kernel_size={k}, stride={s}, padding={p}, "
                    f"dilation={d}); its maximum would be undefined"
                )


def check_divisor_override(divisor_override) -> int:
    """``None`` -> 0 (the kernels' 'no override'); else a positive int."""
    if divisor_override is None:
        return 0
    value = as_int("divisor_override", divisor_override, "an int or None")
    if value <= 0 or value > SIZE_ARGUMENT_LIMIT:
        raise ValueError(f"divisor_override must be a positive int, got {divisor_override!r}")
    return value


def adaptive_output_size(output_size, input_size: tuple[int, ...]) -> tuple[int, ...]:
    """``output_size`` of an adaptive pooling op over ``input_size``, as a tuple of ints.

    An int applies to every spatial axis; a sequence has exactly one entry per axis, where
    ``None`` keeps that axis's input size (as ``torch.nn.functional``). Raises TypeError for
    non-integers (bools included) and ValueError for a wrong length or a size below 1.
    """
    n_dims = len(input_size)
    expected = f"an int or a sequence of {n_dims} ints (or None)"
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != n_dims:
            raise ValueError(
                f"output_size must be {expected}, got {output_size!r} "
                f"({len(output_size)} values for {n_dims} spatial axes)"
            )
        items = tuple(output_size)
    else:
        items = (as_int("output_size", output_size, expected),) * n_dims
    chosen = []
    for item, length in zip(items, input_size):
        if item is None:
            chosen.append(length)
            continue
        try:
            chosen.append(as_int("output_size", item))
        except TypeError:
            raise TypeError(f"output_size must be {expected}, got {output_size!r}") from None
    sizes = tuple(chosen)
    if min(sizes) < 1:
        raise ValueError(f"output_size must be positive, got {output_size!r}")
    check_adaptive_sizes("output_size", sizes, input_size)
    if math.prod(sizes) > SIZE_ARGUMENT_LIMIT:  # else NumPy's allocation error, unnamed
        raise ValueError(f"output_size {sizes} makes planes too large for any array")
    return sizes


def check_adaptive_sizes(name: str, output_size, input_size) -> None:
    """Keep the kernels' window arithmetic, (o + 1) * L per axis, inside int64."""
    for out, length in zip(output_size, input_size):
        if out > SIZE_ARGUMENT_LIMIT or (out + 1) * length >= 2**62:
            raise ValueError(
                f"{name} {tuple(output_size)} is too large for input size {tuple(input_size)}"
            )
