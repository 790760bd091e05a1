"""Rows wide enough for the kernels' vector loops (several full vectors plus a remainder) and
the specialised window widths, against the reference. The hypothesis tests keep spatial sizes
small for speed, so they mostly exercise remainders and border windows."""

import numpy as np
import pytest

import cypool
from cypool import reference

# (kernel, stride, padding, dilation, ceil_mode) along the width; the specialised copies are
# k == s in {2, 3, 4}, 3/2, 3/1, 2/1, k = 1; the rest take the generic path.
WIDTH_WINDOWS = [
    (2, 2, 0, 1, False), (2, 2, 1, 1, True), (3, 3, 1, 1, False), (4, 4, 2, 1, True),
    (3, 2, 1, 1, False), (3, 2, 0, 1, True), (3, 1, 1, 1, False), (2, 1, 0, 1, False),
    (1, 2, 0, 1, False), (5, 2, 2, 1, True), (3, 2, 1, 2, False), (4, 3, 1, 3, True),
]


def values_with_ties_and_nan(rng, shape, dtype):
    x = rng.integers(-4, 5, size=shape).astype(dtype)
    x[rng.random(shape) < 0.02] = np.nan
    x[rng.random(shape) < 0.02] = -np.inf
    return x


@pytest.mark.parametrize("window", WIDTH_WINDOWS)
@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_rows_match_reference(window, n_dims, dtype):
    k, s, p, d, ceil_mode = window
    rng = np.random.default_rng([k, s, p, d, n_dims])
    width = int(rng.integers(41, 90))
    shape = (2, 2) + (3,) * (n_dims - 1) + (width,)
    x = values_with_ties_and_nan(rng, shape, dtype)
    lead = (1,) * (n_dims - 1)
    max_args = dict(kernel_size=lead + (k,), stride=lead + (s,), padding=(0,) * (n_dims - 1)
                    + (p,), dilation=lead + (d,), ceil_mode=ceil_mode)
    name = f"max_pool{n_dims}d"
    values, indices = getattr(cypool, name)(x, **max_args, return_indices=True)
    expected_values, expected_indices = getattr(reference, name)(x, **max_args,
                                                                 return_indices=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(getattr(cypool, name)(x, **max_args), expected_values)
    grad = rng.standard_normal(values.shape).astype(dtype)
    np.testing.assert_array_equal(
        getattr(cypool, name + "_backward")(grad, indices, shape),
        getattr(reference, name + "_backward")(grad, indices, shape))

    if d != 1:
        return  # average pooling has no dilation
    avg_args = {key: max_args[key] for key in ("kernel_size", "stride", "padding", "ceil_mode")}
    name = f"avg_pool{n_dims}d"
    for count_include_pad in (True, False):
        result = getattr(cypool, name)(x, **avg_args, count_include_pad=count_include_pad)
        expected = getattr(reference, name)(x, **avg_args, count_include_pad=count_include_pad)
        np.testing.assert_array_equal(result.view(np.uint8), expected.view(np.uint8))
        grad = rng.standard_normal(result.shape).astype(dtype)
        np.testing.assert_array_equal(
            getattr(cypool, name + "_backward")(grad, shape, **avg_args,
                                                count_include_pad=count_include_pad),
            getattr(reference, name + "_backward")(grad, shape, **avg_args,
                                                   count_include_pad=count_include_pad))


# For these windows, rows whose windows lie in the input take one-pass paths (every tap of a
# column at once, and a last vector that overlaps the one before it instead of a scalar
# remainder; max pooling's argmax as an int32 offset for 4-byte dtypes): every row width from
# 1 to 40 covers every remainder of every vector width. Max pooling and the average backward
# are checked on the same inputs.
SQUARE_WINDOWS = [(2, 2, 0), (2, 2, 1), (3, 2, 1), (3, 2, 0), (3, 1, 1), (3, 1, 0)]
CUBE_WINDOWS = [(2, 2, 0), (2, 2, 1)]
ROW_DTYPES = [np.float32, np.float64, np.uint8, np.int32]


def check_rows_of_every_width(n_dims, window, dtype):
    k, s, p = window
    rng = np.random.default_rng([n_dims, k, s, p, np.dtype(dtype).itemsize,
                                 np.dtype(dtype).kind == "f"])
    max_pool = getattr(cypool, f"max_pool{n_dims}d")
    expected_max_pool = getattr(reference, f"max_pool{n_dims}d")
    for width in range(max(1, k - 2 * p), 41):
        shape = (2, 3) + (6,) * (n_dims - 1) + (width,)
        if np.dtype(dtype).kind != "f":
            x = rng.integers(0, 4, size=shape).astype(dtype)  # many ties
        else:
            x = values_with_ties_and_nan(rng, shape, dtype)
        values, indices = max_pool(x, k, s, p, return_indices=True)
        expected_values, expected_indices = expected_max_pool(x, k, s, p, return_indices=True)
        # Bit for bit (.view(np.uint8)): the same NaNs, zeros of the same sign.
        np.testing.assert_array_equal(values.view(np.uint8), expected_values.view(np.uint8),
                                      err_msg=f"width {width}")
        np.testing.assert_array_equal(indices, expected_indices, err_msg=f"width {width}")
        np.testing.assert_array_equal(max_pool(x, k, s, p).view(np.uint8),
                                      expected_values.view(np.uint8), err_msg=f"width {width}")
        if np.dtype(dtype).kind != "f":
            continue
        name = f"avg_pool{n_dims}d"
        for count_include_pad in (True, False):
            window = dict(kernel_size=k, stride=s, padding=p,
                          count_include_pad=count_include_pad)
            result = getattr(cypool, name)(x, **window)
            np.testing.assert_array_equal(
                result.view(np.uint8), getattr(reference, name)(x, **window).view(np.uint8),
                err_msg=f"width {width}")
            grad = rng.standard_normal(result.shape).astype(dtype)
            np.testing.assert_array_equal(
                getattr(cypool, name + "_backward")(grad, shape, **window).view(np.uint8),
                getattr(reference, name + "_backward")(grad, shape, **window).view(np.uint8),
                err_msg=f"width {width}")


@pytest.mark.parametrize("window", SQUARE_WINDOWS)
@pytest.mark.parametrize("dtype", ROW_DTYPES)
def test_common_square_windows_on_rows_of_every_width(window, dtype):
    check_rows_of_every_width(2, window, dtype)


@pytest.mark.parametrize("window", CUBE_WINDOWS)
@pytest.mark.parametrize("dtype", ROW_DTYPES)
def test_common_cube_windows_on_rows_of_every_width(window, dtype):
    check_rows_of_every_width(3, window, dtype)
