"""cypool against the NumPy reference: random problems (hypothesis) and named edge cases.

Max pooling must give identical values (NaN where the reference has NaN) and identical
indices; average pooling must be bitwise equal; backward passes must be bitwise equal to the
reference, which adds contributions in PyTorch's order. No call may change its inputs.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from cypool._backend import kernels
from strategies import (
    LAYOUTS,
    api,
    assert_same_array,
    make_values,
    pool_cases,
    ref,
    with_layout,
)

N_DIMS = [1, 2, 3]
# Gradients: continuous values, or with the dtype's edges (sums that overflow, inf - inf).
GRADIENT_MODES = ("normal", "extremes")


MARGIN, MARKER = 8, -777  # canary elements on each side of an out= buffer, and their value


def garbage(shape, dtype):
    """An ``out=`` buffer full of values that must all be overwritten, inside a bigger buffer
    whose margins must not be (``assert_margins_untouched``)."""
    size = int(np.prod(shape))
    buffer = np.full(size + 2 * MARGIN, MARKER, dtype=dtype)
    out = buffer[MARGIN:MARGIN + size].reshape(shape)
    out[...] = np.nan if np.dtype(dtype).kind == "f" else -12345
    return out


def assert_margins_untouched(*outs):
    """Nothing was written just before or after the ``garbage`` buffers ``outs``."""
    for out in outs:
        buffer = out.base
        while buffer.base is not None:
            buffer = buffer.base
        assert (buffer[:MARGIN] == MARKER).all() and (buffer[-MARGIN:] == MARKER).all()


def grad_like(case, layout="C", mode="normal"):
    """A gradient for the output of ``case``: continuous values by default, so float32 sums
    show their order (``mode`` as in ``make_values``)."""
    grad = make_values(case.out_shape, case.x.dtype, mode, case.seed + 1)
    return with_layout(grad, layout, channel_axis=len(case.out_shape) - case.n_dims - 1)


# --------------------------------------------------------------------------------------
# Random problems against the reference
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_pool_matches_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max"), label="case")
    x_before = case.x.copy()
    expected_values, expected_indices = ref("max_pool", n_dims)(
        case.x, **case.kwargs, return_indices=True)
    assert expected_values.shape == case.out_shape

    if data.draw(st.booleans(), label="use_out"):
        out = (garbage(case.out_shape, case.x.dtype), garbage(case.out_shape, np.int64))
        result = api("max_pool", n_dims)(case.x, **case.kwargs, return_indices=True, out=out)
        assert len(result) == 2 and result[0] is out[0] and result[1] is out[1]
        assert_margins_untouched(*out)
    else:
        result = api("max_pool", n_dims)(case.x, **case.kwargs, return_indices=True)
        assert len(result) == 2
    values, indices = result
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices)

    if data.draw(st.booleans(), label="use_out_values_only"):
        out = garbage(case.out_shape, case.x.dtype)
        values_only = api("max_pool", n_dims)(case.x, **case.kwargs, out=out)
        assert values_only is out
        assert_margins_untouched(out)
    else:
        values_only = api("max_pool", n_dims)(case.x, **case.kwargs)
    assert_same_array(values_only, expected_values)
    assert_same_array(case.x, x_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_pool_backward_matches_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max"), label="case")
    _, indices = ref("max_pool", n_dims)(case.x, **case.kwargs, return_indices=True)
    grad_output = grad_like(case, data.draw(st.sampled_from(LAYOUTS), label="grad_layout"),
                            data.draw(st.sampled_from(GRADIENT_MODES), label="grad_mode"))
    indices = with_layout(indices, data.draw(st.sampled_from(LAYOUTS), label="index_layout"),
                          readonly=data.draw(st.booleans(), label="readonly"))
    grad_before, indices_before = grad_output.copy(), indices.copy()
    input_shape = data.draw(st.sampled_from([tuple, list]), label="shape_type")(case.x.shape)
    expected = ref("max_pool", n_dims, "_backward")(grad_output, indices, input_shape)

    backward = api("max_pool", n_dims, "_backward")
    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.x.shape, case.x.dtype)
        grad_input = backward(grad_output, indices, input_shape, out=out)
        assert grad_input is out
        assert_margins_untouched(out)
    else:
        grad_input = backward(grad_output, indices, input_shape)
    assert_same_array(grad_input, expected)
    assert_same_array(grad_output, grad_before)
    assert_same_array(indices, indices_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_avg_pool_matches_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "avg"), label="case")
    x_before = case.x.copy()
    expected = ref("avg_pool", n_dims)(case.x, **case.kwargs)
    assert expected.shape == case.out_shape

    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.out_shape, case.x.dtype)
        output = api("avg_pool", n_dims)(case.x, **case.kwargs, out=out)
        assert output is out
        assert_margins_untouched(out)
    else:
        output = api("avg_pool", n_dims)(case.x, **case.kwargs)
    assert_same_array(output, expected)
    assert_same_array(case.x, x_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_avg_pool_backward_matches_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "avg"), label="case")
    grad_output = grad_like(case, data.draw(st.sampled_from(LAYOUTS), label="grad_layout"),
                            data.draw(st.sampled_from(GRADIENT_MODES), label="grad_mode"))
    if data.draw(st.booleans(), label="readonly"):
        grad_output.flags.writeable = False
    grad_before = grad_output.copy()
    input_shape = data.draw(st.sampled_from([tuple, list]), label="shape_type")(case.x.shape)
    expected = ref("avg_pool", n_dims, "_backward")(
        grad_output, input_shape, **case.kwargs)

    backward = api("avg_pool", n_dims, "_backward")
    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.x.shape, case.x.dtype)
        grad_input = backward(grad_output, input_shape, **case.kwargs, out=out)
        assert grad_input is out
        assert_margins_untouched(out)
    else:
        grad_input = backward(grad_output, input_shape, **case.kwargs)
    assert_same_array(grad_input, expected)
    assert_same_array(grad_output, grad_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_avg_pool_backward_is_adjoint_of_forward(n_dims, data):
    """<avg_pool(x), g> == <x, avg_pool_backward(g)>: an oracle independent of the reference."""
    case = data.draw(pool_cases(n_dims, "avg", dtypes=(np.float64,),
                                value_modes=("ties", "normal")), label="case")
    grad_output = grad_like(case)
    output = api("avg_pool", n_dims)(case.x, **case.kwargs)
    grad_input = api("avg_pool", n_dims, "_backward")(
        grad_output, case.x.shape, **case.kwargs)
    lhs = np.sum(output * grad_output)
    rhs = np.sum(case.x * grad_input)
    scale = np.sum(np.abs(output * grad_output)) + np.sum(np.abs(case.x * grad_input))
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * (1 + scale))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_pool_backward_is_adjoint_of_forward(n_dims, data):
    """<max_pool(x), g> == <x, max_pool_backward(g)> for finite x: independent of the reference."""
    case = data.draw(pool_cases(n_dims, "max", dtypes=(np.float64,),
                                value_modes=("ties", "normal")), label="case")
    grad_output = grad_like(case)
    output, indices = api("max_pool", n_dims)(case.x, **case.kwargs, return_indices=True)
    grad_input = api("max_pool", n_dims, "_backward")(
        grad_output, indices, case.x.shape)
    lhs = np.sum(output * grad_output)
    rhs = np.sum(case.x * grad_input)
    scale = np.sum(np.abs(output * grad_output)) + np.sum(np.abs(case.x * grad_input))
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * (1 + scale))


# --------------------------------------------------------------------------------------
# Named edge cases
# --------------------------------------------------------------------------------------

def _random(shape, dtype=np.float64, mode="ties", seed=0):
    return make_values(shape, dtype, mode, seed)


@pytest.mark.parametrize("shape, kernel_size, stride, padding, dilation", [
    ((2, 3, 7, 11), (2, 3), (3, 2), (1, 1), (2, 1)),
    ((2, 3, 11, 7), (3, 2), (2, 3), (1, 0), (1, 2)),
    ((1, 2, 4, 9), (1, 4), (1, 3), 0, 1),
    ((1, 2, 3, 5, 8), (1, 2, 3), (2, 1, 2), (0, 1, 1), (1, 2, 1)),
    ((2, 1, 6, 3, 5), (3, 1, 2), (1, 2, 3), (1, 0, 1), (2, 1, 1)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["ties", "normal", "special"])
def test_non_square_kernels_and_inputs(shape, kernel_size, stride, padding, dilation, dtype,
                                       mode):
    n_dims = len(shape) - 2
    x = _random(shape, dtype, mode)
    expected = ref("max_pool", n_dims)(x, kernel_size, stride, padding, dilation,
                                       return_indices=True)
    actual = api("max_pool", n_dims)(x, kernel_size, stride, padding, dilation,
                                     return_indices=True)
    assert_same_array(actual[0], expected[0])
    assert_same_array(actual[1], expected[1])
    expected = ref("avg_pool", n_dims)(x, kernel_size, stride, padding)
    assert_same_array(api("avg_pool", n_dims)(x, kernel_size, stride, padding), expected)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (2, 3, 7, 5), (1, 2, 3, 4, 5), (2, 2, 5, 4, 3),
                                   (3, 2, 13)])
def test_global_max_index_is_flat_argmax_of_plane(shape):
    """A kernel covering the whole (non-square) plane: the index is NumPy's first argmax."""
    n_dims = len(shape) - 2
    x = _random(shape, np.float64, "ties", seed=1)
    values, indices = api("max_pool", n_dims)(x, shape[2:], return_indices=True)
    planes = x.reshape(shape[0], shape[1], -1)
    assert values.shape == indices.shape == shape[:2] + (1,) * n_dims
    np.testing.assert_array_equal(values.reshape(shape[:2]), planes.max(axis=-1))
    np.testing.assert_array_equal(indices.reshape(shape[:2]), planes.argmax(axis=-1))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 2, 3, 4, 5), (3, 2, 13)])
def test_global_max_finds_a_single_peak_anywhere(shape):
    """One large value per plane, at every position in turn: index decoding uses the right
    dimension (W for the row stride, H*W for the depth stride)."""
    n_dims = len(shape) - 2
    plane_size = int(np.prod(shape[2:]))
    for position in range(plane_size):
        x = np.zeros(shape)
        x.reshape(shape[0], shape[1], -1)[:, :, position] = 1.0
        values, indices = api("max_pool", n_dims)(x, shape[2:], return_indices=True)
        assert np.all(values == 1.0)
        assert np.all(indices == position)


def _first_real_tap(o, stride, padding, dilation, length):
    start = o * stride - padding
    return next(start + t * dilation for t in range(length + padding + 1)
                if start + t * dilation >= 0)


@pytest.mark.parametrize("fill", [5.0, 0.0, -np.inf, np.inf])
@pytest.mark.parametrize("kernel_size, stride, padding, dilation", [
    ((2, 3), (2, 3), (0, 0), (1, 1)),
    ((3, 2), (1, 2), (1, 1), (1, 1)),
    ((3, 4), (2, 1), (1, 2), (2, 1)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_equal_values_report_first_real_tap(fill, kernel_size, stride, padding, dilation,
                                                dtype):
    """Ties keep the first maximum; padding never wins, even when every value is -inf."""
    shape = (2, 3, 7, 8)
    x = np.full(shape, fill, dtype=dtype)
    values, indices = cypool.max_pool2d(x, kernel_size, stride, padding, dilation,
                                        ceil_mode=True, return_indices=True)
    assert np.all(values == fill)
    height, width = shape[2:]
    for oh in range(values.shape[2]):
        for ow in range(values.shape[3]):
            h = _first_real_tap(oh, stride[0], padding[0], dilation[0], height)
            w = _first_real_tap(ow, stride[1], padding[1], dilation[1], width)
            assert np.all(indices[:, :, oh, ow] == h * width + w)


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_ceil_mode_overhang(n_dims):
    """L=5, k=2, s=2 with ceil_mode: a third window holding only x[4]. Its average divides
    by 1 even with count_include_pad, since the overhang lies past the padding."""
    shape = (2, 3) + (5,) * n_dims
    x = _random(shape, np.float64, "normal", seed=2)
    last = (Ellipsis,) + (2,) * n_dims
    corner = (Ellipsis,) + (4,) * n_dims
    values, indices = api("max_pool", n_dims)(x, 2, ceil_mode=True, return_indices=True)
    assert values.shape == shape[:2] + (3,) * n_dims
    np.testing.assert_array_equal(values[last], x[corner])
    np.testing.assert_array_equal(indices[last], 5**n_dims - 1)
    for count_include_pad in (True, False):
        output = api("avg_pool", n_dims)(x, 2, ceil_mode=True,
                                         count_include_pad=count_include_pad)
        np.testing.assert_array_equal(output[last], x[corner])
    assert api("max_pool", n_dims)(x, 2).shape == shape[:2] + (2,) * n_dims


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates_and_last_nan_wins(n_dims, dtype):
    shape = (2, 2) + (6, 7, 5)[:n_dims]
    x = _random(shape, dtype, "special", seed=3)
    x.reshape(-1)[::7] = np.nan
    values, indices = api("max_pool", n_dims)(x, 3, 2, 1, return_indices=True)
    expected_values, expected_indices = ref("max_pool", n_dims)(x, 3, 2, 1,
                                                                return_indices=True)
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices)
    planes = x.reshape(shape[0] * shape[1], -1)
    picked = np.take_along_axis(planes, indices.reshape(planes.shape[0], -1), axis=1)
    assert np.isnan(values).any()
    np.testing.assert_array_equal(np.isnan(values).reshape(picked.shape), np.isnan(picked))


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_minus_inf_everywhere_but_nan(n_dims):
    shape = (1, 2) + (5, 4, 3)[:n_dims]
    x = np.full(shape, -np.inf)
    x.reshape(-1)[5] = np.nan
    expected = ref("max_pool", n_dims)(x, 2, 1, 1, ceil_mode=True, return_indices=True)
    actual = api("max_pool", n_dims)(x, 2, 1, 1, ceil_mode=True, return_indices=True)
    assert_same_array(actual[0], expected[0])
    assert_same_array(actual[1], expected[1])


def _mostly_lowest(shape, dtype, seed):
    """Values of which about two thirds are the dtype's lowest (-inf, or the integer minimum),
    the rest random, a few of them NaN for floats."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        lowest = -np.inf
        x = rng.standard_normal(shape).astype(dtype)
        x[rng.random(shape) < 0.05] = np.nan
    else:
        lowest = np.iinfo(dtype).min
        x = rng.integers(lowest, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    x[rng.random(shape) < 0.65] = lowest
    return x


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint32])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("width", [4, 43, 70, 131])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_three_tap_windows_whose_maximum_is_the_lowest_value(n_dims, dtype, stride, width,
                                                             ceil_mode):
    """Windows 3 wide of stride 1 or 2 with padding: border windows whose real taps are all
    the dtype's lowest value still report their first real tap, never a padding column.
    Widths give outputs in one chunk of 64 columns and in several."""
    shape = (2, 3) + (5, 4)[:n_dims - 1] + (width,)
    x = _mostly_lowest(shape, dtype, seed=width + stride)
    window = dict(kernel_size=3, stride=stride, padding=1, ceil_mode=ceil_mode)
    expected = ref("max_pool", n_dims)(x, **window, return_indices=True)
    for n_threads in (1, 2):
        actual = api("max_pool", n_dims)(x, **window, return_indices=True,
                                         n_threads=n_threads)
        assert_same_array(actual[0], expected[0])
        assert_same_array(actual[1], expected[1])
        assert_same_array(api("max_pool", n_dims)(x, **window, n_threads=n_threads),
                          expected[0])


FLOATS = (np.float32, np.float64)
FOUR_BYTES_AND_UP = FLOATS + (np.int32, np.int64, np.uint32)  # the dtypes of the phase path


def phase_plane_sizes(stride):
    """(height, width) of planes around the limits of the max forward's split-once phase
    planes: output rows of one chunk and of just more, and heights whose split rows just fit
    the scratch and just do not, for vectors of 4, 8 and 16 lanes (3-wide windows of
    `stride`, padding 1)."""
    limits = kernels.PADDED_PLANE_LIMITS
    chunk, elements = limits["phase_chunk"], limits["elements"]
    widest = chunk * stride + 2 - stride  # chunk outputs with padding 1
    sizes = [(3, 3), (5, 4), (14, 14), (4, widest), (4, widest + 1), (4, widest + stride)]
    for lanes in (4, 8, 16):
        count = -(-22 // lanes) * lanes  # 43 columns: 22 outputs of stride 2, 43 of 1
        if stride == 1:
            count = -(-43 // lanes) * lanes
        height = elements // (stride * (count + 2 // stride))
        sizes += [(height, 43), (height + 1, 43)]
    return sizes


@pytest.mark.parametrize("dtype, mode", [(dtype, mode) for dtype in FOUR_BYTES_AND_UP
                                         for mode in ("ties", "special", "lowest")
                                         if mode != "special" or dtype in FLOATS])
@pytest.mark.parametrize("stride", [1, 2, (2, 1), (3, 2)])
def test_small_planes_split_once(dtype, mode, stride):
    """The max forward's phase path (3-wide windows of stride 1 or 2 along the row) on planes
    whose rows are split once into the kernels' scratch, and on planes just too wide or too
    big for it: the reference's values and indices with and without indices, border and
    ceil-mode windows, dilated rows, windows whose real taps are all the lowest value, 1 and
    2 threads."""
    column_stride = stride[1] if isinstance(stride, tuple) else stride
    windows = [dict(padding=1), dict(padding=1, ceil_mode=True), dict(padding=0),
               dict(padding=1, dilation=(2, 1)), dict(padding=0, ceil_mode=True)]
    for trial, size in enumerate(phase_plane_sizes(column_stride)):
        shape = (3, 3) + size
        window = dict(kernel_size=3, stride=stride, **windows[trial % len(windows)])
        if size[0] < 2 * window.get("dilation", (1, 1))[0] + 1:
            continue
        x = (_mostly_lowest(shape, dtype, seed=trial) if mode == "lowest"
             else make_values(shape, dtype, mode, seed=trial))
        expected = ref("max_pool", 2)(x, **window, return_indices=True)
        n_threads = 1 + trial % 2
        values, indices = api("max_pool", 2)(x, **window, return_indices=True,
                                             n_threads=n_threads)
        assert_same_array(values, expected[0])
        assert_same_array(indices, expected[1])
        assert_same_array(api("max_pool", 2)(x, **window, n_threads=n_threads), expected[0])


@pytest.mark.parametrize("function", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("readonly", [False, True])
def test_memory_layouts(function, layout, readonly):
    x = _random((2, 3, 6, 9), np.float32, "normal", seed=4)
    expected = getattr(reference, function)(x, (3, 2), (2, 3), 1)
    laid_out = with_layout(x, layout, readonly)
    assert_same_array(getattr(cypool, function)(laid_out, (3, 2), (2, 3), 1), expected)
    assert_same_array(laid_out, x)


def test_sliced_views_of_a_bigger_array():
    big = _random((4, 6, 12, 15), np.float64, "normal", seed=5)
    view = big[1::2, ::3, 2:11:2, ::-2]
    assert not view.flags.c_contiguous
    for kwargs in [dict(kernel_size=2), dict(kernel_size=(3, 2), stride=1, padding=1)]:
        assert_same_array(cypool.max_pool2d(view, **kwargs), reference.max_pool2d(view, **kwargs))
        assert_same_array(cypool.avg_pool2d(view, **kwargs), reference.avg_pool2d(view, **kwargs))


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_empty_batch(n_dims):
    shape = (0, 3) + (5, 4, 6)[:n_dims]
    out_shape = (0, 3) + (2, 2, 3)[:n_dims]
    x = np.zeros(shape, dtype=np.float32)
    values, indices = api("max_pool", n_dims)(x, 2, return_indices=True)
    assert values.shape == indices.shape == out_shape
    assert values.dtype == np.float32 and indices.dtype == np.int64
    assert api("avg_pool", n_dims)(x, 2).shape == out_shape
    grad = np.zeros(out_shape, dtype=np.float32)
    grad_input = api("max_pool", n_dims, "_backward")(grad, indices, shape)
    assert grad_input.shape == shape and grad_input.dtype == np.float32
    grad_input = api("avg_pool", n_dims, "_backward")(grad, shape, 2)
    assert grad_input.shape == shape and grad_input.dtype == np.float32


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_unbatched_input_gives_unbatched_output(n_dims):
    shape = (3,) + (6, 5, 7)[:n_dims]
    x = _random(shape, np.float64, "normal", seed=6)
    kwargs = dict(kernel_size=3, stride=2, padding=1)
    values, indices = api("max_pool", n_dims)(x, **kwargs, return_indices=True)
    batched_values, batched_indices = api("max_pool", n_dims)(x[None], **kwargs,
                                                              return_indices=True)
    assert values.shape == indices.shape == batched_values.shape[1:]
    assert_same_array(values, batched_values[0])
    assert_same_array(indices, batched_indices[0])
    output = api("avg_pool", n_dims)(x, **kwargs)
    assert_same_array(output, api("avg_pool", n_dims)(x[None], **kwargs)[0])

    grad = _random(values.shape, np.float64, "normal", seed=7)
    grad_input = api("max_pool", n_dims, "_backward")(grad, indices, shape)
    assert_same_array(grad_input, ref("max_pool", n_dims, "_backward")(
        grad, indices, shape))
    grad_input = api("avg_pool", n_dims, "_backward")(grad, shape, **kwargs)
    assert_same_array(grad_input, ref("avg_pool", n_dims, "_backward")(
        grad, shape, **kwargs))


def test_out_reuse():
    """One set of buffers reused across calls: each call returns them, fully overwritten."""
    shape, out_shape = (2, 3, 8, 6), (2, 3, 4, 3)
    values_out = np.empty(out_shape, dtype=np.float32)
    indices_out = np.empty(out_shape, dtype=np.int64)
    avg_out = np.empty(out_shape, dtype=np.float32)
    grad_out = np.empty(shape, dtype=np.float32)
    for seed in range(3):
        x = _random(shape, np.float32, "normal", seed=seed)
        result = cypool.max_pool2d(x, 2, return_indices=True, out=(values_out, indices_out))
        assert result[0] is values_out and result[1] is indices_out
        expected_values, expected_indices = reference.max_pool2d(x, 2, return_indices=True)
        assert_same_array(values_out, expected_values)
        assert_same_array(indices_out, expected_indices)

        assert cypool.avg_pool2d(x, 2, out=avg_out) is avg_out
        assert_same_array(avg_out, reference.avg_pool2d(x, 2))

        grad = _random(out_shape, np.float32, "normal", seed=seed + 10)
        assert cypool.max_pool2d_backward(grad, indices_out, shape, out=grad_out) is grad_out
        assert_same_array(grad_out, reference.max_pool2d_backward(grad, indices_out, shape))
        assert cypool.avg_pool2d_backward(grad, shape, 3, 2, 1, out=grad_out) is grad_out
        assert_same_array(grad_out, reference.avg_pool2d_backward(grad, shape, 3, 2, 1))


def test_array_likes_and_numpy_integers_are_accepted():
    x = [[[1.0, 3.0, 2.0, 0.0, 5.0]], [[4.0, 4.0, -1.0, 2.0, 2.0]]]
    values, indices = cypool.max_pool1d(x, np.int64(2), stride=(np.int32(2),),
                                        ceil_mode=True, return_indices=True)
    assert values.dtype == np.float64
    expected = reference.max_pool1d(np.asarray(x), 2, 2, ceil_mode=True, return_indices=True)
    assert_same_array(values, expected[0])
    assert_same_array(indices, expected[1])
    assert_same_array(cypool.avg_pool1d(x, [3], 1, np.int64(1)),
                      reference.avg_pool1d(np.asarray(x), 3, 1, 1))


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("kernel_size", [2, 4])
def test_padding_of_half_an_even_kernel(n_dims, kernel_size):
    """padding == kernel_size // 2 is the largest allowed, also for even kernels."""
    x = _random((2, 2) + (5, 6, 3)[:n_dims], np.float32, "special", seed=8)
    padding = kernel_size // 2
    for ceil_mode in (False, True):
        kwargs = dict(kernel_size=kernel_size, stride=1, padding=padding, ceil_mode=ceil_mode)
        expected = ref("max_pool", n_dims)(x, **kwargs, return_indices=True)
        actual = api("max_pool", n_dims)(x, **kwargs, return_indices=True)
        assert_same_array(actual[0], expected[0])
        assert_same_array(actual[1], expected[1])
        for count_include_pad in (True, False):
            assert_same_array(
                api("avg_pool", n_dims)(x, **kwargs, count_include_pad=count_include_pad),
                ref("avg_pool", n_dims)(x, **kwargs, count_include_pad=count_include_pad))


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_overlapping_windows_backward_sums(n_dims):
    """Stride 1 with big windows: many outputs add into the same input element, in order."""
    shape = (2, 2) + (7, 6, 5)[:n_dims]
    x = _random(shape, np.float32, "ties", seed=9)
    values, indices = api("max_pool", n_dims)(x, 3, 1, 1, return_indices=True)
    grad = _random(values.shape, np.float32, "normal", seed=10)
    assert_same_array(api("max_pool", n_dims, "_backward")(grad, indices, shape),
                      ref("max_pool", n_dims, "_backward")(grad, indices, shape))
    for kwargs in [dict(count_include_pad=True), dict(count_include_pad=False),
                   dict(divisor_override=5), dict(ceil_mode=True)]:
        grad = _random(api("avg_pool", n_dims)(x, 3, 1, 1, **kwargs).shape, np.float32,
                       "normal", seed=11)
        assert_same_array(
            api("avg_pool", n_dims, "_backward")(grad, shape, 3, 1, 1, **kwargs),
            ref("avg_pool", n_dims, "_backward")(grad, shape, 3, 1, 1, **kwargs))


def check_avg_backward_into_reused_buffer(n_dims, shape, dtype, window, mode, seed, n_threads):
    """The average backward of a ``mode`` gradient (``make_values``) for ``window`` over
    ``shape``, written into a ``garbage`` buffer: bitwise the reference's, and nothing written
    around the buffer."""
    out_shape = api("avg_pool", n_dims)(np.zeros(shape, dtype), **window).shape
    grad = make_values(out_shape, dtype, mode, seed=seed)
    expected = ref("avg_pool", n_dims, "_backward")(grad, shape, **window)
    out = garbage(shape, dtype)
    result = api("avg_pool", n_dims, "_backward")(grad, shape, **window, out=out,
                                                   n_threads=n_threads)
    assert_same_array(result, expected)
    assert_margins_untouched(out)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("kernel_size", [2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiling_windows_backward(n_dims, kernel_size, dtype):
    """kernel == stride without padding, the backward's own path: every input element lies in
    one window or in none. Sizes leave 0 to kernel - 1 uncovered elements on each axis, which
    must come out zero in a reused buffer; -0.0 shares must come out +0.0."""
    rng = np.random.default_rng([n_dims, kernel_size])
    for trial in range(4):
        spatial = tuple(int(rng.integers(kernel_size, 5 * kernel_size))
                        for _ in range(n_dims))
        shape = (2, 3) + spatial
        for kwargs in [dict(), dict(divisor_override=3), dict(count_include_pad=False),
                       dict(ceil_mode=True)]:
            check_avg_backward_into_reused_buffer(n_dims, shape, dtype,
                                                  dict(kernel_size=kernel_size, **kwargs),
                                                  "extremes", trial, n_threads=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_dims, window", [
    (2, dict(kernel_size=2)),
    (2, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (2, dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1))),
    (3, dict(kernel_size=(1, 2, 2))),  # windows one deep
    (1, dict(kernel_size=4, stride=3, padding=2)),
])
def test_max_forward_of_inputs_whose_rows_are_prefetched(dtype, n_dims, window):
    """Inputs of short rows past PREFETCH_LIMITS["input"] bytes, whose window rows ask for
    the input ahead of the rows they pool (also past a plane's last row, and before its first
    where padding starts a window): the same values and indices as the reference, and as
    inputs too small for prefetches."""
    limits = kernels.PREFETCH_LIMITS
    itemsize = np.dtype(dtype).itemsize
    spatial = {1: (45,), 2: (37, 45), 3: (3, 19, 45)}[n_dims]
    assert 2 * spatial[-1] * itemsize < limits["distance"]  # short rows
    planes = -(-limits["input"] // (int(np.prod(spatial)) * itemsize))
    x = make_values((planes, 1) + spatial, dtype, "special", seed=n_dims)
    assert x.nbytes >= limits["input"]
    expected = ref("max_pool", n_dims)(x, **window, return_indices=True)
    for n_threads in (1, 2):
        values, indices = api("max_pool", n_dims)(x, **window, return_indices=True,
                                                  n_threads=n_threads)
        assert_same_array(values, expected[0])
        assert_same_array(indices, expected[1])
        small = x[:2]  # below the limit: no prefetches
        assert_same_array(api("max_pool", n_dims)(small, **window, n_threads=n_threads),
                          expected[0][:2])


def padded_plane_sizes(kernel_size, stride):
    """(height, width) of planes around the limits of the kernels' padded scratch plane:
    small ones inside it, rows just narrow and just too wide for it, and planes of 43 columns
    just small and just too big for it (for each, with some of the window arguments below)."""
    limits = kernels.PADDED_PLANE_LIMITS
    width, elements = limits["width"], limits["elements"]
    rows = elements // (width + kernel_size)
    return ([(kernel_size, kernel_size), (7, 7), (14, 9), (29, 43), (4, 3 * kernel_size)]
            + [(rows, width + extra) for extra in range(-2, stride + 3)]
            + [(elements // 45 + extra, 43) for extra in range(-2 * stride, 2 * stride + 3)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel_size, stride", [(2, 2), (3, 1), (3, 2), (3, (2, 1)),
                                                 (2, (3, 2)), (3, (1, 2))])
def test_small_planes_through_padded_scratch(dtype, kernel_size, stride):
    """2-d average pooling, forward and backward, of planes that fit the kernels' zero-padded
    scratch plane (their own path, for windows 2 wide of stride 2 or 3 wide of stride 1 or 2,
    given at least 4 planes per thread) and of planes just too wide or too big for it: border
    and ceil-mode windows, every divisor rule, NaN, infinities, signed zeros and overflowing
    sums, reused out= buffers, 1 and 2 threads."""
    column_stride = stride[1] if isinstance(stride, tuple) else stride
    windows = [dict(padding=0), dict(padding=1), dict(padding=1, ceil_mode=True),
               dict(padding=0, ceil_mode=True, count_include_pad=False),
               dict(padding=1, ceil_mode=True, count_include_pad=False),
               dict(padding=1, divisor_override=5)]
    for trial, size in enumerate(padded_plane_sizes(kernel_size, column_stride)):
        shape = (3, 3) + size
        window = dict(kernel_size=kernel_size, stride=stride, **windows[trial % len(windows)])
        n_threads = 1 + trial % 2
        x = make_values(shape, dtype, "extremes", seed=trial)
        expected = ref("avg_pool", 2)(x, **window)
        out = garbage(expected.shape, dtype)
        assert_same_array(api("avg_pool", 2)(x, **window, out=out, n_threads=n_threads),
                          expected)
        assert_margins_untouched(out)
        check_avg_backward_into_reused_buffer(2, shape, dtype, window, "extremes", trial,
                                              n_threads)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [3, 4, 43, 70, 131, 300])
@pytest.mark.parametrize("padding", [0, 1])
def test_three_wide_stride_two_backward(n_dims, dtype, width, padding):
    """Average backward of windows 3 wide of stride 2 (ResNet's stem; its own spreading
    loop): border and ceil-mode overhang columns, uncovered trailing columns (zero in a reused
    buffer), narrow and wide rows, -0.0 and extreme shares, 1 and 2 threads."""
    shape = (2, 3) + (5, 4)[:n_dims - 1] + (width,)
    for kwargs in [dict(), dict(count_include_pad=False), dict(ceil_mode=True),
                   dict(ceil_mode=True, count_include_pad=False), dict(divisor_override=5)]:
        window = dict(kernel_size=3, stride=2, padding=padding, **kwargs)
        for mode in GRADIENT_MODES:
            for n_threads in (1, 2):
                check_avg_backward_into_reused_buffer(n_dims, shape, dtype, window, mode,
                                                      width, n_threads)
