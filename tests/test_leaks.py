"""No leaks: resident memory stays flat over thousands of calls of every op, including calls
that raise (the error paths free what they allocated before raising).

Linux only (it reads ``/proc/self/statm``). Each call's result is at least 16 KiB, so leaking
even one result per call would grow the process by far more than the allowed slack.
"""

import gc
import os

import numpy as np
import pytest

import cypool

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="reads /proc/self/statm (Linux)")

CALLS_PER_OP = 500
WARM_UP_CALLS = 100
SLACK_BYTES = 2 * 2**20   # one leaked 16 KiB result per call would be 8 MiB

RNG = np.random.default_rng(0)
SHAPES = {1: (4, 8, 256), 2: (4, 8, 16, 16), 3: (2, 8, 8, 8, 8)}   # 8192 elements each
# Output: one more per spatial axis than the input. One thread: an OpenMP team on a loaded
# 2-core machine can take milliseconds to gather; the 2-d calls include one on two threads.
WINDOW = {"kernel_size": 2, "stride": 1, "padding": 1, "n_threads": 1}
BACKWARD = {"n_threads": 1}


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def op_calls(n_dims):
    """(label, call) for every op of ``n_dims``, successful and failing."""
    x = RNG.standard_normal(SHAPES[n_dims])
    max_pool = getattr(cypool, f"max_pool{n_dims}d")
    avg_pool = getattr(cypool, f"avg_pool{n_dims}d")
    max_backward = getattr(cypool, f"max_pool{n_dims}d_backward")
    avg_backward = getattr(cypool, f"avg_pool{n_dims}d_backward")
    values, indices = max_pool(x, **WINDOW, return_indices=True)
    bad_indices = indices.copy()
    bad_indices.reshape(-1)[-1] = -1          # found by the kernel, after the gradient is made
    out = np.empty_like(x)

    def fails(error, function, *args, **kwargs):
        def call():
            try:
                function(*args, **kwargs)
            except error:
                return
            raise AssertionError("no error")
        return call

    two_threads = {**WINDOW, "n_threads": 2}
    parallel = [("max_two_threads", lambda: max_pool(x, **two_threads, return_indices=True))]
    return parallel * (n_dims == 2) + [
        ("max_with_indices", lambda: max_pool(x, **WINDOW, return_indices=True)),
        ("max_int32_indices", lambda: max_pool(x, **WINDOW, return_indices=True,
                                               index_dtype=np.int32)),
        ("max_values", lambda: max_pool(x, **WINDOW)),
        ("max_fortran_input", lambda: max_pool(np.asfortranarray(x), **WINDOW)),
        ("max_backward", lambda: max_backward(values, indices, x.shape, **BACKWARD)),
        ("max_backward_out", lambda: max_backward(values, indices, x.shape, out=out,
                                                  **BACKWARD)),
        ("avg", lambda: avg_pool(x, **WINDOW, count_include_pad=False)),
        ("avg_backward", lambda: avg_backward(values, x.shape, **WINDOW)),
        ("avg_backward_out", lambda: avg_backward(values, x.shape, **WINDOW, out=out)),
        ("error_indices_out_of_range", fails(ValueError, max_backward, values, bad_indices,
                                             x.shape, **BACKWARD)),
        ("error_dtype", fails(TypeError, max_pool, x.astype(np.complex64), 2)),
        ("error_ragged", fails(ValueError, avg_pool, [[1.0], [1.0, 2.0]], 2)),
        ("error_out_shape", fails(ValueError, avg_pool, x, **WINDOW, out=out[:1])),
        ("error_padding", fails(ValueError, max_pool, x, 2, 1, 2)),
        ("error_grad_shape", fails(ValueError, avg_backward, values[:1], x.shape, 2)),
    ]


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_resident_memory_stays_flat(n_dims):
    calls = op_calls(n_dims)
    for _ in range(WARM_UP_CALLS):
        for _, call in calls:
            call()
    gc.collect()
    growth = {}
    for label, call in calls:
        before = resident_bytes()
        for _ in range(CALLS_PER_OP):
            call()
        gc.collect()
        growth[label] = resident_bytes() - before
    assert sum(growth.values()) < SLACK_BYTES, {k: v for k, v in growth.items() if v}
