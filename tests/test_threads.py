"""Thread count: who sets it (the call, set_num_threads, OpenMP). Determinism across thread
counts is in test_concurrency.py."""

import pytest
from child_python import run_python

import cypool
from cypool._backend import kernels
from cypool._threads import PARALLEL_THRESHOLD, n_threads_for


def test_set_num_threads_checks_its_argument():
    for bad, error in ((0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError)):
        with pytest.raises(error, match="n_threads"):
            cypool.set_num_threads(bad)


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


def python_output(code, **environment):
    completed = run_python(["-c", code], env=environment, capture_output=True, text=True,
                           check=True)
    return completed.stdout.strip()


needs_openmp = pytest.mark.skipif(not kernels.OPENMP_ENABLED, reason="serial build")


@needs_openmp
def test_omp_num_threads_sets_the_default():
    assert python_output("import cypool; print(cypool.get_num_threads())",
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
    assert python_output(code, OMP_NUM_THREADS="") == "True"
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert cypool.get_num_threads() == 1
    assert cypool.get_num_threads() == kernels.openmp_max_threads()
