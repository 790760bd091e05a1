"""Layer classes: results as the reference, training/eval modes, buffers reused without
allocation, torch.nn's constructor argument order."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from strategies import assert_same_array, peak_traced_bytes, pool_cases

N_DIMS = [1, 2, 3]


def layer_class(kind, n_dims):
    return getattr(cypool, f"{kind.capitalize()}Pool{n_dims}d")


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_max_layer_forward_and_backward_match_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "max"), label="case")
    layer = layer_class("max", n_dims)(**case.kwargs, return_indices=True)
    forward = getattr(reference, f"max_pool{n_dims}d")
    backward = getattr(reference, f"max_pool{n_dims}d_backward")
    expected_values, expected_indices = forward(case.x, **case.kwargs, return_indices=True)
    grad = np.random.default_rng(case.seed).standard_normal(expected_values.shape)
    grad = grad.astype(case.x.dtype)
    for _ in range(2):  # the second step runs on the kept buffers
        values, indices = layer(case.x)
        assert_same_array(values, expected_values)
        assert_same_array(indices, expected_indices)
        assert_same_array(layer.backward(grad),
                          backward(grad, expected_indices, case.x.shape))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_avg_layer_forward_and_backward_match_reference(n_dims, data):
    case = data.draw(pool_cases(n_dims, "avg"), label="case")
    layer = layer_class("avg", n_dims)(**case.backward_kwargs())
    forward = getattr(reference, f"avg_pool{n_dims}d")
    backward = getattr(reference, f"avg_pool{n_dims}d_backward")
    expected = forward(case.x, **case.backward_kwargs())
    grad = np.random.default_rng(case.seed).standard_normal(expected.shape)
    grad = grad.astype(case.x.dtype)
    for _ in range(2):
        assert_same_array(layer(case.x), expected)
        assert_same_array(layer.backward(grad),
                          backward(grad, case.x.shape, **case.backward_kwargs()))


def test_constructor_takes_torch_nn_argument_order():
    # torch.nn.MaxPool2d(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
    layer = cypool.MaxPool2d(3, 2, 1, 1, True, True)
    assert (layer.return_indices, layer.ceil_mode, layer.padding) == (True, True, (1, 1))
    # torch.nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad,
    #                    divisor_override)
    layer = cypool.AvgPool2d(3, 2, 1, True, False, 5)
    assert (layer.ceil_mode, layer.count_include_pad, layer.divisor_override) == (True, False, 5)


def test_same_results_as_torch_modules():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 11, 9)).astype(np.float32)
    for arguments in [(3, 2, 1, 1, True, True), (2,), ((3, 2), (2, 1), (1, 0), (1, 2))]:
        theirs = torch.nn.MaxPool2d(*arguments)(torch.from_numpy(x))
        ours = cypool.MaxPool2d(*arguments)(x)
        if isinstance(theirs, tuple):
            for a, b in zip(ours, theirs):
                np.testing.assert_array_equal(a, b.numpy())
        else:
            np.testing.assert_array_equal(ours, theirs.numpy())
    for arguments in [(3, 2, 1, True, False, None), (2,), (3, 1, 1, False, True, 4)]:
        theirs = torch.nn.AvgPool2d(*arguments)(torch.from_numpy(x))
        np.testing.assert_array_equal(cypool.AvgPool2d(*arguments)(x), theirs.numpy())


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_eval_mode_keeps_nothing_for_backward(kind):
    layer = layer_class(kind, 2)(2)
    x = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    training_result = layer(x).copy()
    assert layer.eval() is layer and not layer.training
    np.testing.assert_array_equal(layer(x), training_result)
    with pytest.raises(RuntimeError, match="training mode"):
        layer.backward(np.ones_like(training_result))
    layer.train()
    layer(x)
    assert layer.backward(np.ones_like(training_result)).shape == x.shape


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="forward"):
        cypool.MaxPool1d(2).backward(np.ones((1, 1, 2)))


def test_max_layer_in_eval_mode_still_returns_indices_when_asked():
    layer = cypool.MaxPool1d(2, return_indices=True).eval()
    values, indices = layer(np.array([[[1.0, 3.0, 2.0, 0.0]]]))
    assert values.tolist() == [[[3.0, 2.0]]] and indices.tolist() == [[[1, 2]]]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("reuse", [True, False])
def test_buffers_are_reused_only_when_asked(kind, reuse):
    layer = layer_class(kind, 2)(2, reuse_buffers=reuse)
    x = np.random.default_rng(1).random((2, 3, 8, 8)).astype(np.float32)
    first, first_grad = layer(x), layer.backward(np.ones((2, 3, 4, 4), np.float32))
    second, second_grad = layer(x), layer.backward(np.ones((2, 3, 4, 4), np.float32))
    assert (second is first) == reuse
    assert (second_grad is first_grad) == reuse


def test_a_new_shape_or_dtype_gets_new_buffers():
    layer = cypool.MaxPool2d(2)
    for shape, dtype in [((1, 2, 8, 8), np.float32), ((3, 2, 6, 10), np.float32),
                         ((3, 2, 6, 10), np.float64), ((2, 6, 10), np.float64)]:
        x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
        values = layer(x)
        assert_same_array(values, reference.max_pool2d(x, 2))
        grad = layer.backward(values)
        _, indices = reference.max_pool2d(x, 2, return_indices=True)
        assert_same_array(grad, reference.max_pool2d_backward(values, indices, x.shape))


def test_feeding_a_layer_its_own_output_is_safe():
    layer = cypool.MaxPool2d(1)  # output shape == input shape, so the kept buffer would fit
    x = np.random.default_rng(3).random((1, 1, 4, 4))
    y = layer(x)
    z = layer(y)
    assert not np.shares_memory(y, z)
    np.testing.assert_array_equal(z, x)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_training_step_allocates_no_arrays_after_the_first(n_dims, kind):
    shape = {1: (4, 8, 4096), 2: (4, 8, 64, 64), 3: (2, 4, 16, 32, 32)}[n_dims]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    layer = layer_class(kind, n_dims)(3, 2, 1)

    # Python objects (tuples, views) come and go; no array-sized block may.
    assert peak_traced_bytes(lambda: layer.backward(layer(x))) < layer(x).nbytes // 4


@pytest.mark.parametrize("arguments, error, name", [
    ({"kernel_size": 0.5}, TypeError, "kernel_size"),
    ({"kernel_size": (2, 2, 2)}, ValueError, "kernel_size"),
    ({"kernel_size": 2, "stride": "2"}, TypeError, "stride"),
    ({"kernel_size": 2, "ceil_mode": "yes"}, TypeError, "ceil_mode"),
    ({"kernel_size": 2, "return_indices": None}, TypeError, "return_indices"),
    ({"kernel_size": 2, "reuse_buffers": 2}, TypeError, "reuse_buffers"),
])
def test_max_layer_constructor_errors_name_the_argument(arguments, error, name):
    with pytest.raises(error, match=name):
        cypool.MaxPool2d(**arguments)


@pytest.mark.parametrize("arguments, error, name", [
    ({"kernel_size": None}, TypeError, "kernel_size"),
    ({"kernel_size": 2, "divisor_override": 0}, ValueError, "divisor_override"),
    ({"kernel_size": 2, "count_include_pad": "no"}, TypeError, "count_include_pad"),
])
def test_avg_layer_constructor_errors_name_the_argument(arguments, error, name):
    with pytest.raises(error, match=name):
        cypool.AvgPool2d(**arguments)


def test_repr_shows_the_arguments():
    assert repr(cypool.AvgPool1d(3, 2)) == (
        "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,), ceil_mode=False, "
        "count_include_pad=True, divisor_override=None)")


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@given(data=st.data())
def test_adaptive_layers_match_reference(n_dims, kind, data):
    shape = tuple(data.draw(st.integers(1, 9), label="spatial") for _ in range(n_dims))
    lead = (data.draw(st.integers(0, 2), label="batch"), 2)
    output_size = tuple(data.draw(st.one_of(st.none(), st.integers(1, 6)), label="out")
                        for _ in range(n_dims))
    x = np.random.default_rng(len(shape)).integers(-3, 4, lead + shape).astype(np.float32)
    layer = getattr(cypool, f"Adaptive{kind.capitalize()}Pool{n_dims}d")(output_size)
    forward = getattr(reference, f"adaptive_{kind}_pool{n_dims}d")
    backward = getattr(reference, f"adaptive_{kind}_pool{n_dims}d_backward")
    if kind == "max":
        expected, indices = forward(x, output_size, return_indices=True)
    else:
        expected = forward(x, output_size)
    grad = np.random.default_rng(1).standard_normal(expected.shape).astype(np.float32)
    expected_grad = (backward(grad, indices, x.shape) if kind == "max"
                     else backward(grad, x.shape))
    for _ in range(2):  # the second step runs on the kept buffers
        assert_same_array(layer(x), expected)
        assert_same_array(layer.backward(grad), expected_grad)


def test_adaptive_layers_as_torch_modules():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 11, 9)).astype(np.float32)
    theirs = torch.nn.AdaptiveMaxPool2d((4, None), True)(torch.from_numpy(x))
    for a, b in zip(cypool.AdaptiveMaxPool2d((4, None), True)(x), theirs):
        np.testing.assert_array_equal(a, b.numpy())
    theirs = torch.nn.AdaptiveAvgPool2d(5)(torch.from_numpy(x))
    np.testing.assert_array_equal(cypool.AdaptiveAvgPool2d(5)(x), theirs.numpy())


@pytest.mark.parametrize("kind", ["Max", "Avg"])
def test_adaptive_training_step_allocates_no_arrays_after_the_first(kind):
    x = np.random.default_rng(0).random((4, 64, 14, 14), dtype=np.float32)
    layer = getattr(cypool, f"Adaptive{kind}Pool2d")(7)

    assert peak_traced_bytes(lambda: layer.backward(layer(x))) < layer(x).nbytes // 4


@pytest.mark.parametrize("kind", ["Max", "Avg"])
def test_empty_stride_means_the_kernel_size(kind):
    # torch.nn.functional (and so torch.nn) reads stride=() as stride=kernel_size.
    x = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    layer = getattr(cypool, f"{kind}Pool2d")
    np.testing.assert_array_equal(layer(2, stride=())(x), layer(2)(x))
