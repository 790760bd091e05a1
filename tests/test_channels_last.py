"""Channels-last inputs (the channel axis innermost in memory, as ``x_nhwc.transpose(0, 3, 1, 2)``
gives): pooled by the channels-last kernels, with the reference's values and indices, results
stored channels-last (PyTorch's rule), and gradients in the layout of ``grad_output``."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import _layout
from cypool._backend import kernels
from strategies import api, assert_same_array, make_values, pool_cases, ref, with_layout

INTEGER_DTYPES = (np.uint8, np.int16, np.int64)


def channels_last(array, n_dims=2):
    """``array`` (batched or not) with its channel axis innermost in memory."""
    return with_layout(array, "channels_last", channel_axis=array.ndim - n_dims - 1)


def is_stored_channels_last(array, n_dims):
    return _layout.is_contiguous(array, n_dims, channels_last=True)


def assert_layout_follows(result, source, n_dims):
    """``result`` is channels-last as ``source`` (the input, or grad_output for a backward);
    but a ``source`` of one channel or one pixel is both layouts at once, and the result is
    then in C order."""
    if _layout.is_channels_last(source, n_dims):
        assert is_stored_channels_last(result, n_dims)
    else:
        assert result.flags.c_contiguous


def cl_case(n_dims, kind, dtypes=(np.float32, np.float64)):
    # Up to 40 channels: the channel loops' vector bodies and remainders.
    return pool_cases(n_dims, kind, max_spatial=8, dtypes=dtypes, layouts=("channels_last",),
                      max_channels=40)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_max_pool_forward(n_dims, data):
    case = data.draw(cl_case(n_dims, "max"), label="case")
    index_dtype = data.draw(st.sampled_from([np.int64, np.int32]), label="index_dtype")
    before = case.x.copy()
    values, indices = api("max_pool", n_dims)(case.x, **case.kwargs, return_indices=True,
                                              index_dtype=index_dtype)
    expected_values, expected_indices = ref("max_pool", n_dims)(case.x, **case.kwargs,
                                                                return_indices=True)
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices.astype(index_dtype))
    assert_same_array(api("max_pool", n_dims)(case.x, **case.kwargs), expected_values)
    assert_layout_follows(values, case.x, n_dims)
    assert_layout_follows(indices, case.x, n_dims)
    assert_same_array(case.x, before)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_max_pool_backward(n_dims, data):
    case = data.draw(cl_case(n_dims, "max"), label="case")
    _, indices = ref("max_pool", n_dims)(case.x, **case.kwargs, return_indices=True)
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    grad = channels_last(make_values(indices.shape, case.x.dtype, "normal", seed), n_dims)
    index_layout = data.draw(st.sampled_from(["channels_last", "C"]), label="index_layout")
    indices = with_layout(indices, index_layout, channel_axis=indices.ndim - n_dims - 1)
    result = api("max_pool", n_dims, "_backward")(grad, indices, case.x.shape)
    assert_same_array(result, ref("max_pool", n_dims, "_backward")(grad, indices, case.x.shape))
    assert_layout_follows(result, grad, n_dims)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_avg_pool_forward_and_backward(n_dims, data):
    case = data.draw(cl_case(n_dims, "avg"), label="case")
    before = case.x.copy()
    result = api("avg_pool", n_dims)(case.x, **case.kwargs)
    assert_same_array(result, ref("avg_pool", n_dims)(case.x, **case.kwargs))
    assert_layout_follows(result, case.x, n_dims)
    assert_same_array(case.x, before)

    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    grad = channels_last(make_values(result.shape, case.x.dtype, "normal", seed), n_dims)
    kwargs = case.backward_kwargs()
    grad_input = api("avg_pool", n_dims, "_backward")(grad, case.x.shape, **kwargs)
    assert_same_array(grad_input,
                      ref("avg_pool", n_dims, "_backward")(grad, case.x.shape, **kwargs))
    assert_layout_follows(grad_input, grad, n_dims)


@pytest.mark.parametrize("n_dims", [2, 3])
@pytest.mark.parametrize("cache_bytes", [None, 0])
@pytest.mark.parametrize("channels", [20, 40])
def test_avg_backward_shares_cache(n_dims, cache_bytes, channels, monkeypatch):
    # The average backward divides each output's gradient once, into a per-thread cache of
    # output rows (one slot per row that can cover an input row); with no room for that (0
    # bytes) every row shares one slot and is divided again where needed. Overlapping windows
    # with borders, a ceil-mode overhang and each divisor rule, at 1 to 3 threads; channels
    # below and above the kernels' CHANNEL_BLOCK (spread through the row, or gathered per
    # pixel when the cache holds every covering row).
    if cache_bytes is not None:
        monkeypatch.setattr(cypool._avg_pool, "_SHARES_CACHE_BYTES", cache_bytes)
    # (Planes of 3 rows: a thread's next image starts while the cache still holds every
    # output row of the one before.)
    rng = np.random.default_rng(n_dims)
    backward = api("avg_pool", n_dims, "_backward")
    for spatial in {2: [(13, 11), (3, 11)], 3: [(7, 9, 6), (3, 3, 6)]}[n_dims]:
        x = channels_last(rng.standard_normal((3, channels) + spatial).astype(np.float32),
                          n_dims)
        for kwargs in ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                       {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False},
                       {"kernel_size": 2, "stride": 1, "divisor_override": 3}):
            values = api("avg_pool", n_dims)(x, **kwargs)
            grad = channels_last(rng.standard_normal(values.shape).astype(np.float32),
                                 n_dims)
            expected = ref("avg_pool", n_dims, "_backward")(grad, x.shape, **kwargs)
            for n_threads in (1, 2, 3):
                assert_same_array(backward(grad, x.shape, **kwargs, n_threads=n_threads),
                                  expected)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    {"kernel_size": 2, "stride": 1, "divisor_override": 3},
])
def test_avg_forward_taps_in_turn(n_dims, dtype, kwargs):
    # Long pixels of a large input are summed a tap at a time through the output, each tap's
    # pixel read whole (another loop than the small inputs of the other tests take): the same
    # sums, bit for bit, over sums that overflow, NaN, infinities and signed zeros, borders
    # and a ceil-mode overhang (odd sizes), each divisor rule, at 1 and 2 threads.
    x = taps_in_turn_input(n_dims, dtype, "extremes")
    expected = ref("avg_pool", n_dims)(x, **kwargs)
    for n_threads in (1, 2):
        assert_same_array(api("avg_pool", n_dims)(x, **kwargs, n_threads=n_threads), expected)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2},
    {"kernel_size": 2, "stride": 3, "padding": 1, "dilation": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1},  # overlapping: the register blocks
])
def test_max_forward_taps_in_turn(n_dims, dtype, kwargs):
    # The same for max pooling's windows that do not overlap: running maxima and argmaxes in
    # the output, a tap at a time. Ties (the first in raster order wins), NaN (wins, the first
    # of them), -inf, dilation, padding and a ceil-mode overhang.
    x = taps_in_turn_input(n_dims, dtype, "special")
    expected = ref("max_pool", n_dims)(x, **kwargs, return_indices=True)
    forward = api("max_pool", n_dims)
    for n_threads in (1, 2):
        values, indices = forward(x, **kwargs, return_indices=True, n_threads=n_threads)
        assert_same_array(values, expected[0])
        assert_same_array(indices, expected[1])
        assert_same_array(forward(x, **kwargs, n_threads=n_threads), expected[0])


def taps_in_turn_input(n_dims, dtype, mode):
    """A channels-last input just past the sizes from which the forwards read taps in turn
    (odd spatial sizes, one image)."""
    from_bytes = kernels.TAPS_IN_TURN_FROM_BYTES
    itemsize = np.dtype(dtype).itemsize
    channels = from_bytes["pixel"] // itemsize
    pixels = from_bytes["input"] / (channels * itemsize)
    side = int(np.ceil(pixels ** (1 / n_dims))) | 1
    x = channels_last(make_values((1, channels) + (side,) * n_dims, dtype, mode, seed=5),
                      n_dims)
    assert x.nbytes >= from_bytes["input"]
    return x


@pytest.mark.parametrize("spatial, kernel", [((13,), 3), ((9, 11), (3, 2)), ((5, 6, 7), 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("divisor_override", [None, 3])
def test_avg_backward_of_tiling_windows(spatial, kernel, dtype, divisor_override):
    # Windows that tile the input (kernel == stride, no padding) write each input pixel once,
    # its window's share, with no zeroing pass; the rows and columns past the last window
    # (every shape here has some) must still be zeros, and -0.0 shares +0.0, as the gather
    # gives. `out` starts as NaN, so a pixel left unwritten shows.
    n_dims = len(spatial)
    kwargs = {"kernel_size": kernel, "divisor_override": divisor_override}
    shape = (2, 20) + spatial
    values = api("avg_pool", n_dims)(channels_last(np.zeros(shape, dtype), n_dims), **kwargs)
    grad = channels_last(make_values(values.shape, dtype, "extremes", seed=n_dims), n_dims)
    expected = ref("avg_pool", n_dims, "_backward")(grad, shape, **kwargs)
    backward = api("avg_pool", n_dims, "_backward")
    for n_threads in (1, 2, 3):
        assert_same_array(backward(grad, shape, **kwargs, n_threads=n_threads), expected)
        out = channels_last(np.full(shape, np.nan, dtype), n_dims)
        assert backward(grad, shape, **kwargs, out=out, n_threads=n_threads) is out
        assert_same_array(out, expected)


@pytest.mark.parametrize("spatial, kernel, stride", [((12,), 3, 2), ((9, 12), 3, 2),
                                                    ((7, 10), (3, 2), (2, 1)),
                                                    ((5, 6, 7), 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [32, 41])
def test_avg_backward_gathers_each_pixel(spatial, kernel, stride, dtype, channels):
    # Overlapping windows with at least CHANNEL_BLOCK channels: each input pixel sums its
    # covering outputs' shares (rows, then columns, ascending) from +0 and is written once,
    # with no zeroing pass. Pixels no window covers (the last column of 12 for 3-wide windows
    # of stride 2; padding leaves none) must come out zeros in an `out` that starts as NaN;
    # -0.0, overflowing and NaN shares as the reference's scatter gives them.
    n_dims = len(spatial)
    shape = (2, channels) + spatial
    backward = api("avg_pool", n_dims, "_backward")
    for kwargs in ({}, {"padding": 1, "ceil_mode": True},
                   {"padding": 1, "count_include_pad": False}, {"divisor_override": 3}):
        kwargs = dict(kernel_size=kernel, stride=stride, **kwargs)
        values = api("avg_pool", n_dims)(channels_last(np.zeros(shape, dtype), n_dims),
                                         **kwargs)
        grad = channels_last(make_values(values.shape, dtype, "extremes", seed=channels),
                             n_dims)
        expected = ref("avg_pool", n_dims, "_backward")(grad, shape, **kwargs)
        for n_threads in (1, 2, 3):
            out = channels_last(np.full(shape, np.nan, dtype), n_dims)
            assert backward(grad, shape, **kwargs, out=out, n_threads=n_threads) is out
            assert_same_array(out, expected)


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_integer_images(dtype):
    # The everyday case: a batch of HWC uint8 pictures, viewed as NCHW.
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    nhwc = rng.integers(info.min, info.max, size=(2, 33, 17, 3), dtype=dtype, endpoint=True)
    nhwc[0, :4, :4] = info.min  # a window of the minimum only
    x = nhwc.transpose(0, 3, 1, 2)
    values, indices = cypool.max_pool2d(x, 3, 2, 1, return_indices=True)
    expected_values, expected_indices = cypool.reference.max_pool2d(x, 3, 2, 1,
                                                                    return_indices=True)
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices)
    assert is_stored_channels_last(values, 2)


def test_float16():
    rng = np.random.default_rng(3)
    x = channels_last(rng.standard_normal((2, 20, 9, 11)).astype(np.float16))
    values, indices = cypool.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert_same_array(values, cypool.reference.max_pool2d(x, 3, 2, 1))
    assert is_stored_channels_last(values, 2)
    grad = channels_last(rng.standard_normal(values.shape).astype(np.float16))
    max_grad = cypool.max_pool2d_backward(grad, indices, x.shape)
    assert_same_array(max_grad, cypool.reference.max_pool2d_backward(grad, indices, x.shape))
    assert is_stored_channels_last(max_grad, 2)
    average = cypool.avg_pool2d(x, 3, 2, 1)
    assert_same_array(average, cypool.reference.avg_pool2d(x, 3, 2, 1))
    avg_grad = cypool.avg_pool2d_backward(grad, x.shape, 3, 2, 1)
    assert_same_array(avg_grad, cypool.reference.avg_pool2d_backward(grad, x.shape, 3, 2, 1))
    assert is_stored_channels_last(average, 2) and is_stored_channels_last(avg_grad, 2)


def test_strided_channels_last_input_is_pooled_channels_last():
    # Every other pixel of an NHWC buffer: C still has the smallest stride, so the result is
    # channels-last (the input is copied to a contiguous channels-last array first).
    rng = np.random.default_rng(5)
    nhwc = rng.standard_normal((2, 20, 22, 16)).astype(np.float32)
    x = nhwc[:, ::2, 1::2].transpose(0, 3, 1, 2)
    assert not x.flags.c_contiguous and _layout.is_channels_last(x, 2)
    result = cypool.avg_pool2d(x, 2)
    assert_same_array(result, cypool.reference.avg_pool2d(x, 2))
    assert is_stored_channels_last(result, 2)


@pytest.mark.parametrize("shape", [(2, 1, 6, 6), (2, 5, 1, 1)])
def test_ambiguous_layouts_give_c_order(shape):
    # One channel, or one pixel: both layouts are the same memory, and the result is C order.
    x = channels_last(np.arange(np.prod(shape), dtype=np.float64).reshape(shape))
    assert x.flags.c_contiguous and not _layout.is_channels_last(x, 2)
    assert cypool.max_pool2d(x, 1).flags.c_contiguous


def test_out_layout_decides_the_result_layout():
    rng = np.random.default_rng(17)
    nchw = rng.standard_normal((2, 8, 6, 6)).astype(np.float32)
    x = channels_last(nchw)
    expected = cypool.reference.avg_pool2d(nchw, 2)
    for source in (x, nchw):
        for out in (_layout.empty((2, 8, 3, 3), np.float32, 2, channels_last=True),
                    np.empty((2, 8, 3, 3), np.float32)):
            assert cypool.avg_pool2d(source, 2, out=out) is out
            assert_same_array(out, expected)
    with pytest.raises(ValueError, match="out must be channels-last contiguous"):
        cypool.avg_pool2d(x, 2, out=np.empty((2, 8, 3, 6), np.float32)[..., ::2])
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        cypool.avg_pool2d(nchw, 2, out=np.empty((2, 8, 3, 6), np.float32)[..., ::2])
    values = _layout.empty((2, 8, 3, 3), np.float32, 2, channels_last=True)
    indices = _layout.empty((2, 8, 3, 3), np.int64, 2, channels_last=True)
    result = cypool.max_pool2d(nchw, 2, return_indices=True, out=(values, indices))
    assert result[0] is values and result[1] is indices
    assert_same_array(indices, cypool.reference.max_pool2d(nchw, 2, return_indices=True)[1])
    with pytest.raises(ValueError, match="out must be channels-last"):
        cypool.max_pool2d(nchw, 2, return_indices=True,
                          out=(values, np.empty((2, 8, 3, 3), np.int64)))
    grad_out = np.empty((2, 8, 6, 6), np.float32)
    assert cypool.max_pool2d_backward(values, indices, x.shape, out=grad_out) is grad_out
    assert_same_array(grad_out, cypool.reference.max_pool2d_backward(values, indices, x.shape))


def test_backward_reports_indices_outside_the_plane():
    x = channels_last(np.ones((1, 20, 4, 4), np.float32))
    values, indices = cypool.max_pool2d(x, 2, return_indices=True)
    indices = indices.copy(order="K")
    indices[0, 17, 1, 1] = 16
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\).*1 do not"):
        cypool.max_pool2d_backward(values, indices, x.shape)


@pytest.mark.parametrize("n_images", [1, 3])
def test_thread_counts_agree(n_images):
    # Overlapping windows make several outputs add into one input element, in a fixed order,
    # whatever the threads (the max backward runs one per image, the forwards split rows).
    rng = np.random.default_rng(11)
    x = channels_last(rng.standard_normal((n_images, 70, 15, 13)).astype(np.float32))
    values, indices = cypool.max_pool2d(x, 3, 1, 1, return_indices=True)
    grad = channels_last(rng.standard_normal(values.shape).astype(np.float32))
    results = [(cypool.max_pool2d(x, 3, 1, 1, return_indices=True, n_threads=n),
                cypool.max_pool2d_backward(grad, indices, x.shape, n_threads=n),
                cypool.avg_pool2d(x, 3, 1, 1, n_threads=n),
                cypool.avg_pool2d_backward(grad, x.shape, 3, 1, 1, n_threads=n))
               for n in (1, 2, 3, 8)]
    for result in results[1:]:
        for actual, expected in zip(result, results[0]):
            if isinstance(actual, tuple):
                assert_same_array(actual[0], expected[0])
                assert_same_array(actual[1], expected[1])
            else:
                assert_same_array(actual, expected)
    assert_same_array(results[0][1], cypool.reference.max_pool2d_backward(grad, indices,
                                                                          x.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [16, 70])
def test_backward_into_out_at_every_alignment(dtype, channels):
    # An out= at any element offset from a cache line must get every channel, once, at any
    # thread count. (Planes of 48 x 44 make enough work for cypool to use the threads asked
    # for.)
    rng = np.random.default_rng(17)
    x = channels_last(rng.standard_normal((1, channels, 48, 44)).astype(dtype))
    values, indices = cypool.max_pool2d(x, 3, 1, 1, return_indices=True)
    grad = channels_last(rng.standard_normal(values.shape).astype(dtype))
    expected = cypool.reference.max_pool2d_backward(grad, indices, x.shape)
    line = 64 // np.dtype(dtype).itemsize
    buffer = np.empty(x.size + 2 * line, dtype)
    for offset in range(line):
        out = buffer[offset:offset + x.size].reshape(1, 48, 44, channels).transpose(0, 3, 1, 2)
        out[...] = np.nan
        for n_threads in (2, 3):
            result = cypool.max_pool2d_backward(grad, indices, x.shape, out=out,
                                                n_threads=n_threads)
            assert result is out
            assert_same_array(result, expected)


@pytest.mark.parametrize("n_dims", [2, 3])
def test_matches_torch_channels_last(n_dims):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    shape = (2, 24) + (9, 10, 11)[-n_dims:]
    x = channels_last(rng.standard_normal(shape).astype(np.float32), n_dims)
    x[(0, 3) + (0,) * n_dims] = np.nan
    memory_format = torch.channels_last if n_dims == 2 else torch.channels_last_3d
    tx = torch.from_numpy(np.ascontiguousarray(x)).to(memory_format=memory_format)
    tx.requires_grad_(True)
    max_pool = getattr(torch.nn.functional, f"max_pool{n_dims}d")
    avg_pool = getattr(torch.nn.functional, f"avg_pool{n_dims}d")
    t_values, t_indices = max_pool(tx, 3, 2, 1, return_indices=True)
    values, indices = api("max_pool", n_dims)(x, 3, 2, 1, return_indices=True)
    assert_same_array(values, t_values.detach().numpy())
    assert_same_array(indices, t_indices.numpy())
    grad = channels_last(rng.standard_normal(values.shape).astype(np.float32), n_dims)
    t_grad = torch.from_numpy(np.ascontiguousarray(grad)).to(memory_format=memory_format)
    (t_max_grad,) = torch.autograd.grad(t_values, tx, t_grad)
    assert_same_array(api("max_pool", n_dims, "_backward")(grad, indices, x.shape),
                      t_max_grad.numpy())
    t_average = avg_pool(tx, 3, 2, 1, count_include_pad=False)
    assert_same_array(api("avg_pool", n_dims)(x, 3, 2, 1, count_include_pad=False),
                      t_average.detach().numpy())
    (t_avg_grad,) = torch.autograd.grad(t_average, tx, t_grad)
    assert_same_array(api("avg_pool", n_dims, "_backward")(grad, x.shape, 3, 2, 1,
                                                           count_include_pad=False),
                      t_avg_grad.numpy())


def tiled_case(n_dims, channels, dtype, index_dtype, seed):
    """An input whose 2-wide windows of stride 2 tile it exactly (the max backward's one-pass
    path), its indices, and gradients holding -0.0, NaN and infinities."""
    rng = np.random.default_rng(seed)
    spatial = {1: (12,), 2: (6, 8), 3: (4, 6, 4)}[n_dims]
    x = channels_last(rng.standard_normal((2, channels) + spatial).astype(dtype), n_dims)
    _, indices = api("max_pool", n_dims)(x, 2, return_indices=True, index_dtype=index_dtype)
    grad = rng.standard_normal(indices.shape).astype(dtype)
    grad.flat[::5] = -0.0
    grad.flat[1::7] = np.nan
    grad.flat[2::11] = -np.inf
    return x, channels_last(grad, n_dims), indices


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("channels", [33, 64, 70])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_backward_of_tiling_windows(n_dims, channels, dtype, index_dtype):
    # Windows that tile the input are written in one pass, every input element once (a -0.0
    # gradient must still give the scatter's +0.0); indices from other windows, found anywhere,
    # must still scatter.
    x, grad, indices = tiled_case(n_dims, channels, dtype, index_dtype, seed=channels)
    backward = api("max_pool", n_dims, "_backward")
    plane = np.prod(x.shape[2:])
    shifted = indices.copy(order="K")
    shifted[-1, -1, ...] = (shifted[-1, -1, ...] + 1) % plane  # the last element only
    stray = shifted.copy(order="K")
    stray[0, 0, ...] = plane - 1 - stray[0, 0, ...]  # the first output row misses
    for where in (indices, shifted, stray):
        expected = ref("max_pool", n_dims, "_backward")(grad, where, x.shape)
        for n_threads in (1, 2, 3):
            out = np.full_like(x, np.nan)
            assert backward(grad, where, x.shape, out=out, n_threads=n_threads) is out
            assert_same_array(out, expected)
            assert_same_array(backward(grad, where, x.shape, n_threads=n_threads), expected)


@pytest.mark.parametrize("bad_index", [
    lambda index: 48,  # the plane has 6 x 8 = 48 elements
    lambda index: -1,
    # The one-pass loop compares indices as 32-bit offsets within their tiles: an int64
    # index that wraps onto its own window in 32 bits must still be found outside the plane.
    lambda index: index + 2**32,
    lambda index: index - 2**32,
    lambda index: index + 2**31,
])
def test_backward_of_tiling_windows_reports_indices_outside_the_plane(bad_index):
    x, grad, indices = tiled_case(2, 40, np.float32, np.int64, seed=3)
    indices = indices.copy(order="K")
    indices[1, 39, 2, 3] = bad_index(indices[1, 39, 2, 3])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 48\).*1 do not"):
        cypool.max_pool2d_backward(grad, indices, x.shape)


@pytest.mark.parametrize("shape", [(1, 8, 4096), (1, 8, 64, 64), (1, 8, 16, 16, 16),
                                   (2, 8, 64, 64), (3, 8, 32, 64), (1, 4, 3, 64, 48)])
@pytest.mark.parametrize("window", [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=5, stride=1, padding=2),  # reaches the bands' margin
    dict(kernel_size=7, stride=1, padding=3),  # reaches past it: the plain scatter
    dict(kernel_size=3, stride=1, padding=1, dilation=2),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_in_bands(shape, window, dtype):
    # Windows that do not tile the input (and channels too few for the tiled path) take the
    # banded scatter when the images do not share out evenly between the threads: each image
    # split into bands, each band zeroed and written by one thread. Inputs of 32768 elements or
    # more, so that the calls do use the threads.
    n_dims = len(shape) - 2
    rng = np.random.default_rng(len(shape) * 10 + window["kernel_size"])
    x = channels_last(rng.standard_normal(shape).astype(dtype), n_dims)
    x.flat[::3] = 0.5  # ties
    _, indices = api("max_pool", n_dims)(x, **window, return_indices=True)
    grad = rng.standard_normal(indices.shape).astype(dtype)
    grad.flat[::5] = -0.0
    grad.flat[1::7] = np.nan
    grad = channels_last(grad, n_dims)
    plane = np.prod(shape[2:])
    stray = indices.copy(order="K")
    stray[-1, -1, ...] = plane - 1 - stray[-1, -1, ...]  # far from their windows
    backward = api("max_pool", n_dims, "_backward")
    for where in (indices, stray):
        expected = ref("max_pool", n_dims, "_backward")(grad, where, shape)
        for n_threads in (1, 2, 3, 4):
            out = np.full_like(x, np.nan)
            assert backward(grad, where, shape, out=out, n_threads=n_threads) is out
            assert_same_array(out, expected)


@pytest.mark.parametrize("bad_index", [4096, -1, 2**32])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_backward_in_bands_reports_indices_outside_the_plane(bad_index, n_threads):
    x = channels_last(np.random.default_rng(5).standard_normal((1, 8, 64, 64)), 2)
    values, indices = cypool.max_pool2d(x, 3, 2, 1, return_indices=True)
    indices = indices.copy(order="K")
    indices[0, 7, 31, 31] = bad_index
    indices[0, 0, 0, 0] = bad_index
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4096\).*2 do not"):
        cypool.max_pool2d_backward(values, indices, x.shape, n_threads=n_threads)
