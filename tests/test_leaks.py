"""No leaks: resident memory stays flat over thousands of calls of every op (window, adaptive,
global and fractional pooling, unpool), including calls that raise (the error paths free what they
allocated before raising).

Linux only (it reads ``/proc/self/statm``). Each call's result, or for global pooling forward
its copy of the input, is at least 16 KiB, so leaking even one per call would grow the process
by far more than the allowed slack.
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
    adaptive_max = getattr(cypool, f"adaptive_max_pool{n_dims}d")
    adaptive_avg = getattr(cypool, f"adaptive_avg_pool{n_dims}d")
    adaptive_max_backward = getattr(cypool, f"adaptive_max_pool{n_dims}d_backward")
    adaptive_avg_backward = getattr(cypool, f"adaptive_avg_pool{n_dims}d_backward")
    global_max = getattr(cypool, f"global_max_pool{n_dims}d")
    global_avg = getattr(cypool, f"global_avg_pool{n_dims}d")
    global_max_backward = getattr(cypool, f"global_max_pool{n_dims}d_backward")
    global_avg_backward = getattr(cypool, f"global_avg_pool{n_dims}d_backward")
    unpool = getattr(cypool, f"max_unpool{n_dims}d")
    values, indices = max_pool(x, **WINDOW, return_indices=True)
    bad_indices = indices.copy()
    bad_indices.reshape(-1)[-1] = -1          # found by the kernel, after the gradient is made
    out = np.empty_like(x)
    # Adaptive: the input size, one more on the last axis (a None entry keeps an axis).
    output_size = (None,) * (n_dims - 1) + (x.shape[-1] + 1,)
    adaptive_values, adaptive_indices = adaptive_max(x, output_size, True, **BACKWARD)
    global_values, global_indices = global_max(x, True, **BACKWARD)
    bad_adaptive_indices = adaptive_indices.copy()
    bad_adaptive_indices.reshape(-1)[-1] = x[0, 0].size
    # Global forwards return one value per plane: a Fortran-order input makes them copy the
    # whole input, which a leak of that copy would show.
    fortran_x = np.asfortranarray(x)

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
        ("adaptive_max_with_indices", lambda: adaptive_max(x, output_size, True, **BACKWARD)),
        ("adaptive_max_values", lambda: adaptive_max(x, output_size, **BACKWARD)),
        ("adaptive_avg", lambda: adaptive_avg(x, output_size, **BACKWARD)),
        ("adaptive_max_backward", lambda: adaptive_max_backward(
            adaptive_values, adaptive_indices, x.shape, **BACKWARD)),
        ("adaptive_avg_backward", lambda: adaptive_avg_backward(adaptive_values, x.shape,
                                                                **BACKWARD)),
        ("global_max_fortran_input", lambda: global_max(fortran_x, True, **BACKWARD)),
        ("global_avg_fortran_input", lambda: global_avg(fortran_x, **BACKWARD)),
        ("global_max_backward", lambda: global_max_backward(global_values, global_indices,
                                                            x.shape, **BACKWARD)),
        ("global_avg_backward", lambda: global_avg_backward(global_values, x.shape,
                                                            **BACKWARD)),
        # Window 2, stride 1, padding 1 unpools the values back to the input's size.
        ("unpool", lambda: unpool(values, indices, 2, 1, 1, **BACKWARD)),
        ("unpool_out", lambda: unpool(values, indices, 2, 1, 1, out=out, **BACKWARD)),
        ("error_adaptive_output_size", fails(ValueError, adaptive_avg, x, 0)),
        ("error_adaptive_indices_out_of_range", fails(
            ValueError, adaptive_max_backward, adaptive_values, bad_adaptive_indices, x.shape,
            **BACKWARD)),
        ("error_global_grad_shape", fails(ValueError, global_avg_backward, values, x.shape)),
        ("error_unpool_indices_out_of_range", fails(ValueError, unpool, values, bad_indices * 0
                                                    + x[0, 0].size, 2, 1, 1, **BACKWARD)),
        ("error_unpool_output_size", fails(ValueError, unpool, values, indices, 2, 1, 1,
                                           (1,) * n_dims)),
    ] + fractional_calls(n_dims, x, fails)


def fractional_calls(n_dims, x, fails):
    """(label, call) for fractional max pooling (2-d and 3-d), successful and failing."""
    if n_dims == 1:
        return []
    forward = getattr(cypool, f"fractional_max_pool{n_dims}d")
    backward = getattr(cypool, f"fractional_max_pool{n_dims}d_backward")
    samples = RNG.random(x.shape[:2] + (n_dims,))
    values, indices = forward(x, 2, output_ratio=0.5, return_indices=True,
                              _random_samples=samples)
    return [
        ("fractional_with_indices", lambda: forward(x, 2, output_ratio=0.5,
                                                    return_indices=True, random_state=1)),
        ("fractional_values", lambda: forward(x, 2, output_ratio=0.5, _random_samples=samples)),
        ("fractional_backward", lambda: backward(values, indices, x.shape, **BACKWARD)),
        ("error_fractional_samples", fails(ValueError, forward, x, 2, output_ratio=0.5,
                                           _random_samples=samples + 1)),
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
