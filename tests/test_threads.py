"""Thread count: who sets it, and results that do not depend on it."""

import os
import subprocess
import sys

import numpy as np
import pytest

import cypool
from cypool._backend import kernels
from cypool._threads import PARALLEL_THRESHOLD, n_threads_for

CASES = [
    # (n spatial dims, input shape, window)
    (1, (2, 3, 40_000), {"kernel_size": 5, "stride": 3, "padding": 2, "ceil_mode": True}),
    (2, (1, 3, 301, 207), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1)}),
    (2, (4, 8, 64, 64), {"kernel_size": 2}),
    (3, (1, 2, 19, 33, 27), {"kernel_size": (3, 2, 3), "stride": (2, 2, 1), "padding": 1,
                             "ceil_mode": True}),
]


def bits(array):
    return array.view(np.uint8)


@pytest.mark.parametrize("n_dims, shape, window", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_is_bit_identical_for_one_and_two_threads(n_dims, shape, window, dtype):
    rng = np.random.default_rng(7)
    x = rng.integers(-20, 20, size=shape).astype(dtype)  # many ties
    x[rng.random(shape) < 0.01] = np.nan
    assert x.size > PARALLEL_THRESHOLD  # else both calls would run on one thread
    max_pool = getattr(cypool, f"max_pool{n_dims}d")
    avg_pool = getattr(cypool, f"avg_pool{n_dims}d")
    results = []
    for n_threads in (1, 2):
        values, indices = max_pool(x, **window, return_indices=True, n_threads=n_threads)
        grad = np.linspace(-1, 1, values.size, dtype=dtype).reshape(values.shape)
        max_grad = getattr(cypool, f"max_pool{n_dims}d_backward")(
            grad, indices, shape, n_threads=n_threads)
        avg = avg_pool(x, **window, n_threads=n_threads)
        avg_grad = getattr(cypool, f"avg_pool{n_dims}d_backward")(
            grad, shape, **window, n_threads=n_threads)
        results.append((values, indices, max_grad, avg, avg_grad))
    for one_thread, two_threads in zip(*results):
        np.testing.assert_array_equal(bits(one_thread), bits(two_threads))


def test_n_threads_is_checked():
    for bad, error in ((0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError)):
        with pytest.raises(error, match="n_threads"):
            cypool.set_num_threads(bad)
    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="n_threads"):
        cypool.max_pool2d(x, 2, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        cypool.avg_pool2d(x, 2, n_threads=1.5)


@pytest.fixture
def restore_num_threads():
    yield
    cypool.set_num_threads(None)


def test_default_follows_openmp_until_set(restore_num_threads):
    assert cypool.get_num_threads() == kernels.openmp_max_threads()
    cypool.set_num_threads(3)
    assert cypool.get_num_threads() == 3
    assert n_threads_for(None, PARALLEL_THRESHOLD) == 3
    assert n_threads_for(2, PARALLEL_THRESHOLD) == 2  # a call's own n_threads comes first
    assert n_threads_for(None, PARALLEL_THRESHOLD - 1) == 1  # small work: one thread
    cypool.set_num_threads(None)
    assert cypool.get_num_threads() == kernels.openmp_max_threads()


def run_python(code, **environment):
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env={**os.environ, **environment}, check=True)
    return completed.stdout.strip()


needs_openmp = pytest.mark.skipif(not kernels.OPENMP_ENABLED, reason="serial build")


@needs_openmp
def test_omp_num_threads_sets_the_default():
    assert run_python("import cypool; print(cypool.get_num_threads())",
                      OMP_NUM_THREADS="3") == "3"


@needs_openmp
def test_threadpoolctl_sees_and_limits_cypool():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    # In a fresh process: importing cypool brings an OpenMP runtime that threadpoolctl lists.
    code = (
        "import threadpoolctl\n"
        "def openmp():\n"
        "    return [i['filepath'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'openmp']\n"
        "before = openmp()\n"
        "import cypool\n"
        "print(len(openmp()) > len(before))\n"
    )
    assert run_python(code, OMP_NUM_THREADS="") == "True"
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert cypool.get_num_threads() == 1
    assert cypool.get_num_threads() == kernels.openmp_max_threads()
