"""Max pooling forward on integer arrays: as the reference (and PyTorch, for the integer dtypes
it pools), dtype kept, extremes of every dtype, and integer arrays refused where they make no
sense."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from strategies import LAYOUTS, pool_cases, with_layout

INTEGER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32]


def integer_values(case, dtype, seed):
    """The case's shape filled with values of ``dtype``: many ties and both extremes."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    choices = np.array([info.min, info.min + 1, 0, 1, 2, info.max - 1, info.max], dtype=dtype)
    values = rng.choice(choices, size=case.x.shape)
    mask = rng.random(case.x.shape) < 0.5
    values[mask] = rng.integers(info.min, info.max, size=int(mask.sum()), dtype=dtype,
                                endpoint=True)
    return values


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_integer_max_pool_matches_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max"), label="case")
    dtype = data.draw(st.sampled_from(INTEGER_DTYPES), label="dtype")
    x = with_layout(integer_values(case, dtype, case.seed),
                    data.draw(st.sampled_from(LAYOUTS), label="layout"),
                    readonly=data.draw(st.booleans(), label="readonly"))
    before = x.copy()
    index_dtype = data.draw(st.sampled_from([np.int64, np.int32]), label="index_dtype")
    expected_values, expected_indices = getattr(reference, f"max_pool{n_dims}d")(
        x, **case.kwargs, return_indices=True)
    values, indices = getattr(cypool, f"max_pool{n_dims}d")(
        x, **case.kwargs, return_indices=True, index_dtype=index_dtype)
    assert values.dtype == dtype and indices.dtype == index_dtype
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(getattr(cypool, f"max_pool{n_dims}d")(x, **case.kwargs),
                                  expected_values)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_windows_of_the_minimum_and_wide_rows(dtype):
    # A window made only of the dtype's minimum must give the minimum (a running max that
    # started from 0 or from a float -inf cast to the dtype would not), at its first tap; rows
    # wide enough for the vector loops.
    info = np.iinfo(dtype)
    x = np.full((2, 3, 7, 70), info.min, dtype=dtype)
    x[0, 1, 3, 40] = info.max
    values, indices = cypool.max_pool2d(x, (3, 2), (2, 2), 1, return_indices=True)
    expected_values, expected_indices = reference.max_pool2d(x, (3, 2), (2, 2), 1,
                                                             return_indices=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(indices, expected_indices)
    assert values.min() == info.min and values.max() == info.max


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.int64])
def test_same_as_torch(dtype):
    torch = pytest.importorskip("torch")
    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    x = rng.integers(info.min, info.max, size=(2, 3, 13, 17), dtype=dtype, endpoint=True)
    for arguments in [(2, 2, 0), (3, 2, 1), ((3, 2), 1, (1, 0))]:
        theirs = torch.nn.functional.max_pool2d(torch.from_numpy(x), *arguments,
                                                return_indices=True)
        ours = cypool.max_pool2d(x, *arguments, return_indices=True)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b.numpy())


@pytest.mark.parametrize("dtype", [np.bool_, np.complex64, np.uint64, object])
def test_other_dtypes_are_refused_by_max_pool(dtype):
    with pytest.raises(TypeError, match=f"input must be .* got dtype {np.dtype(dtype)}"):
        cypool.max_pool2d(np.zeros((1, 4, 4), dtype=dtype), 2)


@pytest.mark.parametrize("function, arguments", [
    (cypool.avg_pool2d, (2,)),
    (cypool.max_pool2d_backward, (np.zeros((1, 2, 2), np.int64), (1, 4, 4))),
    (cypool.avg_pool2d_backward, ((1, 4, 4), 2)),
])
def test_integer_arrays_are_refused_where_they_make_no_sense(function, arguments):
    # Averages and gradients of integers are not integers: no silent truncation.
    first = np.zeros((1, 2, 2) if function is not cypool.avg_pool2d else (1, 4, 4), np.int32)
    with pytest.raises(TypeError, match="float32 or float64"):
        function(first, *arguments)


@pytest.mark.parametrize("kernel_size, stride", [(2, 2), (3, 2), (3, 1), (2, 1), (3, 3),
                                                 (4, 4), (1, 2), (5, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint32, np.int64])
def test_every_specialised_row_shape(kernel_size, stride, dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(kernel_size * 10 + stride)
    x = rng.integers(info.min, info.max, size=(1, 2, 5, 83), dtype=dtype, endpoint=True)
    x[0, 0, :, ::7] = info.max  # ties
    arguments = ((1, kernel_size), (1, stride), (0, kernel_size // 2))
    values, indices = cypool.max_pool2d(x, *arguments, return_indices=True)
    expected_values, expected_indices = reference.max_pool2d(x, *arguments,
                                                             return_indices=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(indices, expected_indices)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_integer_max_unpool_matches_reference(n_dims, data):
    """Unpooling copies integer values as they are into zeros of the dtype (PyTorch does not
    unpool integers: the reference is the oracle). Random indices, with repeats."""
    case = data.draw(pool_cases(n_dims, "max"), label="case")
    dtype = data.draw(st.sampled_from(INTEGER_DTYPES), label="dtype")
    values = getattr(reference, f"max_pool{n_dims}d")(integer_values(case, dtype, case.seed),
                                                      **case.kwargs)
    window = {"kernel_size": case.kernel_size, "stride": case.stride,
              "padding": case.padding}
    sizes = [(o - 1) * s - 2 * p + k for o, k, s, p in zip(
        values.shape[-n_dims:], case.kernel_size, case.stride, case.padding)]
    if min(sizes) < 1:
        return
    indices = np.random.default_rng(case.seed).integers(0, int(np.prod(sizes)), values.shape)
    values = with_layout(values, data.draw(st.sampled_from(LAYOUTS), label="layout"),
                         readonly=True)
    expected = getattr(reference, f"max_unpool{n_dims}d")(values, indices, **window)
    result = getattr(cypool, f"max_unpool{n_dims}d")(values, indices, **window)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected, strict=True)
