"""The reference implementation, checked against hard facts about PyTorch.

Two kinds of check:

- The worked examples of DESIGN.md section 2 (what PyTorch 2.13 CPU computes), on both the
  reference and the real API. These are the only hard-coded outputs in the suite.
- The reference against PyTorch itself, over random problems, when torch is importable.
  torch is a development peer, never a dependency: those tests skip without it.
"""

import importlib

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cypool import reference
from strategies import adaptive_cases, make_values, pool_cases


@pytest.fixture(params=["reference", "cypool"])
def impl(request):
    """The module under test: the NumPy reference, or the compiled package."""
    if request.param == "reference":
        return reference
    return importlib.import_module("cypool")


# --------------------------------------------------------------------------------------
# DESIGN.md section 2 worked examples (1-d, one plane)
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("length, kernel_size, stride, padding, floor_size, ceil_size", [
    (5, 2, 2, 0, 2, 3),
    (3, 2, 2, 1, 2, 2),
    (6, 3, 2, 1, 3, 4),
    (4, 3, 2, 1, 2, 3),
])
def test_worked_example_output_length(impl, length, kernel_size, stride, padding,
                                      floor_size, ceil_size):
    x = np.arange(length, dtype=np.float64).reshape(1, length)
    for ceil_mode, expected in ((False, floor_size), (True, ceil_size)):
        args = (x, kernel_size, stride, padding)
        assert impl.max_pool1d(*args, ceil_mode=ceil_mode).shape == (1, expected)
        assert impl.avg_pool1d(*args, ceil_mode=ceil_mode).shape == (1, expected)
        if impl is reference:
            assert reference.pooling_output_size(
                length, kernel_size, stride, padding, 1, ceil_mode) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_worked_example_max_nan(impl, dtype):
    x = np.array([[1, np.nan, 5, np.nan]], dtype=dtype)
    values, indices = impl.max_pool1d(x, 4, return_indices=True)
    assert values.shape == (1, 1) and np.isnan(values[0, 0])
    assert values.dtype == dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(indices, [[3]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_worked_example_max_ties(impl, dtype):
    x = np.array([[5, 5, 5, 5]], dtype=dtype)
    values, indices = impl.max_pool1d(x, 2, return_indices=True)
    np.testing.assert_array_equal(values, [[5, 5]])
    np.testing.assert_array_equal(indices, [[0, 2]])


@pytest.mark.parametrize("count_include_pad, divisor_override, expected", [
    (True, None, [2 / 3, 1, 1, 1 / 2]),
    (False, None, [1, 1, 1, 1]),
    (True, 3, [2 / 3, 1, 1, 1 / 3]),
    (False, 3, [2 / 3, 1, 1, 1 / 3]),
])
def test_worked_example_avg_divisor(impl, count_include_pad, divisor_override, expected):
    x = np.ones((1, 6))
    result = impl.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad,
                             divisor_override=divisor_override)
    np.testing.assert_allclose(result, [expected], rtol=1e-15)


def test_worked_example_max_backward(impl):
    x = np.array([[1, 5, 2, 0, 3]], dtype=np.float64)
    values, indices = impl.max_pool1d(x, 3, 1, return_indices=True)
    np.testing.assert_array_equal(values, [[5, 5, 3]])
    grad_input = impl.max_pool1d_backward(np.ones_like(values), indices, x.shape)
    np.testing.assert_array_equal(grad_input, [[0, 2, 0, 0, 1]])


def test_worked_example_avg_backward(impl):
    grad_input = impl.avg_pool1d_backward(np.ones((1, 4)), (1, 6), 3, 2, 1, ceil_mode=True,
                                          count_include_pad=True)
    np.testing.assert_allclose(grad_input, [[1 / 3, 2 / 3, 1 / 3, 2 / 3, 1 / 3, 5 / 6]],
                               rtol=1e-15)


def test_reference_rejects_padding_only_max_window():
    # L=1, k=2, d=2, p=1: the one window's taps are at -1 and 1, both padding.
    with pytest.raises(ValueError, match="padding"):
        reference.max_pool1d(np.ones((1, 1)), 2, 1, 1, 2)


def test_torch_returns_minus_inf_for_padding_only_max_window():
    """Documents why cypool rejects that geometry: torch invents a value."""
    torch = pytest.importorskip("torch")
    values = torch.nn.functional.max_pool1d(torch.ones(1, 1), 2, 1, 1, 2)
    assert values.item() == -np.inf


# --------------------------------------------------------------------------------------
# Reference against PyTorch
# --------------------------------------------------------------------------------------

def _torch_max_pool(torch, case, grad_output):
    """torch's values, indices, values without indices, and grad_input for ``case``."""
    function = getattr(torch.nn.functional, f"max_pool{case.n_dims}d")
    kwargs = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                  dilation=case.dilation, ceil_mode=case.kwargs["ceil_mode"])
    x = torch.from_numpy(case.x.copy()).requires_grad_(True)
    values, indices = function(x, return_indices=True, **kwargs)
    values.backward(torch.from_numpy(grad_output))
    with torch.no_grad():  # without autograd torch takes other code paths (1-d especially)
        values_only = function(x.detach(), **kwargs)
    return (values.detach().numpy(), indices.numpy(), values_only.numpy(),
            x.grad.numpy())


def _torch_avg_pool(torch, case, grad_output):
    """torch's output and grad_input for ``case``.

    torch's avg_pool1d has no divisor_override: 1-d problems run as 2-d with a height of 1.
    """
    x = case.x.copy()
    g = grad_output
    kernel_size, stride, padding = case.kernel_size, case.stride, case.padding
    n_dims = case.n_dims
    if n_dims == 1:
        x, g = x[..., None, :], g[..., None, :]
        kernel_size, stride, padding = (1,) + kernel_size, (1,) + stride, (0,) + padding
        n_dims = 2
    function = getattr(torch.nn.functional, f"avg_pool{n_dims}d")
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    output = function(x_torch, kernel_size, stride, padding,
                      ceil_mode=case.kwargs["ceil_mode"],
                      count_include_pad=case.kwargs["count_include_pad"],
                      divisor_override=case.kwargs["divisor_override"])
    output.backward(torch.from_numpy(g.copy()))
    output, grad_input = output.detach().numpy(), x_torch.grad.numpy()
    if case.n_dims == 1:
        output, grad_input = output[..., 0, :], grad_input[..., 0, :]
    return output, grad_input


def _grad_output(case):
    return make_values(case.out_shape, case.x.dtype, "normal", case.seed + 1)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_reference_max_pool_matches_torch(n_dims, data):
    torch = pytest.importorskip("torch")
    case = data.draw(pool_cases(n_dims, "max", max_spatial=9))
    grad_output = _grad_output(case)
    torch_values, torch_indices, torch_values_only, torch_grad = _torch_max_pool(
        torch, case, grad_output)

    values, indices = reference.__dict__[f"max_pool{n_dims}d"](
        case.x, **case.kwargs, return_indices=True)
    assert values.dtype == case.x.dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(values, torch_values)
    np.testing.assert_array_equal(values, torch_values_only)
    np.testing.assert_array_equal(indices, torch_indices)

    grad_input = reference.__dict__[f"max_pool{n_dims}d_backward"](
        grad_output, indices, case.x.shape)
    assert grad_input.dtype == case.x.dtype
    np.testing.assert_array_equal(grad_input, torch_grad)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_reference_avg_pool_matches_torch(n_dims, data):
    torch = pytest.importorskip("torch")
    case = data.draw(pool_cases(n_dims, "avg", max_spatial=9))
    if n_dims == 3:
        # torch's avg_pool3d alone refuses inputs smaller than the kernel.
        assume(all(L >= k for L, k in zip(case.spatial, case.kernel_size)))
    grad_output = _grad_output(case)
    torch_output, torch_grad = _torch_avg_pool(torch, case, grad_output)

    output = reference.__dict__[f"avg_pool{n_dims}d"](case.x, **case.kwargs)
    assert output.dtype == case.x.dtype
    np.testing.assert_array_equal(output, torch_output)

    grad_input = reference.__dict__[f"avg_pool{n_dims}d_backward"](
        grad_output, case.x.shape, **case.kwargs)
    assert grad_input.dtype == case.x.dtype
    np.testing.assert_array_equal(grad_input, torch_grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_float32_sum_order_matches_torch_on_big_windows(dtype):
    """Sums whose float32 rounding depends on the order: long windows of mixed magnitudes."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 7, 23)) * 10.0 ** rng.integers(-4, 5, (2, 3, 7, 23)))
    x = x.astype(dtype)
    for kwargs in [dict(kernel_size=(3, 7), stride=(2, 3), padding=(1, 3)),
                   dict(kernel_size=(7, 9), stride=1, padding=(3, 2), ceil_mode=True,
                        count_include_pad=False),
                   dict(kernel_size=(2, 5), stride=(3, 4), divisor_override=7)]:
        expected = torch.nn.functional.avg_pool2d(torch.from_numpy(x), **kwargs).numpy()
        np.testing.assert_array_equal(reference.avg_pool2d(x, **kwargs), expected)


def test_reference_docstring_examples():
    import doctest

    result = doctest.testmod(reference)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_matches_torch_on_medium_arrays(n_dims, dtype):
    """A few bigger problems than hypothesis draws, with every parameter set."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape = (2, 3) + (19, 14, 11)[-n_dims:] if n_dims < 3 else (1, 2, 9, 8, 7)
    rng = np.random.default_rng(n_dims)
    x = rng.integers(-5, 6, shape).astype(dtype)
    x[rng.random(shape) < 0.02] = np.nan
    x[rng.random(shape) < 0.05] = -np.inf
    k, s, p, d = (4, 3, 2)[:n_dims], (2, 1, 3)[:n_dims], (2, 1, 1)[:n_dims], (1, 2, 1)[:n_dims]
    for ceil_mode in (False, True):
        values, indices = getattr(F, f"max_pool{n_dims}d")(
            torch.from_numpy(x), k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
        expected = reference.__dict__[f"max_pool{n_dims}d"](x, k, s, p, d, ceil_mode,
                                                            return_indices=True)
        np.testing.assert_array_equal(expected[0], values.numpy())
        np.testing.assert_array_equal(expected[1], indices.numpy())
    x = rng.standard_normal(shape).astype(dtype)
    x_2d = x[..., None, :] if n_dims == 1 else x
    torch_avg = F.avg_pool2d if n_dims < 3 else F.avg_pool3d
    k2, s2, p2 = ((1,) + k, (1,) + s, (0,) + p) if n_dims == 1 else (k, s, p)
    for ceil_mode in (False, True):
        for count_include_pad in (False, True):
            for divisor_override in (None, 5):
                kwargs = dict(ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                              divisor_override=divisor_override)
                expected = torch_avg(torch.from_numpy(x_2d), k2, s2, p2, **kwargs).numpy()
                if n_dims == 1:
                    expected = expected[..., 0, :]
                actual = reference.__dict__[f"avg_pool{n_dims}d"](x, k, s, p, **kwargs)
                np.testing.assert_array_equal(actual, expected)


# --------------------------------------------------------------------------------------
# Adaptive and global pooling: the reference against PyTorch
# --------------------------------------------------------------------------------------

@pytest.fixture
def torch_one_thread():
    """torch, running one thread: PyTorch sums a lone big plane in another order with more
    (cypool matches its one-thread order for any thread count)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_reference_adaptive_pooling_matches_torch(n_dims, data):
    torch = pytest.importorskip("torch")
    case = data.draw(adaptive_cases(n_dims, max_spatial=11, max_output=14))
    F = torch.nn.functional
    # torch's 1-d ops take no None entries: give them the resolved size.
    torch_size = case.out_spatial if n_dims == 1 else case.output_size
    x = torch.from_numpy(case.x.copy()).requires_grad_(True)
    values, indices = getattr(F, f"adaptive_max_pool{n_dims}d")(x, torch_size, True)
    expected = reference.__dict__[f"adaptive_max_pool{n_dims}d"](case.x, case.output_size, True)
    np.testing.assert_array_equal(expected[0], values.detach().numpy(), strict=True)
    np.testing.assert_array_equal(expected[1], indices.numpy(), strict=True)
    grad = make_values(case.out_shape, case.x.dtype, "normal", case.seed + 1)
    values.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(
        reference.__dict__[f"adaptive_max_pool{n_dims}d_backward"](grad, expected[1],
                                                                  case.x.shape),
        x.grad.numpy(), strict=True)

    x = torch.from_numpy(case.x.copy()).requires_grad_(True)
    output = getattr(F, f"adaptive_avg_pool{n_dims}d")(x, torch_size)
    np.testing.assert_array_equal(
        reference.__dict__[f"adaptive_avg_pool{n_dims}d"](case.x, case.output_size),
        output.detach().numpy(), strict=True)
    output.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(
        reference.__dict__[f"adaptive_avg_pool{n_dims}d_backward"](grad, case.x.shape),
        x.grad.numpy(), strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_global_average_sum_order_matches_torch(torch_one_thread, dtype):
    """Plane sizes through every branch of PyTorch's cascade sum: below one vector, whole
    and partial vectors and ilp rows, one or more level-0 blocks, carries between levels."""
    torch = torch_one_thread
    rng = np.random.default_rng(0)
    sizes = list(range(1, 80)) + [127, 128, 129, 511, 512, 513, 1023, 1024, 2049, 4095,
                                  8192, 16383, 65537, 100003]
    for n in sizes:
        x = (rng.standard_normal((2, 3, n)) * 10.0 ** rng.integers(-5, 6, (2, 3, n)))
        x = x.astype(dtype)
        x[0, 0] = -0.0
        expected = torch.nn.functional.adaptive_avg_pool1d(torch.from_numpy(x), 1).numpy()
        actual = reference.global_avg_pool1d(x)
        np.testing.assert_array_equal(actual, expected, strict=True)
        np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))
    x = (rng.standard_normal((2, 4, 33, 35)) * 100).astype(dtype)
    expected = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy()
    np.testing.assert_array_equal(reference.global_avg_pool2d(x), expected, strict=True)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@given(data=st.data())
def test_reference_max_unpool_matches_torch(n_dims, data):
    """Random indices with repeats: the last in raster order wins in PyTorch's one-thread
    loop (with more threads it splits planes at arbitrary points)."""
    torch = pytest.importorskip("torch")
    case = data.draw(pool_cases(n_dims, "max", max_spatial=9))
    values = reference.__dict__[f"max_pool{n_dims}d"](case.x, **case.kwargs)
    window = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding)
    sizes = [(o - 1) * s - 2 * p + k for o, k, s, p in
             zip(values.shape[-n_dims:], case.kernel_size, case.stride, case.padding)]
    assume(min(sizes) >= 1)
    indices = np.random.default_rng(case.seed).integers(0, int(np.prod(sizes)),
                                                        size=values.shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = getattr(torch.nn.functional, f"max_unpool{n_dims}d")(
            torch.from_numpy(values), torch.from_numpy(indices), **window).numpy()
    finally:
        torch.set_num_threads(threads)
    actual = reference.__dict__[f"max_unpool{n_dims}d"](values, indices, **window)
    np.testing.assert_array_equal(actual, expected, strict=True)
