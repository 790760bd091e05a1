"""cypool.dask against in-memory cypool: bit for bit (NaNs, zero signs and indices included)
for random shapes, window arguments and chunkings along every axis (spatial chunks not
aligned to the stride, chunks smaller than a window), forward and backward, 1/2/3-d; lazy;
the in-memory errors when the graph is built; and on a distributed LocalCluster with two
worker processes. Skipped without the ``dask`` extra."""

import inspect
import os
import pathlib

import numpy as np
import pytest
from child_python import run_python
from hypothesis import given, settings
from hypothesis import strategies as st

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import cypool  # noqa: E402
import cypool.dask as cypool_dask  # noqa: E402
from strategies import adaptive_cases, assert_same_array, make_values, pool_cases  # noqa: E402

N_DIMS = [1, 2, 3]
# Each example builds and computes a few graphs: a third of the profile's examples keeps the
# file well under a minute with the default profile.
EXAMPLES = settings(max_examples=max(10, settings.default.max_examples // 3))


@st.composite
def chunks_for(draw, shape):
    """Random chunks along every axis: up to four cuts anywhere (so spatial chunks may be
    smaller than a window and need not follow the stride)."""
    chunks = []
    for length in shape:
        cuts = draw(st.sets(st.integers(1, length - 1), max_size=4)) if length > 1 else set()
        bounds = [0, *sorted(cuts), length]
        chunks.append(tuple(int(b - a) for a, b in zip(bounds, bounds[1:])))
    return tuple(chunks)


def lazy(data, array):
    return da.from_array(array, chunks=data.draw(chunks_for(array.shape)))


def compute(*arrays):
    return dask.compute(*arrays, scheduler="sync")


def memory(name, n_dims, suffix=""):
    return getattr(cypool, f"{name}{n_dims}d{suffix}")


def lazily(name, n_dims, suffix=""):
    return getattr(cypool_dask, f"{name}{n_dims}d{suffix}")


def gradient_for(shape, dtype, seed):
    return make_values(shape, dtype, "normal", seed)


def maybe_chunks(data, shape):
    """``chunks=`` of a backward: not given, or random."""
    return data.draw(st.one_of(st.none(), chunks_for(shape)))


# ---------------------------------------------------------------------------------------------
# Equal to in-memory results


def check_max_pool(data, case, gradient_dtype=None):
    n_dims, x = case.n_dims, case.x
    before = x.copy()
    values, indices = lazily("max_pool", n_dims)(lazy(data, x), **case.kwargs,
                                                 return_indices=True)
    expected_values, expected_indices = memory("max_pool", n_dims)(x, **case.kwargs,
                                                                   return_indices=True)
    grad = gradient_for(expected_values.shape, gradient_dtype or x.dtype, case.seed)
    grad_input = lazily("max_pool", n_dims, "_backward")(
        lazy(data, grad), indices, x.shape, chunks=maybe_chunks(data, x.shape))
    got = compute(values, indices, grad_input)
    assert_same_array(got[0], expected_values)
    assert_same_array(got[1], expected_indices)
    assert_same_array(got[2], memory("max_pool", n_dims, "_backward")(grad, expected_indices,
                                                                        x.shape))
    np.testing.assert_array_equal(x, before, strict=True)


def check_avg_pool(data, case):
    n_dims, x = case.n_dims, case.x
    before = x.copy()
    result = lazily("avg_pool", n_dims)(lazy(data, x), **case.kwargs)
    expected = memory("avg_pool", n_dims)(x, **case.kwargs)
    grad = gradient_for(expected.shape, x.dtype, case.seed)
    grad_input = lazily("avg_pool", n_dims, "_backward")(
        lazy(data, grad), x.shape, **case.kwargs, chunks=maybe_chunks(data, x.shape))
    got = compute(result, grad_input)
    assert_same_array(got[0], expected)
    assert_same_array(got[1], memory("avg_pool", n_dims, "_backward")(grad, x.shape,
                                                                        **case.kwargs))
    np.testing.assert_array_equal(x, before, strict=True)


@pytest.mark.parametrize("n_dims", N_DIMS)
@EXAMPLES
@given(data=st.data())
def test_max_pool_forward_and_backward_equal_memory(n_dims, data):
    check_max_pool(data, data.draw(pool_cases(n_dims, "max", max_spatial=12)))


@pytest.mark.parametrize("n_dims", N_DIMS)
@EXAMPLES
@given(data=st.data())
def test_avg_pool_forward_and_backward_equal_memory(n_dims, data):
    check_avg_pool(data, data.draw(pool_cases(n_dims, "avg", max_spatial=12)))


@pytest.mark.parametrize("n_dims", N_DIMS)
@settings(max_examples=max(5, settings.default.max_examples // 10))
@given(data=st.data())
def test_float16_and_integer_inputs_equal_memory(n_dims, data):
    check_max_pool(data, data.draw(pool_cases(n_dims, "max", dtypes=(np.float16,))))
    check_avg_pool(data, data.draw(pool_cases(n_dims, "avg", dtypes=(np.float16,))))
    integer_case = data.draw(pool_cases(n_dims, "max", dtypes=(np.uint8, np.int32),
                                        value_modes=("ties",)))
    check_max_pool(data, integer_case, gradient_dtype=np.float32)


@pytest.mark.parametrize("n_dims", N_DIMS)
@EXAMPLES
@given(data=st.data())
def test_adaptive_and_global_pooling_equal_memory(n_dims, data):
    case = data.draw(adaptive_cases(n_dims, dtypes=(np.float16, np.float32, np.float64)))
    x, size = case.x, case.output_size
    array = lazy(data, x)
    chunks = maybe_chunks(data, x.shape)
    values, indices = lazily("adaptive_max_pool", n_dims)(array, size, return_indices=True)
    expected_values, expected_indices = memory("adaptive_max_pool", n_dims)(
        x, size, return_indices=True)
    average = lazily("adaptive_avg_pool", n_dims)(array, size)
    expected_average = memory("adaptive_avg_pool", n_dims)(x, size)
    grad = lazy(data, gradient_for(expected_values.shape, x.dtype, case.seed))
    global_values, global_indices = lazily("global_max_pool", n_dims)(array, True)
    global_grad = lazy(data, gradient_for(global_values.shape, x.dtype, case.seed))
    got = compute(
        values, indices, average,
        lazily("adaptive_max_pool", n_dims, "_backward")(grad, indices, x.shape,
                                                         chunks=chunks),
        lazily("adaptive_avg_pool", n_dims, "_backward")(grad, x.shape, chunks=chunks),
        global_values, global_indices, lazily("global_avg_pool", n_dims)(array),
        lazily("global_max_pool", n_dims, "_backward")(global_grad, global_indices, x.shape,
                                                       chunks=chunks),
        lazily("global_avg_pool", n_dims, "_backward")(global_grad, x.shape, chunks=chunks),
        grad, global_grad)
    grad, global_grad = got[-2:]
    expected_global = memory("global_max_pool", n_dims)(x, True)
    expected = [
        expected_values, expected_indices, expected_average,
        memory("adaptive_max_pool", n_dims, "_backward")(grad, expected_indices, x.shape),
        memory("adaptive_avg_pool", n_dims, "_backward")(grad, x.shape),
        *expected_global, memory("global_avg_pool", n_dims)(x),
        memory("global_max_pool", n_dims, "_backward")(global_grad, expected_global[1],
                                                       x.shape),
        memory("global_avg_pool", n_dims, "_backward")(global_grad, x.shape),
    ]
    for actual, wanted in zip(got, expected):
        assert_same_array(actual, wanted)


def test_halo_spans_several_chunks_and_chunks_follow_the_input():
    # Chunks of 1 and 2 elements under a dilated window of span 7: a block's halo reaches
    # across several chunks. Output chunks start at the first window of each input chunk.
    x = np.random.default_rng(3).standard_normal((1, 2, 23)).astype(np.float32)
    array = da.from_array(x, chunks=(1, 1, (1, 2, 1, 1, 5, 2, 11)))
    values, indices = cypool_dask.max_pool1d(array, 3, 2, 1, 3, True, return_indices=True)
    assert values.chunks[:2] == ((1,), (1, 1))
    # Input bounds 1, 3, 4, 5, 10, 12 -> first windows starting there: ceil((b + 1) / 2).
    assert values.chunks[2] == (1, 1, 1, 3, 1, 3)
    got = compute(values, indices)
    expected = cypool.max_pool1d(x, 3, 2, 1, 3, True, return_indices=True)
    assert_same_array(got[0], expected[0])
    assert_same_array(got[1], expected[1])


def test_unbatched_and_empty_batch():
    rng = np.random.default_rng(4)
    for shape in [(3, 7, 6), (0, 3, 7, 6)]:
        x = rng.standard_normal(shape)
        array = da.from_array(x, chunks=(1,) * (len(shape) - 2) + (3, 4))
        assert_same_array(cypool_dask.avg_pool2d(array, 3, 2, 1).compute(),
                          cypool.avg_pool2d(x, 3, 2, 1))


# ---------------------------------------------------------------------------------------------
# Graphs: lazy, and each block reads only its neighbourhood


def test_nothing_is_computed_until_asked():
    calls = []

    def counted(block):
        calls.append(block.shape)
        return block

    x = np.random.default_rng(5).standard_normal((2, 3, 12, 10)).astype(np.float32)
    array = da.from_array(x, chunks=(1, 2, 5, 4)).map_blocks(counted, meta=x[:0, :0, :0, :0])
    values, indices = cypool_dask.max_pool2d(array, 3, 2, 1, return_indices=True)
    average = cypool_dask.avg_pool2d(array, 3, 2, 1)
    backward = [cypool_dask.max_pool2d_backward(values, indices, x.shape),
                cypool_dask.avg_pool2d_backward(average, x.shape, 3, 2, 1),
                cypool_dask.adaptive_avg_pool2d(array, 4),
                cypool_dask.global_max_pool2d(array)]
    assert calls == []
    compute(values, indices, average, *backward)
    assert calls


def test_each_output_block_reads_only_the_chunks_its_windows_reach():
    x = np.arange(200, dtype=np.float32).reshape(1, 1, 200)
    array = da.from_array(x, chunks=(1, 1, 10))
    result = cypool_dask.max_pool1d(array, 3, stride=2, padding=1)
    layer = result.dask.layers[result.name]
    assert len(layer) == result.numblocks[-1]  # one task per output block, halo included
    graph = dict(result.dask)
    inputs = {key for key in graph if key[0] == array.name}
    for key in layer:
        reached = dask.core.get_dependencies(graph, key) & inputs
        assert 1 <= len(reached) <= 2, (key, reached)  # its chunk and the next one's start


def test_import_cypool_does_not_import_dask():
    code = "import sys, cypool; assert 'dask' not in sys.modules, 'dask was imported'"
    run_python(["-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# Errors: those of the in-memory functions, when the graph is built

X = np.zeros((1, 2, 6, 6), np.float32)
GRAD = np.zeros((1, 2, 3, 3), np.float32)
INDICES = np.zeros((1, 2, 3, 3), np.int64)

BAD_CALLS = [
    ("max_pool2d", (X.astype(bool), 2), {}),
    ("max_pool2d", (X, 2), {"padding": 2}),
    ("max_pool2d", (X, 7), {}),
    ("max_pool2d", (X, "2"), {}),
    ("max_pool2d", (X, 2), {"index_dtype": np.float32}),
    ("max_pool2d", (X, 2), {"n_threads": 0}),
    ("max_pool3d", (X[0], 2), {}),
    ("max_pool1d", (np.zeros((1, 1, 1)), 2), {"padding": 1, "dilation": 2}),
    ("avg_pool2d", (X.astype(np.int32), 2), {}),
    ("avg_pool2d", (X, 2), {"divisor_override": 0}),
    ("avg_pool2d", (X, 2), {"count_include_pad": "yes"}),
    ("avg_pool2d_backward", (GRAD, (1, 2, 9, 9), 2), {}),
    ("avg_pool2d_backward", (GRAD, (1, 2, -6, 6), 2), {}),
    ("max_pool2d_backward", (GRAD, INDICES[..., :2], X.shape), {}),
    ("max_pool2d_backward", (GRAD, INDICES.astype(np.float32), X.shape), {}),
    ("max_pool2d_backward", (GRAD, INDICES, (2, 2, 6, 6)), {}),
    ("adaptive_max_pool2d", (X.astype(np.int32), 2), {}),
    ("adaptive_avg_pool2d", (X, 0), {}),
    ("adaptive_avg_pool2d", (X, (2, 2, 2)), {}),
    ("adaptive_avg_pool2d_backward", (GRAD, (1, 3, 6, 6)), {}),
    ("global_max_pool2d_backward", (GRAD, INDICES, X.shape), {}),
    ("global_avg_pool2d_backward", (GRAD[..., :1, :1], (1, 2, 6)), {}),
]


@pytest.mark.parametrize("name, arguments, keywords", BAD_CALLS,
                         ids=[f"{name}-{index}" for index, (name, _, _)
                              in enumerate(BAD_CALLS)])
def test_bad_arguments_raise_the_in_memory_error_when_the_graph_is_built(name, arguments,
                                                                           keywords):
    with pytest.raises((TypeError, ValueError)) as in_memory:
        getattr(cypool, name)(*arguments, **keywords)
    lazy_arguments = [da.from_array(a, chunks=1) if isinstance(a, np.ndarray) else a
                      for a in arguments]
    with pytest.raises(in_memory.type) as lazy_error:
        getattr(cypool_dask, name)(*lazy_arguments, **keywords)
    assert str(lazy_error.value) == str(in_memory.value)


def test_dask_only_bad_arguments():
    signal = da.arange(8.0, chunks=3)
    signal = signal[signal > 2]  # boolean indexing: unknown chunk sizes
    with pytest.raises(ValueError, match="input has unknown chunk sizes"):
        cypool_dask.max_pool1d(da.stack([signal, signal]), 2)
    with pytest.raises(ValueError, match="chunks must be chunks for input_shape"):
        cypool_dask.avg_pool2d_backward(GRAD, X.shape, 2, chunks=((1,), (2,), (3, 2), (6,)))


def test_an_index_outside_the_plane_raises_when_computed():
    indices = INDICES.copy()
    indices[0, 1, 2, 2] = 36
    grad = cypool_dask.max_pool2d_backward(da.from_array(GRAD, chunks=1), indices, X.shape)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 36\)"):
        grad.compute(scheduler="sync")


# ---------------------------------------------------------------------------------------------
# Documentation and coverage of the API


def test_every_pooling_function_of_cypool_has_a_lazy_twin():
    families = ("max_pool", "avg_pool", "adaptive_", "global_")
    expected = sorted(name for name in cypool.__all__ if name.startswith(families))
    assert cypool_dask.__all__ == expected


@pytest.mark.parametrize("name", cypool_dask.__all__)
def test_public_function_has_a_docstring_with_an_example(name):
    function = getattr(cypool_dask, name)
    doc = inspect.getdoc(function)
    assert "Parameters\n----------" in doc and "Examples\n--------" in doc and ">>>" in doc
    assert function.__name__ == name
    memory_parameters = set(inspect.signature(getattr(cypool, name)).parameters)
    # The same arguments, without ``out=`` (a lazy result has no buffer) and with ``chunks=``
    # for the backwards.
    lazy_parameters = set(inspect.signature(function).parameters)
    assert lazy_parameters == memory_parameters - {"out"} | (
        {"chunks"} if name.endswith("_backward") else set())


# ---------------------------------------------------------------------------------------------
# A distributed cluster with two worker processes


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as connected:
            yield connected


def test_local_cluster_with_two_worker_processes(client):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 37, 29)).astype(np.float32)
    array = da.from_array(x, chunks=(1, 2, 10, 7))
    values, indices = cypool_dask.max_pool2d(array, 3, 2, 1, return_indices=True)
    average = cypool_dask.avg_pool2d(array, (3, 2), 2, 1, True, False)
    grad = da.from_array(rng.standard_normal(values.shape).astype(np.float32), chunks=4)
    futures = client.compute([
        values, indices, average,
        cypool_dask.max_pool2d_backward(grad, indices, x.shape),
        cypool_dask.avg_pool2d_backward(average, x.shape, (3, 2), 2, 1, True, False,
                                        chunks=(2, 1, 9, 8)),
        cypool_dask.adaptive_avg_pool2d(array, (5, 4)),
    ])
    got = client.gather(futures)
    expected_values, expected_indices = cypool.max_pool2d(x, 3, 2, 1, return_indices=True)
    expected_average = cypool.avg_pool2d(x, (3, 2), 2, 1, True, False)
    expected = [expected_values, expected_indices, expected_average,
                cypool.max_pool2d_backward(grad.compute(), expected_indices, x.shape),
                cypool.avg_pool2d_backward(expected_average, x.shape, (3, 2), 2, 1, True,
                                           False),
                cypool.adaptive_avg_pool2d(x, (5, 4))]
    for actual, wanted in zip(got, expected):
        assert_same_array(actual, wanted)
    # Both worker processes ran tasks, each in a process other than this one.
    executed = client.run(lambda dask_worker: (dask_worker.state.executed_count, os.getpid()))
    assert len(executed) == 2
    assert all(count > 0 and pid != os.getpid() for count, pid in executed.values())


# ---------------------------------------------------------------------------------------------
# The README's out-of-core example, small


def test_out_of_core_example_runs_and_matches_memory(tmp_path):
    pytest.importorskip("zarr")
    script = pathlib.Path(__file__).resolve().parent.parent / "examples" / "dask_out_of_core.py"
    completed = run_python(
        [str(script), str(tmp_path), "--shape", "2,3,301,257", "--chunks", "1,2,64,50",
         "--check-planes", "6"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = dict(line.split(": ", 1) for line in completed.stdout.splitlines())
    assert report["output_shape"] == "[2, 3, 151, 129]"
    assert report["equal_to_in_memory"] == "true"
