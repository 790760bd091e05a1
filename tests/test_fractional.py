"""Fractional max pooling against the NumPy reference (random problems and named edge cases)
and against PyTorch with the same samples: values, int64 indices and the backward, bit for bit.
No call may change its inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from strategies import (
    LAYOUTS,
    api,
    assert_same_array,
    fractional_cases,
    fractional_samples,
    make_values,
    ref,
    with_layout,
)

N_DIMS = [2, 3]


def garbage(shape, dtype):
    return np.full(shape, -12345, dtype=dtype)


def pool(case, **kwargs):
    return api("fractional_max_pool", case.n_dims)(case.x, **case.kwargs,
                                                    _random_samples=case.samples, **kwargs)


# --------------------------------------------------------------------------------------
# Random problems against the reference
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_fractional_max_pool_matches_reference(n_dims, data):
    case = data.draw(fractional_cases(n_dims), label="case")
    x_before, samples_before = case.x.copy(), case.samples.copy()
    expected_values, expected_indices = ref("fractional_max_pool", n_dims)(
        case.x, **case.kwargs, return_indices=True, _random_samples=case.samples)
    assert expected_values.shape == case.out_shape
    if data.draw(st.booleans(), label="use_out"):
        out = (garbage(case.out_shape, case.x.dtype), garbage(case.out_shape, np.int64))
        result = pool(case, return_indices=True, out=out)
        assert result[0] is out[0] and result[1] is out[1]
    else:
        result = pool(case, return_indices=True,
                      n_threads=data.draw(st.sampled_from([None, 1, 2, 3]), label="threads"))
    assert_same_array(result[0], expected_values)
    assert_same_array(result[1], expected_indices)
    assert_same_array(pool(case), expected_values)
    assert_same_array(case.x, x_before)
    assert_same_array(case.samples, samples_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_fractional_max_pool_backward_matches_reference(n_dims, data):
    case = data.draw(fractional_cases(n_dims), label="case")
    _, indices = ref("fractional_max_pool", n_dims)(case.x, **case.kwargs, return_indices=True,
                                                    _random_samples=case.samples)
    grad_output = with_layout(make_values(case.out_shape, case.x.dtype, "normal", case.seed),
                              data.draw(st.sampled_from(LAYOUTS), label="grad_layout"),
                              channel_axis=len(case.out_shape) - n_dims - 1)
    expected = ref("fractional_max_pool", n_dims, "_backward")(grad_output, indices,
                                                               case.x.shape)
    backward = api("fractional_max_pool", n_dims, "_backward")
    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.x.shape, case.x.dtype)
        assert backward(grad_output, indices, case.x.shape, out=out) is out
        grad_input = out
    else:
        grad_input = backward(grad_output, indices, case.x.shape)
    assert_same_array(grad_input, expected)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_fractional_max_pool_float16_matches_reference(n_dims, data):
    case = data.draw(fractional_cases(n_dims, dtypes=(np.float16,)), label="case")
    expected_values, expected_indices = ref("fractional_max_pool", n_dims)(
        case.x, **case.kwargs, return_indices=True, _random_samples=case.samples)
    values, indices = pool(case, return_indices=True)
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices)
    gradient = (make_values(case.out_shape, np.float32, "normal", case.seed) * 3000).astype(
        np.float16)
    assert_same_array(api("fractional_max_pool", n_dims, "_backward")(gradient, indices,
                                                                        case.x.shape),
                      reference.max_pool2d_backward(gradient, indices, case.x.shape)
                      if n_dims == 2 else
                      reference.max_pool3d_backward(gradient, indices, case.x.shape))


# --------------------------------------------------------------------------------------
# Named cases
# --------------------------------------------------------------------------------------

def test_intervals_are_computed_in_float32_for_float32_input():
    length, kernel, out = 257, 2, 100
    sample = np.float32(0.2)
    in_float32 = reference.fractional_intervals(sample, length, out, kernel)
    in_float64 = reference.fractional_intervals(np.float64(sample), length, out, kernel)
    assert in_float32 != in_float64  # the case tells the two rules apart
    x = np.arange(length, dtype=np.float32).reshape(1, 1, 1, length)
    samples = np.array([[[sample, 0.0]]], np.float32)  # (width, height)
    values = cypool.fractional_max_pool2d(x, (1, kernel), (1, out), _random_samples=samples)
    assert values.ravel().tolist() == [start + kernel - 1 for start in in_float32]


def test_first_sample_drives_the_width_in_2d_and_the_depth_in_3d():
    x = np.arange(11 * 12, dtype=np.float64).reshape(1, 1, 11, 12)
    for samples in ([[[0.9, 0.1]]], [[[0.1, 0.9]]]):
        samples = np.array(samples)
        values = cypool.fractional_max_pool2d(x, 2, (4, 5), _random_samples=samples)
        height = reference.fractional_intervals(samples[0, 0, 1], 11, 4, 2)
        width = reference.fractional_intervals(samples[0, 0, 0], 12, 5, 2)
        expected = [[(h + 1) * 12 + w + 1 for w in width] for h in height]
        assert values[0, 0].tolist() == expected
    x = np.arange(9 * 8 * 7, dtype=np.float64).reshape(1, 9, 8, 7)
    samples = np.array([[[0.9, 0.5, 0.1]]])
    values = cypool.fractional_max_pool3d(x, 1, (3, 3, 3), _random_samples=samples)
    starts = [reference.fractional_intervals(samples[0, 0, axis], length, 3, 1)
              for axis, length in enumerate((9, 8, 7))]
    expected = [[[(d * 8 + h) * 7 + w for w in starts[2]] for h in starts[1]]
                for d in starts[0]]
    assert values[0].tolist() == expected


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_nan_ties_and_minus_inf(n_dims):
    spatial = (5, 6, 7)[-n_dims:]
    samples = np.full((1, 3, n_dims), 0.5)
    x = np.zeros((1, 3) + spatial)
    x[0, 0] = -np.inf                           # all -inf: the first tap's index
    x[0, 1] = 1.0                               # ties: the first maximum
    x[0, 2].flat[::4] = np.nan                  # NaNs: the last one wins
    values, indices = api("fractional_max_pool", n_dims)(x, 2, 2, return_indices=True,
                                                         _random_samples=samples)
    expected = ref("fractional_max_pool", n_dims)(x, 2, 2, return_indices=True,
                                                  _random_samples=samples)
    assert_same_array(values, expected[0])
    assert_same_array(indices, expected[1])
    assert np.isneginf(values[0, 0]).all() and np.isnan(values[0, 2]).any()


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_edges_of_the_geometry(n_dims):
    rng = np.random.default_rng(5)
    spatial = (6, 7, 9)[-n_dims:]
    extra = 0 if n_dims == 2 else 1
    x = rng.standard_normal((2, 2) + spatial)
    samples = np.full((2, 2, n_dims), 0.5)  # (i + u) * 1 rounds to i + 1 for u close to 1
    function = api("fractional_max_pool", n_dims)
    # The largest output: windows at every position (stride 1, whatever the samples).
    largest = tuple(length - 2 + 1 - extra for length in spatial)
    values = function(x, 2, largest, _random_samples=samples)
    if extra == 0:
        assert_same_array(values, api("max_pool", n_dims)(x, 2, 1))
    # One output: the last window, at L - k.
    values = function(x, 2, 1, _random_samples=samples)
    last = x[(Ellipsis,) + tuple(slice(length - 2, length) for length in spatial)]
    assert_same_array(values.reshape(2, 2), last.reshape(2, 2, -1).max(axis=-1))


def test_unbatched_empty_batch_and_extra_sample_rows():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 8, 9)).astype(np.float32)
    samples = rng.random((4, 3, 2)).astype(np.float32)  # rows past the first are ignored
    unbatched = cypool.fractional_max_pool2d(x, 2, 4, _random_samples=samples)
    batched = cypool.fractional_max_pool2d(x[None], 2, 4, _random_samples=samples[:1])
    assert_same_array(unbatched, batched[0])
    empty_values, empty_indices = cypool.fractional_max_pool2d(
        np.zeros((0, 3, 8, 9)), 2, 4, return_indices=True, random_state=0)
    assert empty_values.shape == empty_indices.shape == (0, 3, 4, 4)
    assert empty_indices.dtype == np.int64


def test_output_ratio_as_pytorch_computes_it():
    x = np.random.default_rng(7).standard_normal((1, 2, 10, 13))
    samples = np.full((1, 2, 2), 0.3)
    by_ratio = cypool.fractional_max_pool2d(x, 2, output_ratio=0.5, _random_samples=samples)
    assert by_ratio.shape == (1, 2, 5, 6)  # int(10 * 0.5), int(13 * 0.5)
    by_size = cypool.fractional_max_pool2d(x, 2, (5, 6), _random_samples=samples)
    assert_same_array(by_ratio, by_size)
    # output_size wins over output_ratio, as in PyTorch.
    both = cypool.fractional_max_pool2d(x, 2, (5, 6), 0.7, _random_samples=samples)
    assert_same_array(both, by_size)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_random_state_draws_the_documented_samples(dtype):
    x = make_values((2, 3, 9, 10), dtype, "normal", 8)
    by_seed = cypool.fractional_max_pool2d(x, 2, 4, random_state=123)
    draws = np.random.default_rng(123)
    samples = ((draws.integers(0, 2**11, (2, 3, 2)) * 2.0**-11).astype(dtype)
               if dtype == np.float16 else draws.random((2, 3, 2), dtype=dtype))
    assert_same_array(by_seed, cypool.fractional_max_pool2d(x, 2, 4, _random_samples=samples))
    generator = np.random.default_rng(123)
    first = cypool.fractional_max_pool2d(x, 2, 4, random_state=generator)
    second = cypool.fractional_max_pool2d(x, 2, 4, random_state=generator)
    assert_same_array(first, by_seed)
    assert not np.array_equal(first, second)  # the generator moved on
    # Fresh draws without a seed: windows vary between calls (12 planes, two axes each).
    wide = make_values((1, 12, 40, 40), dtype, "normal", 9)
    assert not np.array_equal(cypool.fractional_max_pool2d(wide, 2, 13),
                              cypool.fractional_max_pool2d(wide, 2, 13))


def test_float16_starts_that_leave_the_input_are_refused():
    # float16 cannot hold L - k = 65999: alpha overflows, and PyTorch converts inf to int
    # (undefined in C; on x86 it gives the starts [0, 0, 65999]).
    x = np.zeros((1, 1, 1, 66001), np.float16)
    with pytest.raises(ValueError, match="too long for float16"):
        cypool.fractional_max_pool2d(x, (1, 2), (1, 3), random_state=0)
    # float32 computes them.
    assert cypool.fractional_max_pool2d(x.astype(np.float32), (1, 2), (1, 3),
                                        random_state=0).shape == (1, 1, 1, 3)


@pytest.mark.parametrize("width, out_width", [
    (300, 200),    # dense windows: two passes (a sliding maximum, then picks and merges)
    (300, 5),      # sparse windows: column by column
    (2100, 1500),  # a row wider than the two-pass scratch: column by column
])
def test_both_row_strategies(width, out_width):
    rng = np.random.default_rng(width + out_width)
    x = rng.integers(-3, 4, (2, 3, 4, width)).astype(np.float32)
    x[rng.random(x.shape) < 0.02] = np.nan
    samples = rng.random((2, 3, 2)).astype(np.float32)
    expected = reference.fractional_max_pool2d(x, (2, 3), (3, out_width), return_indices=True,
                                               _random_samples=samples)
    for return_indices in (True, False):
        result = cypool.fractional_max_pool2d(x, (2, 3), (3, out_width),
                                              return_indices=return_indices,
                                              _random_samples=samples)
        if return_indices:
            assert_same_array(result[0], expected[0])
            assert_same_array(result[1], expected[1])
        else:
            assert_same_array(result, expected[0])


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_thread_counts_agree(n_dims):
    rng = np.random.default_rng(10)
    x = rng.integers(-5, 5, (2, 5) + (17, 19, 23)[-n_dims:]).astype(np.float32)
    samples = rng.random((2, 5, n_dims)).astype(np.float32)
    function = api("fractional_max_pool", n_dims)
    results = [function(x, (2, 3, 2)[-n_dims:], (6, 7, 8)[-n_dims:], return_indices=True,
                        _random_samples=samples, n_threads=n) for n in (1, 2, 3, 8)]
    for values, indices in results[1:]:
        assert_same_array(values, results[0][0])
        assert_same_array(indices, results[0][1])


# --------------------------------------------------------------------------------------
# PyTorch, with the same samples
# --------------------------------------------------------------------------------------

TORCH_CASES = 300


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_same_as_torch(n_dims, dtype):
    """Random shapes, sizes, samples and values (ties, NaN, inf); one axis sometimes long so
    that float32 and float64 window starts differ. Every value, index and gradient equal."""
    torch = pytest.importorskip("torch")
    functional, aten = torch.nn.functional, torch.ops.aten
    rng = np.random.default_rng(11 + n_dims)
    extra = 0 if n_dims == 2 else 1
    for _ in range(TORCH_CASES // 3):
        kernel = tuple(int(k) for k in rng.integers(1, 4, n_dims))
        spatial = [int(rng.integers(k + extra, 12)) for k in kernel]
        if rng.random() < 0.3:
            spatial[-1] = int(rng.integers(100, 700))
        output = tuple(int(rng.integers(1, length - k + 2 - extra))
                       for length, k in zip(spatial, kernel))
        lead = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
        x = make_values(lead + tuple(spatial), dtype,
                        str(rng.choice(["ties", "normal", "special"])), int(rng.integers(1e9)))
        samples = fractional_samples(lead + (n_dims,), dtype, rng)
        theirs_values, theirs_indices = getattr(functional, f"fractional_max_pool{n_dims}d")(
            torch.from_numpy(x), kernel, output, return_indices=True,
            _random_samples=torch.from_numpy(samples))
        values, indices = api("fractional_max_pool", n_dims)(
            x, kernel, output, return_indices=True, _random_samples=samples)
        assert_same_array(values, theirs_values.numpy())
        assert_same_array(indices, theirs_indices.numpy())
        grad = (rng.standard_normal(values.shape) * 1000).astype(dtype)
        theirs = getattr(aten, f"fractional_max_pool{n_dims}d_backward")(
            torch.from_numpy(grad), torch.from_numpy(x), list(kernel), list(output),
            theirs_indices)
        assert_same_array(api("fractional_max_pool", n_dims, "_backward")(grad, indices,
                                                                            x.shape),
                          theirs.numpy())


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_output_size_limits_as_torch(n_dims):
    """2-d allows out + k - 1 == L, 3-d does not (PyTorch's two checks); both refuse past."""
    torch = pytest.importorskip("torch")
    spatial = (6, 6, 6)[-n_dims:]
    x = np.zeros((1, 1) + spatial, np.float32)
    samples = np.zeros((1, 1, n_dims), np.float32)
    function = getattr(torch.nn.functional, f"fractional_max_pool{n_dims}d")
    for output in (4, 5, 6):  # with k = 2: out + 1 is 5, 6, 7
        try:
            function(torch.from_numpy(x), 2, output, _random_samples=torch.from_numpy(samples))
            torch_accepts = True
        except RuntimeError:
            torch_accepts = False
        try:
            api("fractional_max_pool", n_dims)(x, 2, output, _random_samples=samples)
            accepts = True
        except ValueError as error:
            assert "output_size" in str(error)
            accepts = False
        assert accepts == torch_accepts, output


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_unbatched_output_ratio_and_extra_sample_rows_as_torch(n_dims):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3,) + (11, 13, 9)[:n_dims]).astype(np.float32)
    samples = rng.random((4, 3, n_dims)).astype(np.float32)  # rows past the first: unused
    ratio = (0.5, 0.7, 0.6)[:n_dims]
    theirs = getattr(torch.nn.functional, f"fractional_max_pool{n_dims}d")(
        torch.from_numpy(x), 2, output_ratio=ratio, return_indices=True,
        _random_samples=torch.from_numpy(samples))
    ours = api("fractional_max_pool", n_dims)(x, 2, output_ratio=ratio, return_indices=True,
                                               _random_samples=samples)
    for mine, reference_result in zip(ours, theirs):
        assert_same_array(mine, reference_result.numpy())
