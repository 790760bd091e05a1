"""Adaptive and global pooling against the NumPy reference: random problems (hypothesis),
named edge cases, thread independence, ``out=`` reuse and bad arguments.

Max pooling must give identical values (NaN where the reference has NaN) and identical
indices; average pooling and every backward must be bitwise equal to the reference. No call
may change its inputs.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cypool
from cypool import reference
from strategies import (
    LAYOUTS,
    adaptive_cases,
    api,
    assert_same_array,
    make_values,
    peak_traced_bytes,
    ref,
    with_layout,
)

N_DIMS = [1, 2, 3]


def garbage(shape, dtype):
    if np.dtype(dtype).kind == "f":
        return np.full(shape, np.nan, dtype=dtype)
    return np.full(shape, -12345, dtype=dtype)


def grad_like(case, layout="C"):
    grad = make_values(case.out_shape, case.x.dtype, "normal", case.seed + 1)
    return with_layout(grad, layout, channel_axis=len(case.out_shape) - case.n_dims - 1)


# --------------------------------------------------------------------------------------
# Random problems against the reference
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_adaptive_max_pool_matches_reference(n_dims, data):
    case = data.draw(adaptive_cases(n_dims), label="case")
    x_before = case.x.copy()
    expected_values, expected_indices = ref("adaptive_max_pool", n_dims)(
        case.x, case.output_size, return_indices=True)
    assert expected_values.shape == case.out_shape
    index_dtype = data.draw(st.sampled_from([np.int64, np.int32]), label="index_dtype")
    if data.draw(st.booleans(), label="use_out"):
        out = (garbage(case.out_shape, case.x.dtype), garbage(case.out_shape, index_dtype))
        result = api("adaptive_max_pool", n_dims)(case.x, case.output_size, True, out=out,
                                                  index_dtype=index_dtype)
        assert result[0] is out[0] and result[1] is out[1]
    else:
        result = api("adaptive_max_pool", n_dims)(case.x, case.output_size,
                                                  return_indices=True, index_dtype=index_dtype)
    values, indices = result
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices.astype(index_dtype))
    values_only = api("adaptive_max_pool", n_dims)(case.x, case.output_size)
    assert_same_array(values_only, expected_values)
    assert_same_array(case.x, x_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_adaptive_max_pool_backward_matches_reference(n_dims, data):
    case = data.draw(adaptive_cases(n_dims), label="case")
    _, indices = ref("adaptive_max_pool", n_dims)(case.x, case.output_size, True)
    grad_output = grad_like(case, data.draw(st.sampled_from(LAYOUTS), label="grad_layout"))
    expected = ref("adaptive_max_pool", n_dims, "_backward")(grad_output, indices,
                                                             case.x.shape)
    backward = api("adaptive_max_pool", n_dims, "_backward")
    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.x.shape, case.x.dtype)
        assert backward(grad_output, indices, case.x.shape, out=out) is out
        grad_input = out
    else:
        grad_input = backward(grad_output, indices, case.x.shape)
    assert_same_array(grad_input, expected)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_adaptive_avg_pool_matches_reference(n_dims, data):
    case = data.draw(adaptive_cases(n_dims), label="case")
    x_before = case.x.copy()
    expected = ref("adaptive_avg_pool", n_dims)(case.x, case.output_size)
    assert expected.shape == case.out_shape
    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.out_shape, case.x.dtype)
        assert api("adaptive_avg_pool", n_dims)(case.x, case.output_size, out=out) is out
        output = out
    else:
        output = api("adaptive_avg_pool", n_dims)(case.x, case.output_size)
    assert_same_array(output, expected)
    assert_same_array(case.x, x_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_adaptive_avg_pool_backward_matches_reference(n_dims, data):
    case = data.draw(adaptive_cases(n_dims), label="case")
    grad_output = grad_like(case, data.draw(st.sampled_from(LAYOUTS), label="grad_layout"))
    if data.draw(st.booleans(), label="readonly"):
        grad_output.flags.writeable = False
    grad_before = grad_output.copy()
    input_shape = data.draw(st.sampled_from([tuple, list]), label="shape_type")(case.x.shape)
    expected = ref("adaptive_avg_pool", n_dims, "_backward")(grad_output, input_shape)
    backward = api("adaptive_avg_pool", n_dims, "_backward")
    if data.draw(st.booleans(), label="use_out"):
        out = garbage(case.x.shape, case.x.dtype)
        assert backward(grad_output, input_shape, out=out) is out
        grad_input = out
    else:
        grad_input = backward(grad_output, input_shape)
    assert_same_array(grad_input, expected)
    assert_same_array(grad_output, grad_before)


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_global_pooling_is_adaptive_pooling_to_ones(n_dims, data):
    case = data.draw(adaptive_cases(n_dims, max_spatial=40), label="case")
    ones = (1,) * n_dims
    out_shape = case.x.shape[:-n_dims] + ones
    values, indices = api("global_max_pool", n_dims)(case.x, return_indices=True)
    expected_values, expected_indices = ref("adaptive_max_pool", n_dims)(case.x, 1, True)
    assert_same_array(values, expected_values)
    assert_same_array(indices, expected_indices)
    assert_same_array(api("global_max_pool", n_dims)(case.x), expected_values)
    output = api("global_avg_pool", n_dims)(case.x)
    assert_same_array(output, ref("adaptive_avg_pool", n_dims)(case.x, ones))
    assert_same_array(api("adaptive_avg_pool", n_dims)(case.x, 1), output)
    grad = make_values(out_shape, case.x.dtype, "normal", case.seed + 2)
    assert_same_array(api("global_avg_pool", n_dims, "_backward")(grad, case.x.shape),
                      ref("adaptive_avg_pool", n_dims, "_backward")(grad, case.x.shape))
    assert_same_array(api("global_max_pool", n_dims, "_backward")(grad, indices, case.x.shape),
                      ref("adaptive_max_pool", n_dims, "_backward")(grad, indices,
                                                                    case.x.shape))


@pytest.mark.parametrize("n_dims", N_DIMS)
@given(data=st.data())
def test_adaptive_avg_backward_is_adjoint_of_forward(n_dims, data):
    """<pool(x), g> == <x, pool_backward(g)>: an oracle independent of the reference."""
    case = data.draw(adaptive_cases(n_dims, dtypes=(np.float64,),
                                    value_modes=("ties", "normal")), label="case")
    grad_output = grad_like(case)
    output = api("adaptive_avg_pool", n_dims)(case.x, case.output_size)
    grad_input = api("adaptive_avg_pool", n_dims, "_backward")(grad_output, case.x.shape)
    lhs, rhs = np.sum(output * grad_output), np.sum(case.x * grad_input)
    scale = np.sum(np.abs(output * grad_output)) + np.sum(np.abs(case.x * grad_input))
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * (1 + scale))


# --------------------------------------------------------------------------------------
# Named edge cases
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, output_size", [
    ((2, 3, 14, 14), 7), ((2, 3, 14, 14), (7, 2)), ((2, 3, 7, 5), (3, 4)),
    ((2, 3, 5, 7), (9, 11)), ((1, 2, 1, 9), (4, None)), ((2, 3, 9, 1), (None, 3)),
    ((3, 20), 6), ((3, 20), 25), ((1, 2, 3, 5, 8), (2, 3, 4)), ((1, 2, 6, 4, 9), (1, 2, 3)),
    ((1, 2, 4, 6, 8), (4, 12, 1)),
    # Uniform widths past the two-pass kernel's limits (32 output columns, 4096 row maxima):
    ((1, 2, 6, 64), (3, 32)), ((1, 1, 130, 40), (65, 40)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["ties", "normal", "special", "neg_inf"])
def test_named_shapes(shape, output_size, dtype, mode):
    n_dims = 1 if len(shape) == 2 else len(shape) - 2
    x = make_values(shape, dtype, mode, seed=len(shape) + shape[-1])
    expected = ref("adaptive_max_pool", n_dims)(x, output_size, True)
    actual = api("adaptive_max_pool", n_dims)(x, output_size, True)
    assert_same_array(actual[0], expected[0])
    assert_same_array(actual[1], expected[1])
    assert_same_array(api("adaptive_avg_pool", n_dims)(x, output_size),
                      ref("adaptive_avg_pool", n_dims)(x, output_size))
    grad = make_values(expected[0].shape, dtype, "normal", seed=1)
    assert_same_array(api("adaptive_avg_pool", n_dims, "_backward")(grad, shape),
                      ref("adaptive_avg_pool", n_dims, "_backward")(grad, shape))
    assert_same_array(api("adaptive_max_pool", n_dims, "_backward")(grad, actual[1], shape),
                      ref("adaptive_max_pool", n_dims, "_backward")(grad, actual[1], shape))


def test_worked_examples():
    """PyTorch 2.13's answers (checked against it in test_reference.py)."""
    x = np.array([[1, np.nan, 5, np.nan, 2]], dtype=np.float32)
    values, indices = cypool.adaptive_max_pool1d(x, 3, return_indices=True)
    assert np.isnan(values).all() and indices.tolist() == [[1, 3, 3]]
    values, indices = cypool.global_max_pool1d(x, return_indices=True)
    assert np.isnan(values).all() and indices.tolist() == [[3]]
    x = np.full((1, 1, 4, 4), -np.inf)
    _, indices = cypool.adaptive_max_pool2d(x, 2, return_indices=True)
    assert indices.ravel().tolist() == [0, 2, 8, 10]
    np.testing.assert_array_equal(cypool.adaptive_avg_pool1d(np.arange(1.0, 6.0)[None], 3),
                                  [[1.5, 3.0, 4.5]])


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 2, 3, 4, 5), (3, 2, 13), (1, 1, 300)])
def test_global_max_finds_a_single_peak_anywhere(shape):
    n_dims = len(shape) - 2
    plane_size = int(np.prod(shape[2:]))
    for position in range(0, plane_size, max(1, plane_size // 60)):
        x = np.zeros(shape)
        x.reshape(shape[0], shape[1], -1)[:, :, position] = 1.0
        values, indices = api("global_max_pool", n_dims)(x, return_indices=True)
        assert np.all(values == 1.0) and np.all(indices == position)
        _, indices = api("adaptive_max_pool", n_dims)(x, (1,) * (n_dims - 1) + (2,), True)
        assert position in indices


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_average_of_small_planes_in_groups(dtype):
    # Planes under one level-0 block of PyTorch's cascade (512 float32, 256 float64 values)
    # are summed eight at a time, their lane sums transposed in registers; the planes left
    # over after the groups take the single-plane loop. Values over many magnitudes make any
    # other order of the additions show.
    rng = np.random.default_rng(7)
    for plane_size in list(range(1, 70)) + [127, 128, 129, 255, 256, 257, 511, 512]:
        x = rng.standard_normal((3, 7, plane_size)) * 10.0 ** rng.integers(-5, 6, (3, 7,
                                                                                 plane_size))
        x = x.astype(dtype)
        x[0, 0] = -0.0
        expected = reference.global_avg_pool1d(x)
        for n_threads in (1, 2, 3):
            actual = cypool.global_avg_pool1d(x, n_threads=n_threads)
            np.testing.assert_array_equal(actual, expected, strict=True)
            np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))


# Forwards of many planes whose window widths vary go 32 planes at a time (the planes left
# over one by one), in strips of output rows sized to a scratch of 512 KiB per thread: 2048
# float64 or 4096 float32 pixels. The shapes take one strip or several of one or more rows, a
# last strip of fewer rows, windows that overlap, and 2 groups plus 6 planes left over.
GROUPED_SHAPES = {
    1: [((2, 35, 43), (7,)), ((1, 40, 1000), (300,)), ((1, 32, 9), (5,))],
    2: [((2, 35, 57, 43), (7, 7)), ((1, 33, 90, 130), (31, 9)), ((1, 32, 300, 70), (3, 3)),
        ((1, 32, 5, 9), (9, 4))],
    3: [((2, 35, 5, 13, 11), (3, 5, 4)), ((1, 32, 4, 60, 40), (3, 17, 6))],
}


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["ties", "normal", "special", "neg_inf", "extremes"])
def test_adaptive_forward_of_planes_in_groups(n_dims, dtype, mode):
    for shape, output_size in GROUPED_SHAPES[n_dims]:
        x = make_values(shape, dtype, mode, seed=shape[-1])
        values, indices = ref("adaptive_max_pool", n_dims)(x, output_size, True)
        average = ref("adaptive_avg_pool", n_dims)(x, output_size)
        for n_threads in (1, 2, 3):
            actual = api("adaptive_max_pool", n_dims)(x, output_size, True, n_threads=n_threads)
            assert_same_array(actual[0], values)
            assert_same_array(actual[1], indices)
            actual = api("adaptive_max_pool", n_dims)(x, output_size, True, n_threads=n_threads,
                                                      index_dtype=np.int32)
            assert_same_array(actual[1], indices.astype(np.int32))
            assert_same_array(api("adaptive_max_pool", n_dims)(x, output_size,
                                                               n_threads=n_threads), values)
            assert_same_array(api("adaptive_avg_pool", n_dims)(x, output_size,
                                                               n_threads=n_threads), average)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["ties", "normal", "special", "neg_inf", "extremes"])
def test_global_max_of_small_planes_in_groups(dtype, mode):
    # Planes under 256 elements go 32 at a time, in runs of 64 elements laid side by side;
    # the planes left over one by one. Sizes below, at and over a run, 2 groups and 6 left.
    for shape in [(2, 35, 7, 7), (1, 33, 64), (1, 32, 91), (1, 40, 255), (2, 35, 2, 3, 11)]:
        n_dims = len(shape) - 2
        x = make_values(shape, dtype, mode, seed=shape[-1])
        values, indices = ref("global_max_pool", n_dims)(x, True)
        for n_threads in (1, 2, 3):
            actual = api("global_max_pool", n_dims)(x, True, n_threads=n_threads)
            assert_same_array(actual[0], values)
            assert_same_array(actual[1], indices)
            assert_same_array(api("global_max_pool", n_dims)(x, n_threads=n_threads), values)


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_empty_batch_and_unbatched(n_dims):
    shape = (0, 3) + (5, 4, 6)[:n_dims]
    x = np.zeros(shape, dtype=np.float32)
    for name in ("adaptive_max_pool", "adaptive_avg_pool"):
        assert api(name, n_dims)(x, 2).shape == (0, 3) + (2,) * n_dims
    for name in ("global_max_pool", "global_avg_pool"):
        assert api(name, n_dims)(x).shape == (0, 3) + (1,) * n_dims
    grad = np.zeros((0, 3) + (2,) * n_dims, np.float32)
    assert api("adaptive_avg_pool", n_dims, "_backward")(grad, shape).shape == shape
    indices = np.zeros(grad.shape, np.int64)
    assert api("adaptive_max_pool", n_dims, "_backward")(grad, indices, shape).shape == shape
    x = make_values((3,) + (6, 5, 7)[:n_dims], np.float64, "normal", seed=6)
    for name in ("adaptive_max_pool", "adaptive_avg_pool"):
        assert_same_array(api(name, n_dims)(x, 3), api(name, n_dims)(x[None], 3)[0])
    for name in ("global_max_pool", "global_avg_pool"):
        assert_same_array(api(name, n_dims)(x), api(name, n_dims)(x[None])[0])


def test_out_reuse():
    """One set of buffers reused across calls: each call returns them, fully overwritten."""
    shape, out_shape = (2, 3, 14, 10), (2, 3, 7, 4)
    values_out = np.empty(out_shape, np.float32)
    indices_out = np.empty(out_shape, np.int32)
    average_out = np.empty(out_shape, np.float32)
    global_out = np.empty((2, 3, 1, 1), np.float32)
    grad_out = np.empty(shape, np.float32)
    for seed in range(3):
        x = make_values(shape, np.float32, "normal", seed)
        result = cypool.adaptive_max_pool2d(x, (7, 4), True, out=(values_out, indices_out),
                                            index_dtype=np.int32)
        assert result[0] is values_out and result[1] is indices_out
        expected = reference.adaptive_max_pool2d(x, (7, 4), True)
        assert_same_array(values_out, expected[0])
        assert_same_array(indices_out, expected[1].astype(np.int32))
        assert cypool.adaptive_avg_pool2d(x, (7, 4), out=average_out) is average_out
        assert_same_array(average_out, reference.adaptive_avg_pool2d(x, (7, 4)))
        assert cypool.global_avg_pool2d(x, out=global_out) is global_out
        assert_same_array(global_out, reference.global_avg_pool2d(x))
        assert cypool.global_max_pool2d(x, out=global_out) is global_out
        assert_same_array(global_out, reference.global_max_pool2d(x))
        grad = make_values(out_shape, np.float32, "normal", seed + 10)
        assert cypool.adaptive_avg_pool2d_backward(grad, shape, out=grad_out) is grad_out
        assert_same_array(grad_out, reference.adaptive_avg_pool2d_backward(grad, shape))
        assert cypool.adaptive_max_pool2d_backward(grad, indices_out, shape,
                                                   out=grad_out) is grad_out
        assert_same_array(grad_out, reference.adaptive_max_pool2d_backward(grad, indices_out,
                                                                           shape))


@pytest.mark.parametrize("n_dims", N_DIMS)
def test_steady_state_with_out_allocates_no_arrays(n_dims):
    # 4096 planes: the smallest result (global pooling's, 16 kB) dwarfs Python's objects.
    # (Kernels' scratch from the C heap, bounded per thread whatever the input's size, such as
    # the adaptive forward's bands of planes in groups, is not traced, and not an array.)
    shape = {1: (16, 256, 256), 2: (16, 256, 14, 14), 3: (8, 512, 4, 7, 7)}[n_dims]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    values, indices = api("adaptive_max_pool", n_dims)(x, 7, True)
    averages = api("adaptive_avg_pool", n_dims)(x, 7)
    global_values, global_indices = api("global_max_pool", n_dims)(x, True)
    global_averages = np.empty_like(global_values)
    grad_input = np.empty_like(x)
    calls = [
        lambda: api("adaptive_max_pool", n_dims)(x, 7, True, out=(values, indices)),
        lambda: api("adaptive_avg_pool", n_dims)(x, 7, out=averages),
        lambda: api("adaptive_avg_pool", n_dims, "_backward")(averages, x.shape,
                                                              out=grad_input),
        lambda: api("global_max_pool", n_dims)(x, True, out=(global_values, global_indices)),
        lambda: api("global_avg_pool", n_dims)(x, out=global_averages),
        lambda: api("global_avg_pool", n_dims, "_backward")(global_averages, x.shape,
                                                            out=grad_input),
    ]
    for call in calls:
        assert peak_traced_bytes(call, repeats=3) < global_values.nbytes // 4


# --------------------------------------------------------------------------------------
# Threads: large enough to run in parallel, few planes (split planes) and many
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, output_size", [
    ((1, 1, 1000, 999), 1), ((1, 3, 300, 301), 1), ((2, 1, 123457), 1),
    ((1, 2, 30, 40, 50), 1), ((64, 100, 7, 7), 1), ((4, 32, 14, 14), 7),
    ((1, 3, 301, 207), (9, 13)), ((1, 2, 19, 33, 27), (4, 5, 9)), ((2, 3, 40000), 999),
    ((2, 4, 80, 96), (8, 48)), ((1, 2, 12, 30, 28), (4, 6, 7)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_threads(shape, output_size, dtype):
    n_dims = 1 if len(shape) == 3 else len(shape) - 2
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 5, shape)).astype(dtype)
    x[rng.random(shape) < 1e-4] = np.nan
    ties = np.round(x)  # many equal maxima
    results = []
    for n_threads in (1, 2, 3):
        values, indices = api("adaptive_max_pool", n_dims)(ties, output_size, True,
                                                           n_threads=n_threads)
        values_only = api("adaptive_max_pool", n_dims)(x, output_size, n_threads=n_threads)
        average = api("adaptive_avg_pool", n_dims)(x, output_size, n_threads=n_threads)
        grad = np.linspace(-1, 1, average.size, dtype=dtype).reshape(average.shape)
        grad_input = api("adaptive_avg_pool", n_dims, "_backward")(grad, shape,
                                                                   n_threads=n_threads)
        results.append((values, indices, values_only, average, grad_input))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    if output_size == 1 and x.size <= 400_000:
        assert_same_array(results[0][3], ref("global_avg_pool", n_dims)(x))
        assert_same_array(results[0][1], ref("global_max_pool", n_dims)(ties, True)[1])


# --------------------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------------------

def _bad_forward_cases():
    cases = []
    for n_dims in N_DIMS:
        x = np.full((2, 3) + (6, 5, 4)[:n_dims], 0.5)
        for kind in ("max", "avg"):
            f = f"adaptive_{kind}_pool{n_dims}d"
            cases += [
                (f, (x, 0), {}, ValueError, "output_size"),
                (f, (x, -2), {}, ValueError, "output_size"),
                (f, (x, (2,) * (n_dims - 1) + (0,)), {}, ValueError, "output_size"),
                (f, (x, (2,) * (n_dims + 1)), {}, ValueError, "output_size"),
                (f, (x, 2.0), {}, TypeError, "output_size"),
                (f, (x, None), {}, TypeError, "output_size"),
                (f, (x, True), {}, TypeError, "output_size"),
                (f, (x, (2.5,) * n_dims), {}, TypeError, "output_size"),
                (f, (x, 2**50), {}, ValueError, "output_size"),
                (f, (np.zeros((2, 3) + (0,) * n_dims), 2), {}, ValueError, "input"),
                (f, (np.zeros((2, 0) + (4,) * n_dims), 2), {}, ValueError, "input"),
                (f, (np.zeros((4,) * n_dims), 2), {}, ValueError, "input"),
                (f, (np.zeros((2, 3) + (4,) * n_dims, np.int32), 2), {}, TypeError, "input"),
                (f, (x, 2), {"out": np.zeros((2, 3) + (3,) * n_dims)}, ValueError, "out"),
                (f, (x, 2), {"n_threads": 0}, ValueError, "n_threads"),
            ]
            if n_dims > 1:
                cases.append((f, (x, (2,)), {}, ValueError, "output_size"))
            g = f"global_{kind}_pool{n_dims}d"
            cases += [
                (g, (np.zeros((2, 3) + (0,) * n_dims),), {}, ValueError, "input"),
                (g, (np.zeros((2, 3) + (4,) * n_dims, np.int64),), {}, TypeError, "input"),
                (g, (x,), {"out": np.zeros((2, 3) + (2,) * n_dims)}, ValueError, "out"),
                (g, (x,), {"out": np.zeros((2, 3) + (1,) * n_dims, np.float32)}, TypeError,
                 "out"),
            ]
        cases += [
            (f"adaptive_max_pool{n_dims}d", (x, 2, True), {"out": np.zeros((2, 3) + (2,) * n_dims)},
             TypeError, "out"),
            (f"global_max_pool{n_dims}d", (x,), {"index_dtype": np.int16}, TypeError,
             "index_dtype"),
        ]
    return cases


def _bad_backward_cases():
    cases = []
    for n_dims in N_DIMS:
        input_shape = (2, 3) + (6, 5, 4)[:n_dims]
        grad = np.ones((2, 3) + (2,) * n_dims)
        ones = np.ones((2, 3) + (1,) * n_dims)
        indices = np.zeros(grad.shape, np.int64)
        plane = int(np.prod(input_shape[2:]))
        cases += [
            (f"adaptive_avg_pool{n_dims}d_backward", (grad, (3,) + input_shape[1:]), {},
             ValueError, "input_shape|grad_output"),
            (f"adaptive_avg_pool{n_dims}d_backward", (grad, input_shape + (2,)), {},
             ValueError, "input_shape"),
            (f"adaptive_avg_pool{n_dims}d_backward", (grad.astype(np.int32), input_shape), {},
             TypeError, "grad_output"),
            (f"adaptive_avg_pool{n_dims}d_backward", (grad, input_shape),
             {"out": np.zeros(input_shape, np.float32)}, TypeError, "out"),
            (f"adaptive_max_pool{n_dims}d_backward", (grad, indices + plane, input_shape), {},
             ValueError, "indices"),
            (f"adaptive_max_pool{n_dims}d_backward", (grad, indices - 1, input_shape), {},
             ValueError, "indices"),
            (f"adaptive_max_pool{n_dims}d_backward", (grad, indices[..., :1], input_shape),
             {}, ValueError, "indices"),
            (f"global_avg_pool{n_dims}d_backward", (grad, input_shape), {}, ValueError,
             "grad_output"),
            (f"global_avg_pool{n_dims}d_backward", (ones, (3,) + input_shape[1:]), {},
             ValueError, "input_shape"),
            (f"global_max_pool{n_dims}d_backward", (grad, indices, input_shape), {},
             ValueError, "grad_output"),
            (f"global_max_pool{n_dims}d_backward",
             (ones, np.full(ones.shape, plane), input_shape), {}, ValueError, "indices"),
        ]
    return cases


@pytest.mark.parametrize("function, args, kwargs, error, name",
                         _bad_forward_cases() + _bad_backward_cases(),
                         ids=lambda value: value if isinstance(value, str) else None)
def test_bad_argument(function, args, kwargs, error, name):
    before = [a.copy() for a in args if isinstance(a, np.ndarray)]
    with pytest.raises(error, match=name) as raised:
        getattr(cypool, function)(*args, **kwargs)
    assert re.search(name, str(raised.value)), str(raised.value)
    after = [a for a in args if isinstance(a, np.ndarray)]
    for array, copy in zip(after, before):
        np.testing.assert_array_equal(array, copy, strict=True)


def assert_avg_backward_matches_reference(n_dims, grad, input_shape):
    """The adaptive average backward, at 1 and 2 threads, into a reused NaN-filled buffer,
    equals the reference's."""
    expected = ref("adaptive_avg_pool", n_dims, "_backward")(grad, input_shape)
    for n_threads in (1, 2):
        out = garbage(input_shape, grad.dtype)
        result = api("adaptive_avg_pool", n_dims, "_backward")(grad, input_shape, out=out,
                                                                n_threads=n_threads)
        assert_same_array(result, expected)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_avg_backward_with_windows_that_tile(n_dims, dtype):
    """Output sizes that divide the input sizes: the backward's own path (the windows tile the
    input), with PyTorch's division per axis; gradients with subnormals, -0.0, inf and NaN
    (on subnormals, `g / kh / kw` and `g / (kh * kw)` often round differently)."""
    rng = np.random.default_rng([n_dims, np.dtype(dtype).itemsize])
    for trial in range(6):
        output_size = tuple(int(rng.integers(1, 6)) for _ in range(n_dims))
        if all(size == 1 for size in output_size):
            continue  # global pooling, another kernel
        shape = (2, 3) + tuple(size * int(rng.integers(1, 5)) for size in output_size)
        grad = make_values((2, 3) + output_size, dtype, "extremes", seed=trial)
        # Subnormal gradients, where the two rules differ most often.
        subnormals = rng.integers(1, 1000, grad.size) * np.finfo(dtype).smallest_subnormal
        grad.flat[::3] = subnormals[::3]
        assert_avg_backward_matches_reference(n_dims, grad, shape)


@pytest.mark.parametrize("n_dims", N_DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_avg_backward_of_many_planes(n_dims, dtype):
    """Odd sizes and many planes: the backward scatters plane by plane (a few planes take the
    per-row gather instead); both must give the reference's sums, in its order."""
    rng = np.random.default_rng([n_dims, np.dtype(dtype).itemsize, 7])
    for trial in range(4):
        spatial = tuple(int(rng.integers(1, 30)) for _ in range(n_dims))
        output_size = tuple(int(rng.integers(1, 12)) for _ in range(n_dims))
        for planes in [(5, 4), (1, 2)]:
            grad = make_values(planes + output_size, dtype, "normal", seed=trial)
            assert_avg_backward_matches_reference(n_dims, grad, planes + spatial)
