"""Determinism and thread safety.

- Every op (window, adaptive, global and fractional pooling, unpool) gives bit-identical
  results for any
  ``n_threads`` and on every repeat, with inputs large enough that the parallel path runs
  (``PARALLEL_THRESHOLD``).
- Many Python threads calling every op at once on shared inputs get what serial calls get.
- The kernels release the GIL: another Python thread keeps running while one runs.
"""

import concurrent.futures
import functools
import math
import sys
import threading
import time

import numpy as np
import pytest

import cypool
from cypool._threads import PARALLEL_THRESHOLD

CASES = [
    # (n spatial dims, input shape, window)
    (1, (2, 3, 40_000), {"kernel_size": 5, "stride": 3, "padding": 2, "ceil_mode": True}),
    (2, (1, 3, 301, 207), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1)}),
    (2, (4, 8, 64, 64), {"kernel_size": 2}),
    (3, (1, 2, 19, 33, 27), {"kernel_size": (3, 2, 3), "stride": (2, 2, 1), "padding": 1,
                             "ceil_mode": True}),
]
CASE_IDS = ["1d", "2d_odd", "2d_k2", "3d"]
THREAD_COUNTS = (1, 2, 3, 8)


def make_input(shape, dtype):
    rng = np.random.default_rng(7)
    x = rng.integers(-20, 20, size=shape).astype(dtype)  # many ties
    x[rng.random(shape) < 0.01] = np.nan
    x.flags.writeable = False  # shared by every call below: none may write it
    return x


def make_gradient(shape, dtype):
    # Continuous values: float sums would show a change of order.
    gradient = np.random.default_rng(8).standard_normal(shape).astype(dtype)
    gradient.flags.writeable = False
    return gradient


@functools.lru_cache(maxsize=None)
def continuous_input(shape, dtype):
    """A NaN-free input of continuous values for adaptive and global averages, shared by every
    call: the integers of ``make_input`` sum exactly in any order (and its NaNs make every
    global average NaN), which would hide a change of summation order."""
    return make_gradient(shape, dtype)


def unpool_window(n_dims, shape, pooled_shape, window):
    """Unpool arguments that give back the pooled input's spatial size: the window's stride and
    padding, and per axis the kernel size making unpool's default size L (it is not the
    window's kernel size where the pooling dropped the input's end)."""
    stride = np.broadcast_to(window.get("stride", window["kernel_size"]), (n_dims,))
    padding = np.broadcast_to(window.get("padding", 0), (n_dims,))
    kernel = tuple(int(length + 2 * p - (pooled - 1) * s) for length, pooled, s, p in zip(
        shape[-n_dims:], pooled_shape[-n_dims:], stride, padding))
    return {"kernel_size": kernel, "stride": tuple(int(s) for s in stride),
            "padding": tuple(int(p) for p in padding)}


def run_every_op(n_dims, x, window, gradient, n_threads):
    """Every op on one problem: {name: result}. The adaptive ops pool to the window's output
    size (so they take the same gradient); the global backwards take a corner of it."""
    shape = x.shape
    max_pool = getattr(cypool, f"max_pool{n_dims}d")
    avg_pool = getattr(cypool, f"avg_pool{n_dims}d")
    values, indices = max_pool(x, **window, return_indices=True, n_threads=n_threads)
    output_size = gradient.shape[-n_dims:]
    adaptive_values, adaptive_indices = getattr(cypool, f"adaptive_max_pool{n_dims}d")(
        x, output_size, True, n_threads=n_threads)
    global_values, global_indices = getattr(cypool, f"global_max_pool{n_dims}d")(
        x, True, n_threads=n_threads)
    global_gradient = gradient[(Ellipsis,) + (slice(0, 1),) * n_dims]
    return fractional_ops(n_dims, x, n_threads) | {
        "max values": values,
        "max indices": indices,
        "max values only": max_pool(x, **window, n_threads=n_threads),
        "max backward": getattr(cypool, f"max_pool{n_dims}d_backward")(
            gradient, indices, shape, n_threads=n_threads),
        "avg": avg_pool(x, **window, n_threads=n_threads),
        "avg backward": getattr(cypool, f"avg_pool{n_dims}d_backward")(
            gradient, shape, **window, n_threads=n_threads),
        "adaptive max values": adaptive_values,
        "adaptive max indices": adaptive_indices,
        "adaptive max values only": getattr(cypool, f"adaptive_max_pool{n_dims}d")(
            x, output_size, n_threads=n_threads),
        "adaptive max backward": getattr(cypool, f"adaptive_max_pool{n_dims}d_backward")(
            gradient, adaptive_indices, shape, n_threads=n_threads),
        "adaptive avg": getattr(cypool, f"adaptive_avg_pool{n_dims}d")(
            continuous_input(shape, x.dtype), output_size, n_threads=n_threads),
        "adaptive avg backward": getattr(cypool, f"adaptive_avg_pool{n_dims}d_backward")(
            gradient, shape, n_threads=n_threads),
        "global max values": global_values,
        "global max indices": global_indices,
        "global avg": getattr(cypool, f"global_avg_pool{n_dims}d")(
            continuous_input(shape, x.dtype), n_threads=n_threads),
        "global max backward": getattr(cypool, f"global_max_pool{n_dims}d_backward")(
            global_gradient, global_indices, shape, n_threads=n_threads),
        "global avg backward": getattr(cypool, f"global_avg_pool{n_dims}d_backward")(
            global_gradient, shape, n_threads=n_threads),
        "max unpool": getattr(cypool, f"max_unpool{n_dims}d")(
            values, indices, **unpool_window(n_dims, shape, values.shape, window),
            n_threads=n_threads),
    }


def fractional_ops(n_dims, x, n_threads):
    """Fractional max pooling (2-d and 3-d) to half the input size, with fixed samples."""
    if n_dims == 1:
        return {}
    forward = getattr(cypool, f"fractional_max_pool{n_dims}d")
    output_size = tuple(length // 2 for length in x.shape[-n_dims:])
    samples = np.random.default_rng(9).random(x.shape[:2] + (n_dims,)).astype(x.dtype)
    values, indices = forward(x, 2, output_size, return_indices=True, _random_samples=samples,
                              n_threads=n_threads)
    return {
        "fractional max values": values,
        "fractional max indices": indices,
        "fractional max values only": forward(x, 2, output_size, _random_samples=samples,
                                              n_threads=n_threads),
        "fractional max backward": getattr(cypool, f"fractional_max_pool{n_dims}d_backward")(
            make_gradient(values.shape, x.dtype), indices, x.shape, n_threads=n_threads),
    }


def assert_bit_identical(results, expected):
    assert results.keys() == expected.keys()
    for name in expected:
        assert results[name].dtype == expected[name].dtype, name
        assert results[name].shape == expected[name].shape, name
        assert results[name].tobytes() == expected[name].tobytes(), name


def problem(n_dims, shape, window, dtype):
    x = make_input(shape, dtype)
    values = getattr(cypool, f"max_pool{n_dims}d")(x, **window, n_threads=1)
    # Every op must have enough work to run in parallel, else the thread counts are not tested.
    window_volume = math.prod(np.broadcast_to(window["kernel_size"], (n_dims,)))
    assert values.size * window_volume >= PARALLEL_THRESHOLD  # forwards, avg backward
    assert x.size >= PARALLEL_THRESHOLD                       # the others
    return x, make_gradient(values.shape, dtype)


@pytest.mark.parametrize("n_dims, shape, window", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_is_bit_identical_for_every_thread_count_and_repeat(n_dims, shape, window,
                                                                      dtype):
    x, gradient = problem(n_dims, shape, window, dtype)
    expected = run_every_op(n_dims, x, window, gradient, n_threads=1)
    for n_threads in THREAD_COUNTS:
        for _ in range(2):
            assert_bit_identical(run_every_op(n_dims, x, window, gradient, n_threads),
                                 expected)


@pytest.mark.parametrize("n_threads", [2**31, 2**63])
def test_thread_counts_past_a_c_int_are_capped(n_threads):
    """The kernels take a C int: a huge n_threads is capped (to four per CPU), not overflowed
    or turned into a huge OpenMP team."""
    n_dims, shape, window = CASES[2]
    x, gradient = problem(n_dims, shape, window, np.float32)
    assert_bit_identical(run_every_op(n_dims, x, window, gradient, n_threads),
                         run_every_op(n_dims, x, window, gradient, n_threads=1))


def test_many_python_threads_at_once_get_the_serial_results():
    problems = []
    for (n_dims, shape, window), dtype in zip(CASES * 2, [np.float32] * 4 + [np.float64] * 4):
        x, gradient = problem(n_dims, shape, window, dtype)
        problems.append((n_dims, x, window, gradient))
    expected = [run_every_op(*p, n_threads=1) for p in problems]
    copies = [(x.copy(), gradient.copy()) for _, x, _, gradient in problems]

    # Every problem several times, interleaved, with OpenMP teams inside some of the calls.
    tasks = [(i, n_threads) for _ in range(3) for n_threads in (1, 2)
             for i in range(len(problems))]
    start = threading.Barrier(8)

    def task(i, n_threads):
        try:
            start.wait(timeout=5)  # calls start in groups of eight, together
        except threading.BrokenBarrierError:
            pass
        return i, run_every_op(*problems[i], n_threads=n_threads)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(task, i, n_threads) for i, n_threads in tasks]
        for future in concurrent.futures.as_completed(futures):
            i, results = future.result()
            assert_bit_identical(results, expected[i])
    for (_, x, _, gradient), (x_copy, gradient_copy) in zip(problems, copies):
        assert x.tobytes() == x_copy.tobytes() and gradient.tobytes() == gradient_copy.tobytes()


def count_until(event):
    """Loop iterations of this thread until ``event`` is set."""
    count = 0
    while not event.is_set():
        count += 1
    return count


def test_kernels_release_the_gil():
    """While one Python thread runs a long kernel (one OpenMP thread), another keeps running
    Python code.

    Measured against itself in the same run, not against a fixed time: the main thread counts
    loop iterations for as long as the kernel takes, first alone (a timer ends the loop), then
    while the kernel runs in another thread. Were the GIL held, it would run only until the
    kernel took the GIL (one switch interval, 5 ms): a few percent of the run (with a
    GIL-holding ``re.search`` of similar length swapped in for the kernel, 1-12% was measured).
    Released, it runs the whole time at whatever share of a CPU the machine gives it (33-120%
    measured on this 2-core machine with a build running). Load can starve it: retried.
    """
    # A kernel of at least 0.2 s (40 switch intervals): more planes until it takes that long.
    for n_planes in (2, 4, 8, 16, 32):
        x = np.random.default_rng(0).standard_normal((n_planes, 512, 1024))

        def kernel():
            cypool.avg_pool2d(x, 7, stride=1, padding=3, n_threads=1)

        started = time.perf_counter()
        kernel()
        kernel_seconds = time.perf_counter() - started
        if kernel_seconds > 40 * sys.getswitchinterval():
            break

    shares, best_rate = [], 0.0
    for _ in range(5):
        # The loop's speed alone; the best seen so far is the least disturbed by other load.
        timer_done = threading.Event()
        threading.Timer(kernel_seconds, timer_done.set).start()
        best_rate = max(best_rate, count_until(timer_done) / kernel_seconds)

        kernel_done = threading.Event()
        worker = threading.Thread(target=lambda: (kernel(), kernel_done.set()))
        started = time.perf_counter()
        worker.start()
        beside_kernel = count_until(kernel_done)
        worker.join()
        elapsed = time.perf_counter() - started
        # The share of the kernel's run during which this thread ran Python code.
        shares.append(beside_kernel / (best_rate * elapsed))
        if shares[-1] > 0.3:
            return
    rounded = [round(share, 3) for share in shares]
    pytest.fail(f"another Python thread barely ran while a kernel ran: shares {rounded}")
