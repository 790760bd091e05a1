"""Hypothesis strategies and array helpers shared by the test modules.

A drawn ``PoolCase`` is a valid pooling problem: an input array (with some memory layout)
and the keyword arguments of one pooling call, in the forms a user may write them (ints or
per-dimension tuples, ``stride=None``). Geometry is drawn so that the output has at least one
element per dimension; the rarer invalid geometries left (a max window holding only padding)
are rejected with ``assume``.
"""

import dataclasses
import tracemalloc

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import cypool
from cypool import reference

DTYPES = (np.float32, np.float64)
VALUE_MODES = ("ties", "normal", "special", "neg_inf", "extremes")
LAYOUTS = ("C", "sliced", "channels_last", "negative", "fortran", "unaligned")


# --------------------------------------------------------------------------------------
# Values and layouts
# --------------------------------------------------------------------------------------

def make_values(shape, dtype, mode, seed):
    """Random array of ``shape`` and ``dtype``, C-contiguous.

    ``ties``: small integers, so windows hold equal maxima. ``normal``: continuous values,
    so float32 summation order shows. ``special``: small integers with NaN, +inf and -inf
    sprinkled in. ``neg_inf``: mostly -inf with a few small integers and NaNs. ``extremes``:
    small integers and, for a third of the elements, the dtype's edges: +-0, the smallest
    subnormal (1e-45 in float32), the smallest normal, +-max (sums overflow), +-inf and NaN.
    """
    rng = np.random.default_rng(seed)
    if mode == "normal":
        return rng.standard_normal(shape).astype(dtype)
    values = rng.integers(-3, 4, size=shape).astype(dtype)
    if mode == "special":
        mask = rng.random(shape) < 0.15
        values[mask] = rng.choice(np.array([np.nan, -np.inf, np.inf], dtype=dtype),
                                  size=int(mask.sum()))
    elif mode == "neg_inf":
        values[rng.random(shape) < 0.8] = -np.inf
        values[rng.random(shape) < 0.05] = np.nan
    elif mode == "extremes":
        info = np.finfo(dtype)
        edges = np.array([0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal,
                          info.tiny, info.max, -info.max, info.max, -info.max, np.inf, -np.inf,
                          np.nan], dtype=dtype)
        mask = rng.random(shape) < 1 / 3
        values[mask] = rng.choice(edges, size=int(mask.sum()))
    return values


def with_layout(array, layout, readonly=False, channel_axis=None):
    """A new array equal to ``array`` but laid out in memory as ``layout`` says.

    ``C``: C-contiguous copy. ``sliced``: every other element of a bigger buffer along every
    axis. ``channels_last``: ``channel_axis`` (default 1, or 0 for a 2-d array) is the
    fastest in memory.
    ``negative``: negative strides along every axis. ``fortran``: column-major.
    ``unaligned``: C-contiguous, but one byte past an element boundary (as a view of a
    byte buffer at an odd offset can be), so the kernels must not be handed its pointer.
    """
    array = np.asarray(array)
    if layout == "C":
        result = array.copy()
    elif layout == "sliced":
        buffer = np.full(tuple(2 * n for n in array.shape), 1234.5, dtype=array.dtype)
        result = buffer[(slice(None, None, 2),) * array.ndim]
        result[...] = array
    elif layout == "channels_last":
        if channel_axis is None:
            channel_axis = 1 if array.ndim >= 3 else 0
        moved = np.ascontiguousarray(np.moveaxis(array, channel_axis, -1))
        result = np.moveaxis(moved, -1, channel_axis)
    elif layout == "negative":
        flip = (slice(None, None, -1),) * array.ndim
        result = array[flip].copy()[flip]
    elif layout == "fortran":
        result = np.asfortranarray(array)
        if result is array:
            result = array.copy(order="F")
    elif layout == "unaligned":
        buffer = np.empty(array.nbytes + 1, dtype=np.uint8)
        result = buffer[1:].view(array.dtype).reshape(array.shape)
        result[...] = array
        assert not result.flags.aligned or array.size == 0 or array.dtype.alignment == 1
    else:
        raise ValueError(layout)
    assert result.shape == array.shape and result.dtype == array.dtype
    if readonly:
        result.flags.writeable = False
    return result


# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------

def has_padding_only_window(spatial, kernel_size, stride, padding, dilation, out_shape):
    """True if some max-pooling window holds no real input element.

    A window is all padding as soon as one dimension has no real tap, so it is enough to
    look at each dimension on its own.
    """
    for L, k, s, p, d, o in zip(spatial, kernel_size, stride, padding, dilation, out_shape):
        for i in range(o):
            if not any(0 <= i * s - p + t * d < L for t in range(k)):
                return True
    return False


def output_shape(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    return tuple(reference.pooling_output_size(L, k, s, p, d, ceil_mode)
                 for L, k, s, p, d in zip(spatial, kernel_size, stride, padding, dilation))


@dataclasses.dataclass
class PoolCase:
    n_dims: int
    kind: str                 # "max" or "avg"
    x: np.ndarray             # the input, in its drawn memory layout
    kwargs: dict              # keyword arguments of the pooling call (as a user writes them)
    kernel_size: tuple        # normalised per-dimension values
    stride: tuple
    padding: tuple
    dilation: tuple
    out_shape: tuple          # full output shape, batch and channel axes included
    seed: int

    @property
    def spatial(self):
        return self.x.shape[-self.n_dims:]

    def backward_kwargs(self):
        """The geometry arguments of the matching avg backward call (no dilation)."""
        return {k: v for k, v in self.kwargs.items() if k != "dilation"}


def _user_form(draw, values, allow_none_for=None):
    """Present per-dimension ``values`` as a user might: a scalar when all equal, or a tuple
    (or a list), or ``None`` for a stride equal to the kernel size."""
    if allow_none_for is not None and values == allow_none_for and draw(st.booleans()):
        return None
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return draw(st.sampled_from([tuple, list]))(values)


@st.composite
def pool_cases(draw, n_dims, kind, max_spatial=9, dtypes=DTYPES, layouts=LAYOUTS,
               value_modes=VALUE_MODES, max_batch=3, batched=None, max_channels=3):
    """A valid pooling problem of ``kind`` ("max" or "avg") over ``n_dims`` spatial dims."""
    kernel_size = tuple(draw(st.integers(1, 4)) for _ in range(n_dims))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(n_dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel_size)
    if kind == "max":
        dilation = tuple(draw(st.integers(1, 3)) for _ in range(n_dims))
    else:
        dilation = (1,) * n_dims
    ceil_mode = draw(st.booleans())
    # Smallest length whose (floor-mode) output is not empty; ceil mode never gives fewer.
    spatial = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max(max_spatial,
                                                                 d * (k - 1) + 1 - 2 * p)))
        for k, p, d in zip(kernel_size, padding, dilation))
    out_spatial = output_shape(spatial, kernel_size, stride, padding, dilation, ceil_mode)
    assert all(o >= 1 for o in out_spatial)
    if kind == "max":
        assume(not has_padding_only_window(spatial, kernel_size, stride, padding, dilation,
                                           out_spatial))

    if batched is None:
        batched = draw(st.booleans())
    channels = draw(st.integers(1, max_channels))
    lead = (draw(st.integers(0, max_batch)), channels) if batched else (channels,)
    dtype = draw(st.sampled_from(dtypes))
    mode = draw(st.sampled_from(value_modes))
    seed = draw(st.integers(0, 2**32 - 1))
    layout = draw(st.sampled_from(layouts))
    readonly = draw(st.booleans())
    x = with_layout(make_values(lead + spatial, dtype, mode, seed), layout, readonly,
                    channel_axis=len(lead) - 1)

    kwargs = {
        "kernel_size": _user_form(draw, kernel_size),
        "stride": _user_form(draw, stride, allow_none_for=kernel_size),
        "padding": _user_form(draw, padding),
        "ceil_mode": ceil_mode,
    }
    if kind == "max":
        kwargs["dilation"] = _user_form(draw, dilation)
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 20)))
    return PoolCase(n_dims, kind, x, kwargs, kernel_size, stride, padding, dilation,
                    lead + out_spatial, seed)


# --------------------------------------------------------------------------------------
# Adaptive pooling
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class AdaptiveCase:
    n_dims: int
    x: np.ndarray             # the input, in its drawn memory layout
    output_size: object       # as a user writes it: an int, or a tuple/list with None entries
    out_shape: tuple          # full output shape, batch and channel axes included
    seed: int

    @property
    def out_spatial(self):
        return self.out_shape[-self.n_dims:]


@st.composite
def adaptive_cases(draw, n_dims, max_spatial=9, max_output=12, dtypes=DTYPES, layouts=LAYOUTS,
                   value_modes=VALUE_MODES, max_batch=3, batched=None):
    """A valid adaptive pooling problem: outputs smaller than, equal to and larger than the
    input, divisors of it (the uniform-width path) and all-ones (the global path)."""
    spatial = tuple(draw(st.integers(1, max_spatial)) for _ in range(n_dims))
    sizes = []
    for length in spatial:
        divisors = [d for d in range(1, length + 1) if length % d == 0]
        sizes.append(draw(st.one_of(st.integers(1, max_output), st.sampled_from(divisors),
                                    st.just(1))))
    if draw(st.integers(0, 7)) == 0:
        sizes = [1] * n_dims
    out_spatial = tuple(sizes)
    if len(set(sizes)) == 1 and draw(st.booleans()):
        output_size = sizes[0]
    else:
        entries = [None if size == length and draw(st.booleans()) else size
                   for size, length in zip(sizes, spatial)]
        output_size = draw(st.sampled_from([tuple, list]))(entries)

    if batched is None:
        batched = draw(st.booleans())
    channels = draw(st.integers(1, 3))
    lead = (draw(st.integers(0, max_batch)), channels) if batched else (channels,)
    dtype = draw(st.sampled_from(dtypes))
    mode = draw(st.sampled_from(value_modes))
    seed = draw(st.integers(0, 2**32 - 1))
    layout = draw(st.sampled_from(layouts))
    readonly = draw(st.booleans())
    x = with_layout(make_values(lead + spatial, dtype, mode, seed), layout, readonly,
                    channel_axis=len(lead) - 1)
    return AdaptiveCase(n_dims, x, output_size, lead + out_spatial, seed)


# --------------------------------------------------------------------------------------
# Helpers shared by the test modules
# --------------------------------------------------------------------------------------

def api(name, n_dims, suffix=""):
    """``api("max_pool", 2, "_backward")`` is ``cypool.max_pool2d_backward``."""
    return getattr(cypool, f"{name}{n_dims}d{suffix}")


def ref(name, n_dims, suffix=""):
    """The reference function of the same name."""
    return getattr(reference, f"{name}{n_dims}d{suffix}")


def assert_same_array(actual, expected):
    """Same type, dtype, shape and values (NaNs in the same places, zeros of the same sign)."""
    assert isinstance(actual, np.ndarray), type(actual)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_array_equal(actual, expected, strict=True)
    if actual.dtype.kind == "f":  # assert_array_equal takes -0.0 for 0.0
        zeros = expected == 0
        np.testing.assert_array_equal(np.signbit(actual[zeros]), np.signbit(expected[zeros]))


def peak_traced_bytes(step, repeats=5):
    """Peak bytes tracemalloc traces over ``repeats`` calls of ``step``, after one untraced
    warm-up call (caches, lazily built objects)."""
    step()
    tracemalloc.start()
    try:
        for _ in range(repeats):
            step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------------------
# Fractional max pooling
# --------------------------------------------------------------------------------------

# PyTorch's fit rule: out + k - 1 <= L in 2-d, out + k - 1 < L in 3-d.
FRACTIONAL_EXTRA_INPUT = {2: 0, 3: 1}


@dataclasses.dataclass
class FractionalCase:
    n_dims: int
    x: np.ndarray             # the input, in its drawn memory layout
    kwargs: dict              # kernel_size and output_size or output_ratio, as a user writes them
    samples: np.ndarray       # (N or 1 plus extra rows, C, n_dims), the input's dtype
    out_shape: tuple          # full output shape, batch and channel axes included
    seed: int


def fractional_samples(shape, dtype, rng):
    """Samples in [0, 1) of ``dtype``, with the edges 0 and the largest value below 1 mixed in."""
    dtype = np.dtype(dtype)
    samples = (rng.integers(0, 2**11, shape) * 2.0**-11 if dtype == np.float16
               else rng.random(shape)).astype(dtype)
    edges = np.array([0, np.nextafter(dtype.type(1), dtype.type(0))], dtype)
    mask = rng.random(shape) < 0.1
    samples[mask] = rng.choice(edges, size=int(mask.sum()))
    return samples


@st.composite
def fractional_cases(draw, n_dims, max_spatial=9, dtypes=DTYPES, layouts=LAYOUTS,
                     value_modes=VALUE_MODES, max_batch=3, batched=None):
    """A valid fractional max pooling problem; one axis is sometimes long (up to 400), where
    computing the window starts in float32 rather than float64 changes them."""
    extra = FRACTIONAL_EXTRA_INPUT[n_dims]
    kernel_size = tuple(draw(st.integers(1, 4)) for _ in range(n_dims))
    spatial = [draw(st.integers(k + extra, max(max_spatial, k + extra))) for k in kernel_size]
    if draw(st.integers(0, 4)) == 0:
        spatial[-1] = draw(st.integers(kernel_size[-1] + extra, 400))
    spatial = tuple(spatial)
    out_spatial = tuple(draw(st.integers(1, length - k + 1 - extra))
                        for length, k in zip(spatial, kernel_size))
    kwargs = {"kernel_size": _user_form(draw, kernel_size)}
    if draw(st.booleans()):
        kwargs["output_size"] = _user_form(draw, out_spatial)
    else:
        # int(L * ratio) is the output size wanted: aim at the middle of its interval (ratio
        # 1 for o == L, which 2-d allows with k == 1).
        kwargs["output_ratio"] = tuple(min(1.0, (o + 0.5) / length)
                                       for o, length in zip(out_spatial, spatial))
    if batched is None:
        batched = draw(st.booleans())
    channels = draw(st.integers(1, 3))
    lead = (draw(st.integers(0, max_batch)), channels) if batched else (channels,)
    dtype = draw(st.sampled_from(dtypes))
    mode = draw(st.sampled_from(value_modes))
    seed = draw(st.integers(0, 2**32 - 1))
    layout = draw(st.sampled_from(layouts))
    readonly = draw(st.booleans())
    x = with_layout(make_values(lead + spatial, dtype, mode, seed), layout, readonly,
                    channel_axis=len(lead) - 1)
    rows = (lead[0] if batched else 1) + draw(st.sampled_from([0, 0, 0, 2]))
    samples = fractional_samples((rows, channels, n_dims), dtype,
                                 np.random.default_rng(seed + 1))
    return FractionalCase(n_dims, x, kwargs, samples, lead + out_spatial, seed)
