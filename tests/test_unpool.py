"""max_unpool{1,2,3}d against the NumPy reference (hypothesis), the repeated-index rule,
thread independence, output_size and bad arguments."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from strategies import LAYOUTS, pool_cases, with_layout

N_DIMS = [1, 2, 3]


def unpool_size(case):
    """PyTorch's default unpooled size for ``case``'s window (dilation is not part of it)."""
    out_spatial = case.out_shape[-case.n_dims:]
    return tuple((o - 1) * s - 2 * p + k
                 for o, k, s, p in zip(out_spatial, case.kernel_size, case.stride, case.padding))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_unpool_matches_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max"), label="case")
    values, indices = reference.__dict__[f"max_pool{n_dims}d"](case.x, **case.kwargs,
                                                               return_indices=True)
    default = unpool_size(case)
    # The input's own size when PyTorch accepts it as output_size, else the default.
    spatial = case.spatial
    fits = all(d - s < L < d + s for L, d, s in zip(spatial, default, case.stride))
    output_size = spatial if fits and data.draw(st.booleans(), label="given") else None
    sizes = spatial if output_size is not None else default
    if min(sizes) < 1:
        return
    plane = int(np.prod(sizes))
    # Pooling's own indices fit only the input's plane; else random ones (with repeats).
    if output_size is None or data.draw(st.booleans(), label="random_indices"):
        rng = np.random.default_rng(case.seed)
        indices = rng.integers(0, plane, size=values.shape)
    indices = indices.astype(data.draw(st.sampled_from([np.int64, np.int32]), label="dtype"))
    indices = with_layout(indices, data.draw(st.sampled_from(LAYOUTS), label="layout"),
                          readonly=True)
    values = with_layout(values, data.draw(st.sampled_from(LAYOUTS), label="values_layout"))
    window = dict(kernel_size=case.kwargs["kernel_size"], stride=case.kwargs["stride"],
                  padding=case.kwargs["padding"], output_size=output_size)
    expected = reference.__dict__[f"max_unpool{n_dims}d"](values, indices, **window)
    assert expected.shape == values.shape[:-n_dims] + tuple(sizes)
    function = getattr(cypool, f"max_unpool{n_dims}d")
    if data.draw(st.booleans(), label="use_out"):
        out = np.full(expected.shape, np.nan, expected.dtype)
        assert function(values, indices, **window, out=out) is out
        result = out
    else:
        result = function(values, indices, **window)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    np.testing.assert_array_equal(result, expected, strict=True)


def test_repeated_indices_keep_the_last_value():
    values = np.array([[[1.0, 2.0, 3.0, 4.0]]], dtype=np.float32)
    indices = np.array([[[0, 0, 1, 0]]])
    np.testing.assert_array_equal(cypool.max_unpool1d(values, indices, 2),
                                  [[[4, 3, 0, 0, 0, 0, 0, 0]]])


def test_unpool_inverts_pooling_on_the_maxima():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 10))
    values, indices = cypool.max_pool2d(x, (2, 3), stride=(2, 3), ceil_mode=True,
                                        return_indices=True)
    restored = cypool.max_unpool2d(values, indices, (2, 3), output_size=x.shape)
    assert restored.shape == x.shape
    kept = restored != 0
    np.testing.assert_array_equal(restored[kept], x[kept])
    assert kept.sum() == values.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_threads(dtype):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((2, 3, 150, 160)).astype(dtype)
    indices = rng.integers(0, 300 * 320, size=values.shape)  # many repeats
    results = [cypool.max_unpool2d(values, indices, 2, n_threads=n) for n in (1, 2, 3)]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    np.testing.assert_array_equal(results[0], reference.max_unpool2d(values, indices, 2))


def test_empty_batch_and_unbatched():
    values = np.zeros((0, 2, 3, 3), np.float32)
    assert cypool.max_unpool2d(values, values.astype(np.int64), 2).shape == (0, 2, 6, 6)
    values = np.arange(1.0, 7.0).reshape(2, 3)
    indices = np.array([[1, 2, 5], [0, 3, 4]])
    np.testing.assert_array_equal(cypool.max_unpool1d(values, indices, 2),
                                  reference.max_unpool1d(values, indices, 2))


X = np.ones((2, 3, 4, 5))
I = np.zeros((2, 3, 4, 5), np.int64)


@pytest.mark.parametrize("args, kwargs, error, name", [
    ((X, I, 2), {"output_size": (6, 10)}, ValueError, "output_size"),
    ((X, I, 2), {"output_size": (8, 12)}, ValueError, "output_size"),
    ((X, I, 2), {"output_size": (8,)}, ValueError, "output_size"),
    ((X, I, 2), {"output_size": 8}, TypeError, "output_size"),
    ((X, I, 2), {"output_size": (8, 10.5)}, TypeError, "output_size"),
    ((X, I + 80, 2), {}, ValueError, "indices"),
    ((X, I - 1, 2), {}, ValueError, "indices"),
    ((X, I[..., :4], 2), {}, ValueError, "indices"),
    ((X, I.astype(np.float64), 2), {}, TypeError, "indices"),
    ((X.astype(np.bool_), I, 2), {}, TypeError, "input"),
    ((X, I, 0), {}, ValueError, "kernel_size"),
    ((X, I, 2, 0), {}, ValueError, "stride"),
    ((X, I, 2, 2, -1), {}, ValueError, "padding"),
    ((X, I, 1, 1, 2), {}, ValueError, "output size"),
    ((X, I, 2), {"out": np.zeros((2, 3, 8, 9))}, ValueError, "out"),
    ((X, I, 2), {"out": np.zeros((2, 3, 8, 10), np.float32)}, TypeError, "out"),
])
def test_bad_argument(args, kwargs, error, name):
    with pytest.raises(error, match=name) as raised:
        cypool.max_unpool2d(*args, **kwargs)
    assert re.search(name, str(raised.value))


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_backward_is_the_gather_torch_autograd_computes(n_dims):
    rng = np.random.default_rng(n_dims)
    x = rng.standard_normal((2, 3) + (6,) * n_dims)
    values, indices = getattr(cypool, f"max_pool{n_dims}d")(x, 2, return_indices=True)
    indices[0, 0].flat[0] = indices[0, 0].flat[1]  # a repeated index: both get its gradient
    grad = rng.standard_normal(x.shape)
    result = getattr(cypool, f"max_unpool{n_dims}d_backward")(grad, indices)
    planes = grad.reshape(6, -1)
    expected = np.array([planes[p][indices.reshape(6, -1)[p]] for p in range(6)])
    np.testing.assert_array_equal(result, expected.reshape(indices.shape))
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(values).requires_grad_(True)
    unpooled = getattr(torch.nn.functional, f"max_unpool{n_dims}d")(
        t, torch.from_numpy(indices), 2, output_size=x.shape[2:])
    unpooled.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(result, t.grad.numpy())


def test_backward_checks_indices():
    grad = np.zeros((1, 2, 4))
    with pytest.raises(ValueError, match="indices must lie in"):
        cypool.max_unpool1d_backward(grad, np.array([[[0, 4]], [[1, 1]]]).reshape(1, 2, 2))
    with pytest.raises(TypeError, match="indices"):
        cypool.max_unpool1d_backward(grad, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="indices"):
        cypool.max_unpool1d_backward(grad, np.zeros((1, 3, 2), np.int64))
