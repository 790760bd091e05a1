"""float16 pooling, forward and backward (window, adaptive, global, unpool): PyTorch's CPU
float16 arithmetic (forwards in float32, rounded once; max backward contributions added in
float16, one rounding each, in output raster order; the adaptive average backward in float16
one operation at a time), checked against the reference and PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from strategies import adaptive_cases, make_values, pool_cases

N_DIMS = [1, 2, 3]


def scaled_gradient(shape, seed):
    # Large values make float16 roundings differ between summation orders.
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * rng.choice([1.0, 300.0, 3000.0])).astype(np.float16)


def assert_same(actual, expected):
    """Same float16 bits, except that any NaN equals any NaN."""
    assert actual.dtype == expected.dtype == np.float16 and actual.shape == expected.shape
    both_nan = np.isnan(actual) & np.isnan(expected)
    np.testing.assert_array_equal(np.where(both_nan, 0, actual.view(np.uint16)),
                                  np.where(both_nan, 0, expected.view(np.uint16)))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_pool_float16(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max", dtypes=(np.float16,)), label="case")
    values, indices = getattr(cypool, f"max_pool{n_dims}d")(case.x, **case.kwargs,
                                                            return_indices=True)
    expected, expected_indices = getattr(reference, f"max_pool{n_dims}d")(
        case.x, **case.kwargs, return_indices=True)
    np.testing.assert_array_equal(values, expected)  # NaNs compare equal here
    np.testing.assert_array_equal(indices, expected_indices)
    grad = scaled_gradient(values.shape, case.seed)
    assert_same(getattr(cypool, f"max_pool{n_dims}d_backward")(grad, indices, case.x.shape),
                getattr(reference, f"max_pool{n_dims}d_backward")(grad, indices, case.x.shape))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_avg_pool_float16(n_dims, data):
    case = data.draw(pool_cases(n_dims, "avg", dtypes=(np.float16,), value_modes=("normal",)),
                     label="case")
    x = (case.x * np.float16(100)).astype(np.float16)
    kwargs = case.backward_kwargs()
    result = getattr(cypool, f"avg_pool{n_dims}d")(x, **kwargs)
    assert_same(result, getattr(reference, f"avg_pool{n_dims}d")(x, **kwargs))
    grad = scaled_gradient(result.shape, case.seed)
    assert_same(getattr(cypool, f"avg_pool{n_dims}d_backward")(grad, x.shape, **kwargs),
                getattr(reference, f"avg_pool{n_dims}d_backward")(grad, x.shape, **kwargs))


def test_float16_backward_rounds_each_addition():
    # Three overlapping windows put three contributions on the middle element; rounding once
    # at the end would give a different float16 than rounding after each addition.
    grad = np.array([[[2048.0, 1.0, 1.0]]], np.float16)
    indices = np.array([[[1, 1, 1]]])
    result = cypool.max_pool1d_backward(grad, indices, (1, 1, 3))
    # 2048 + 1 rounds to 2048 in float16, twice; a float32 sum would give 2050.
    assert result[0, 0, 1] == 2048.0


def test_same_as_torch():
    torch = pytest.importorskip("torch")
    functional, aten = torch.nn.functional, torch.ops.aten
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 3, 13, 11)) * 500).astype(np.float16)
    t = torch.from_numpy(x)
    for k, s, p, ceil_mode, count_include_pad in [(3, 1, 1, False, True), (3, 2, 1, True, False),
                                                  (2, 2, 0, False, True)]:
        ours = cypool.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad)
        theirs = functional.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad)
        assert_same(ours, theirs.numpy())
        grad = (rng.standard_normal(ours.shape) * 3000).astype(np.float16)
        theirs = aten.avg_pool2d_backward(torch.from_numpy(grad), t, [k, k], [s, s], [p, p],
                                          ceil_mode, count_include_pad, None)
        assert_same(cypool.avg_pool2d_backward(grad, x.shape, k, s, p, ceil_mode,
                                               count_include_pad), theirs.numpy())
        values, indices = cypool.max_pool2d(x, k, s, p, 1, ceil_mode, True)
        theirs_values, theirs_indices = functional.max_pool2d(t, k, s, p, 1, ceil_mode, True)
        assert_same(values, theirs_values.numpy())
        np.testing.assert_array_equal(indices, theirs_indices.numpy())
        theirs = aten.max_pool2d_with_indices_backward(
            torch.from_numpy(grad), t, [k, k], [s, s], [p, p], [1, 1], ceil_mode,
            theirs_indices)
        assert_same(cypool.max_pool2d_backward(grad, indices, x.shape), theirs.numpy())


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_adaptive_and_global_float16(n_dims, data):
    """Adaptive (and, for all-ones sizes, global) max and average pooling, forward and
    backward, against the reference's statement of PyTorch's Half rules."""
    case = data.draw(adaptive_cases(n_dims, dtypes=(np.float16,)), label="case")
    x = case.x
    values, indices = getattr(cypool, f"adaptive_max_pool{n_dims}d")(x, case.output_size,
                                                                     return_indices=True)
    expected, expected_indices = getattr(reference, f"adaptive_max_pool{n_dims}d")(
        x, case.output_size, return_indices=True)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(indices, expected_indices)
    grad = scaled_gradient(values.shape, case.seed)
    assert_same(getattr(cypool, f"adaptive_max_pool{n_dims}d_backward")(grad, indices, x.shape),
                getattr(reference, f"adaptive_max_pool{n_dims}d_backward")(grad, indices,
                                                                           x.shape))
    finite = (make_values(x.shape, np.float32, "normal", case.seed) * 100).astype(np.float16)
    assert_same(getattr(cypool, f"adaptive_avg_pool{n_dims}d")(finite, case.output_size),
                getattr(reference, f"adaptive_avg_pool{n_dims}d")(finite, case.output_size))
    assert_same(getattr(cypool, f"adaptive_avg_pool{n_dims}d_backward")(grad, x.shape),
                getattr(reference, f"adaptive_avg_pool{n_dims}d_backward")(grad, x.shape))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_unpool_float16(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max", dtypes=(np.float16,)), label="case")
    values, indices = getattr(reference, f"max_pool{n_dims}d")(case.x, **case.kwargs,
                                                               return_indices=True)
    window = {"kernel_size": case.kernel_size, "stride": case.stride, "padding": case.padding,
              "output_size": case.spatial}
    if not all(d - s < length < d + s for length, d, s in zip(
            case.spatial, [(o - 1) * s - 2 * p + k for o, k, s, p in zip(
                values.shape[-n_dims:], case.kernel_size, case.stride, case.padding)],
            case.stride)):
        return  # PyTorch's output_size rule refuses this geometry
    result = getattr(cypool, f"max_unpool{n_dims}d")(values, indices, **window)
    assert_same(result, getattr(reference, f"max_unpool{n_dims}d")(values, indices, **window))
    grad = scaled_gradient(result.shape, case.seed)
    gathered = getattr(cypool, f"max_unpool{n_dims}d_backward")(grad, indices)
    flat = grad.reshape(grad.shape[:-n_dims] + (int(np.prod(grad.shape[-n_dims:])),))
    where = indices.reshape(indices.shape[:-n_dims] + (int(np.prod(values.shape[-n_dims:])),))
    assert_same(gathered, np.take_along_axis(flat, where, axis=-1).reshape(indices.shape))


def test_adaptive_global_and_unpool_same_as_torch():
    """PyTorch's Half rules on random shapes: forwards and the mean backward in float32 rounded
    once, max backward and adaptive average backward in float16 one operation at a time."""
    torch = pytest.importorskip("torch")
    functional, aten = torch.nn.functional, torch.ops.aten
    rng = np.random.default_rng(4)
    shapes = [(2, 3, 13, 11), (1, 2, 57, 43), (2, 4, 7, 7), (1, 3, 200, 150), (2, 1, 1, 9)]
    cases = 0
    for shape in shapes:
        for output_size in [(1, 1), (7, 7), (5, 3), (shape[2] + 2, 4)]:
            x = (rng.standard_normal(shape) * 500).astype(np.float16)
            t = torch.from_numpy(x)
            values, indices = cypool.adaptive_max_pool2d(x, output_size, return_indices=True)
            theirs_values, theirs_indices = functional.adaptive_max_pool2d(t, output_size, True)
            assert_same(values, theirs_values.numpy())
            np.testing.assert_array_equal(indices, theirs_indices.numpy())
            grad = scaled_gradient(values.shape, cases)
            g = torch.from_numpy(grad)
            assert_same(cypool.adaptive_max_pool2d_backward(grad, indices, shape),
                        aten.adaptive_max_pool2d_backward(g, t, theirs_indices).numpy())
            assert_same(cypool.adaptive_avg_pool2d(x, output_size),
                        functional.adaptive_avg_pool2d(t, output_size).numpy())
            if output_size == (1, 1):  # PyTorch takes the mean there: its backward
                leaf = t.clone().requires_grad_()
                leaf.mean((-2, -1), keepdim=True).backward(g)
                theirs = leaf.grad
            else:
                theirs = aten._adaptive_avg_pool2d_backward(g, t)
            assert_same(cypool.adaptive_avg_pool2d_backward(grad, shape), theirs.numpy())
            cases += 1
        pooled, where = functional.max_pool2d(t, (1, 2), return_indices=True)
        assert_same(cypool.max_unpool2d(pooled.numpy(), where.numpy(), (1, 2),
                                        output_size=shape[-2:]),
                    functional.max_unpool2d(pooled, where, (1, 2), output_size=shape[-2:]).numpy())
    assert cases == 20


LP_NORMS = [1.0, 2.0, 3.0, 1.5, 0.5, -1.0, -2.0, 2.5, float("inf"), -float("inf")]


@pytest.mark.parametrize("n_dims", [1, 2])  # PyTorch's avg_pool3d has no float16 on the CPU
def test_lp_pool_float16_same_as_torch(n_dims):
    """PyTorch's float16 lp_pool is a chain of float16 ops: pow rounds its exponent to float16,
    computes in float32 and rounds; a tensor times a number multiplies in float32 by the
    unrounded number and rounds; its autograd follows the same rules. Forward and backward,
    every element equal, for exact and inexact powers."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(20 + n_dims)
    spatial = (17, 13, 9)[:n_dims]
    for norm in LP_NORMS:
        for kernel, stride in [(3, 2), (2, None), (2, 1)]:
            x = (rng.random((2, 3) + spatial) * 4 - (0 if norm < 0 else 1)).astype(np.float16)
            if norm < 0:
                x += np.float16(0.25)
            leaf = torch.from_numpy(x).requires_grad_()
            theirs = getattr(functional, f"lp_pool{n_dims}d")(leaf, norm, kernel, stride)
            grad = scaled_gradient(theirs.shape, int(rng.integers(1000)))
            theirs.backward(torch.from_numpy(grad))
            with np.errstate(all="ignore"):
                ours = getattr(cypool, f"lp_pool{n_dims}d")(x, norm, kernel, stride)
                ours_backward = getattr(cypool, f"lp_pool{n_dims}d_backward")(
                    grad, x, norm, kernel, stride)
            assert_same(ours, theirs.detach().numpy())
            assert_same(ours_backward, leaf.grad.numpy())


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("norm", [1.0, 2.0, float("inf")])
def test_lp_pool_float16_matches_reference(n_dims, norm):
    # Exact powers only: the reference computes x**3 as a power, PyTorch (and cypool) as
    # x*x*x, which may round differently.
    shape = (2, 3) + (11, 10, 7)[:n_dims]
    x = (np.random.default_rng(21).standard_normal(shape) * 30).astype(np.float16)
    assert_same(getattr(cypool, f"lp_pool{n_dims}d")(x, norm, 3, 2),
                getattr(reference, f"lp_pool{n_dims}d")(x, norm, 3, 2))


def test_global_avg_float16_sums_in_pytorchs_float32_order():
    """PyTorch's float16 mean is its float32 cascade sum rounded once: over many planes where
    a plain left-to-right float32 sum rounds differently now and then (checked here, so that
    the comparison can fail), every value equals PyTorch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    differs_from_plain_order = 0
    for length in (9, 49, 300, 1000, 2500):
        x = (rng.standard_normal((4, 2000, length))
             * rng.choice([1.0, 100.0, 3000.0], size=(4, 2000, length))).astype(np.float16)
        ours = cypool.global_avg_pool1d(x)
        assert_same(ours, torch.nn.functional.adaptive_avg_pool1d(torch.from_numpy(x),
                                                                  1).numpy())
        plain = (np.cumsum(x.astype(np.float32), axis=-1)[..., -1:]
                 / np.float32(length)).astype(np.float16)
        differs_from_plain_order += int(np.count_nonzero(plain != ours))
    assert differs_from_plain_order > 0
