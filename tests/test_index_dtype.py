"""index_dtype=np.int32: the same argmax as int64, accepted by every backward."""

import numpy as np
import pytest

import cypool


@pytest.mark.parametrize("n_dims, shape, window", [
    (1, (2, 3, 50), {"kernel_size": 4, "stride": 3, "padding": 2, "dilation": 2}),
    (2, (2, 3, 17, 12), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0),
                         "ceil_mode": True}),
    (3, (1, 2, 7, 9, 8), {"kernel_size": (2, 3, 3), "stride": 2, "padding": 1}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_int32_indices_equal_int64_indices(n_dims, shape, window, dtype):
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, size=shape).astype(dtype)
    x[rng.random(shape) < 0.05] = np.nan
    max_pool = getattr(cypool, f"max_pool{n_dims}d")
    backward = getattr(cypool, f"max_pool{n_dims}d_backward")
    values64, indices64 = max_pool(x, **window, return_indices=True)
    values32, indices32 = max_pool(x, **window, return_indices=True, index_dtype=np.int32)
    assert indices32.dtype == np.int32
    np.testing.assert_array_equal(values32, values64)
    np.testing.assert_array_equal(indices32, indices64)
    grad = rng.standard_normal(values64.shape).astype(dtype)
    np.testing.assert_array_equal(backward(grad, indices32, shape),
                                  backward(grad, indices64, shape))
    # Other integer dtypes are accepted too (converted).
    np.testing.assert_array_equal(backward(grad, indices64.astype(np.uint16), shape),
                                  backward(grad, indices64, shape))


def test_int32_out_pair_is_written():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    values = np.empty((1, 2, 2), np.float32)
    indices = np.full((1, 2, 2), -1, np.int32)
    result = cypool.max_pool2d(x, 2, return_indices=True, index_dtype=np.int32,
                               out=(values, indices))
    assert result[0] is values and result[1] is indices
    np.testing.assert_array_equal(indices[0], [[5, 7], [13, 15]])


@pytest.mark.parametrize("bad", [np.float32, np.int16, "complex", bool])
def test_other_index_dtypes_are_refused(bad):
    with pytest.raises(TypeError, match="index_dtype"):
        cypool.max_pool1d(np.zeros((1, 4)), 2, return_indices=True, index_dtype=bad)


def test_int32_refuses_planes_it_cannot_index():
    # A broadcast view: 2**31 elements in the plane, no memory behind them.
    x = np.broadcast_to(np.float32(0), (1, 1, 2**31))
    with pytest.raises(ValueError, match="index_dtype"):
        cypool.max_pool1d(x, 2, return_indices=True, index_dtype=np.int32)
