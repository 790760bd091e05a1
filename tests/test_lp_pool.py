"""Power-average (Lp) pooling: forward as the reference defines it, backward against finite
differences (independent of both cypool and PyTorch), both against PyTorch when installed."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference

N_DIMS = [1, 2, 3]
NORMS = [1.0, 2.0, 3.0, 1.5, 0.7, -1.0, float("inf"), -float("inf")]


@st.composite
def lp_cases(draw, n_dims):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n_dims))
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * n_dims)))
    spatial = tuple(draw(st.integers(k, 7)) for k in kernel)
    shape = (draw(st.integers(1, 2)), 2) + spatial
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if draw(st.booleans()):
        x = np.abs(x)
    return x, draw(st.sampled_from(NORMS)), kernel, stride, draw(st.booleans())


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_forward_matches_reference(n_dims, data):
    x, norm, kernel, stride, ceil_mode = data.draw(lp_cases(n_dims))
    before = x.copy()
    result = getattr(cypool, f"lp_pool{n_dims}d")(x, norm, kernel, stride, ceil_mode)
    expected = getattr(reference, f"lp_pool{n_dims}d")(x, norm, kernel, stride, ceil_mode)
    assert result.dtype == x.dtype and result.shape == expected.shape
    assert_close_to_reference(result, expected, x, norm, kernel, stride, ceil_mode)
    np.testing.assert_array_equal(x, before)


def assert_close_to_reference(result, expected, x, norm, kernel, stride, ceil_mode):
    """Within rounding of the exact value. A window sum S of x**p that cancels (odd p, mixed
    signs) carries the float error of its terms' magnitudes, eps * sum |x|**p, which
    S**(1/p) turns into |dS| * |r| / (p * |S|) with |S| = |r|**p."""
    rtol = 2e-6 if x.dtype == np.float32 else 1e-14
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(result[~finite], expected[~finite])
    slack = np.zeros_like(expected)
    if np.isfinite(norm):
        n_dims = len(kernel)
        terms = getattr(reference, f"lp_pool{n_dims}d")(np.abs(x), norm, kernel, stride,
                                                         ceil_mode) ** norm
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            slack = (16 * np.finfo(x.dtype).eps * terms
                     * np.abs(expected) ** (1 - norm) / abs(norm))
    error = np.abs(result - expected)[finite]
    bound = (rtol * np.abs(expected) + np.nan_to_num(slack, nan=np.inf))[finite]
    assert np.all(error <= bound), (result, expected, bound)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("norm", [1.0, 1.5, 2.0, 3.0, float("inf"), -float("inf")])
def test_backward_matches_finite_differences(n_dims, norm):
    rng = np.random.default_rng(n_dims)
    shape = (1, 2) + (5,) * n_dims
    # Positive values apart from each other: no kinks of |x| or of the max within reach.
    x = rng.permutation(np.arange(1, 1 + np.prod(shape))).reshape(shape) / 7.0 + 0.5
    forward = getattr(cypool, f"lp_pool{n_dims}d")
    arguments = (norm, 2, (1,) * (n_dims - 1) + (2,), True)
    weights = rng.standard_normal(forward(x, *arguments).shape)
    gradient = getattr(cypool, f"lp_pool{n_dims}d_backward")(weights, x, *arguments)
    step = 1e-6
    numeric = np.empty_like(x)
    for position in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[position] += step
        down[position] -= step
        numeric[position] = ((weights * forward(up, *arguments)).sum()
                             - (weights * forward(down, *arguments)).sum()) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("norm", NORMS)
def test_same_as_torch(n_dims, norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3) + (7,) * n_dims).astype(dtype)
        t = torch.from_numpy(x).requires_grad_(True)
        kernel, stride = (3,) * n_dims, (2,) * n_dims
        theirs = getattr(torch.nn.functional, f"lp_pool{n_dims}d")(
            t, norm, kernel[0] if n_dims == 1 else kernel, stride[0] if n_dims == 1 else stride,
            True)
        ours = getattr(cypool, f"lp_pool{n_dims}d")(x, norm, kernel, stride, True)
        grad = rng.standard_normal(ours.shape).astype(dtype)
        theirs.backward(torch.from_numpy(grad))
        ours_grad = getattr(cypool, f"lp_pool{n_dims}d_backward")(grad, x, norm, kernel, stride,
                                                                  True)
        if norm in (1.0, -1.0, float("inf"), -float("inf")):  # documented: bit for bit
            np.testing.assert_array_equal(ours, theirs.detach().numpy())
            np.testing.assert_array_equal(ours_grad, t.grad.numpy())
        else:  # PyTorch's own pow/sqrt routines: within a few ulps
            rtol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=rtol, atol=1e-30)
            np.testing.assert_allclose(ours_grad, t.grad.numpy(), rtol=10 * rtol, atol=1e-6)


@pytest.mark.parametrize("arguments, error, name", [
    ((0, 2), ValueError, "norm_type"),
    ((float("nan"), 2), ValueError, "norm_type"),
    (("2", 2), TypeError, "norm_type"),
    ((True, 2), TypeError, "norm_type"),
    ((2, 0), ValueError, "kernel_size"),
    ((2, 2.5), TypeError, "kernel_size"),
    ((2, 9), ValueError, "output"),
])
def test_bad_arguments(arguments, error, name):
    x = np.ones((1, 4, 4), np.float32)
    with pytest.raises(error, match=name):
        cypool.lp_pool2d(x, *arguments)


def test_backward_checks_grad_output():
    x = np.ones((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="grad_output"):
        cypool.lp_pool2d_backward(np.ones((1, 3, 3), np.float32), x, 2, 2)
    with pytest.raises(TypeError, match="grad_output"):
        cypool.lp_pool2d_backward(np.ones((1, 2, 2), np.float64), x, 2, 2)
