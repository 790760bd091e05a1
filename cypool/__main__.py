"""``python -m cypool``: build facts, a self-check against the NumPy reference, a timing table.

Exits non-zero if any op disagrees with ``cypool.reference``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

import cypool
from cypool import reference
from cypool._backend import ISA_LEVEL, ISA_REASON, kernels


def build_facts(n_threads: int) -> list[tuple[str, str]]:
    return [
        ("cypool", cypool.__version__),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("machine", f"{platform.machine()} ({platform.system()})"),
        ("ISA level", f"{ISA_LEVEL} ({ISA_REASON})"),
        ("OpenMP", "on" if kernels.OPENMP_ENABLED else "off (serial build)"),
        ("threads", str(n_threads)),
    ]


# ------------------------------------------------------------------------------ self-check

def random_case(rng: np.random.Generator, n_dims: int):
    """A small random input (with ties, NaN and -inf) and a valid window for it."""
    spatial = tuple(int(size) for size in rng.integers(2, 9, size=n_dims))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4))) + spatial
    dtype = np.float32 if rng.random() < 0.5 else np.float64
    values = rng.integers(-4, 5, size=shape).astype(dtype)
    values[rng.random(shape) < 0.03] = np.nan
    values[rng.random(shape) < 0.03] = -np.inf
    kernel = tuple(int(rng.integers(1, min(size, 4) + 1)) for size in spatial)
    window = {
        "kernel_size": kernel,
        "stride": tuple(int(rng.integers(1, 4)) for _ in spatial),
        "padding": tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel),
        "ceil_mode": bool(rng.random() < 0.5),
    }
    return values, window


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def check_case(rng: np.random.Generator, n_dims: int) -> list[str]:
    """Compare every op on one random case; return the names of the ops that differ."""
    x, window = random_case(rng, n_dims)
    failures = []
    name = f"max_pool{n_dims}d"
    values, indices = getattr(cypool, name)(x, **window, return_indices=True)
    ref_values, ref_indices = getattr(reference, name)(x, **window, return_indices=True)
    if not (same(values, ref_values) and same(indices, ref_indices)):
        failures.append(name)
    grad = rng.standard_normal(values.shape).astype(x.dtype)
    if not same(getattr(cypool, name + "_backward")(grad, indices, x.shape),
                getattr(reference, name + "_backward")(grad, indices, x.shape)):
        failures.append(name + "_backward")
    name = f"avg_pool{n_dims}d"
    options = {"count_include_pad": bool(rng.random() < 0.5),
               "divisor_override": int(rng.integers(1, 5)) if rng.random() < 0.25 else None}
    result = getattr(cypool, name)(x, **window, **options)
    if not same(result, getattr(reference, name)(x, **window, **options)):
        failures.append(name)
    grad = rng.standard_normal(result.shape).astype(x.dtype)
    if not same(getattr(cypool, name + "_backward")(grad, x.shape, **window, **options),
                getattr(reference, name + "_backward")(grad, x.shape, **window, **options)):
        failures.append(name + "_backward")
    failures += check_adaptive_case(rng, x, n_dims)
    return failures


def check_adaptive_case(rng: np.random.Generator, x: np.ndarray, n_dims: int) -> list[str]:
    """Adaptive (to a random size, smaller or larger than the input) and global ops on x."""
    failures = []
    output_size = tuple(int(rng.integers(1, size + 3)) for size in x.shape[2:])
    for prefix, size in (("adaptive", (output_size,)), ("global", ())):
        name = f"{prefix}_max_pool{n_dims}d"
        values, indices = getattr(cypool, name)(x, *size, return_indices=True)
        ref_values, ref_indices = getattr(reference, name)(x, *size, return_indices=True)
        if not (same(values, ref_values) and same(indices, ref_indices)):
            failures.append(name)
        grad = rng.standard_normal(values.shape).astype(x.dtype)
        if not same(getattr(cypool, name + "_backward")(grad, indices, x.shape),
                    getattr(reference, name + "_backward")(grad, indices, x.shape)):
            failures.append(name + "_backward")
        name = f"{prefix}_avg_pool{n_dims}d"
        if not same(getattr(cypool, name)(x, *size), getattr(reference, name)(x, *size)):
            failures.append(name)
        if not same(getattr(cypool, name + "_backward")(grad, x.shape),
                    getattr(reference, name + "_backward")(grad, x.shape)):
            failures.append(name + "_backward")
    return failures


# Ops that check_case covers per spatial dimension.
CHECKED_OPS = 20


def self_check(cases_per_dim: int, seed: int = 2026) -> int:
    rng = np.random.default_rng(seed)
    failures: dict[str, int] = {}
    for n_dims in (1, 2, 3):
        for _ in range(cases_per_dim):
            for name in check_case(rng, n_dims):
                failures[name] = failures.get(name, 0) + 1
    total = 3 * cases_per_dim
    if failures:
        for name, count in sorted(failures.items()):
            print(f"  FAIL {name}: {count} of {cases_per_dim} cases differ from the reference")
    else:
        print(f"  ok: {CHECKED_OPS} ops x {total // 3} random cases per dim agree with "
              f"cypool.reference")
    return len(failures)


# ------------------------------------------------------------------------------ timing

def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def timing_table(batch: int, repeats: int, n_threads: int) -> None:
    """A ResNet-stem-like workload: 3x3 windows, stride 2, padding 1, float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 64, 112, 112)).astype(np.float32)
    window = {"kernel_size": 3, "stride": 2, "padding": 1}
    values, indices = cypool.max_pool2d(x, **window, return_indices=True)
    grad = rng.standard_normal(values.shape).astype(np.float32)
    threads = {"n_threads": n_threads}
    workload = [
        ("max_pool2d 3/2/1 + indices",
         lambda: cypool.max_pool2d(x, **window, return_indices=True, **threads),
         lambda: reference.max_pool2d(x, **window, return_indices=True)),
        ("max_pool2d_backward",
         lambda: cypool.max_pool2d_backward(grad, indices, x.shape, **threads),
         lambda: reference.max_pool2d_backward(grad, indices, x.shape)),
        ("avg_pool2d 3/2/1",
         lambda: cypool.avg_pool2d(x, **window, **threads),
         lambda: reference.avg_pool2d(x, **window)),
        ("avg_pool2d_backward",
         lambda: cypool.avg_pool2d_backward(grad, x.shape, **window, **threads),
         lambda: reference.avg_pool2d_backward(grad, x.shape, **window)),
    ]
    print(f"\nTiming: input {x.shape} float32 ({x.nbytes / 1e6:.0f} MB), {n_threads} thread(s); "
          f"median of {repeats} runs for cypool, one run for the reference")
    print(f"  {'op':<28} {'cypool ms':>10} {'reference ms':>13} {'speed-up':>9}")
    for name, fast, slow in workload:
        fast_seconds = median_seconds(fast, repeats)
        slow_seconds = median_seconds(slow, 1)
        print(f"  {name:<28} {fast_seconds * 1e3:>10.2f} {slow_seconds * 1e3:>13.1f} "
              f"{slow_seconds / fast_seconds:>8.1f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cypool",
        description="Report cypool's build, check every op against the NumPy reference, "
                    "and time a ResNet-stem-like workload.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer self-check cases and a smaller timing batch")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the timing (default: OpenMP's maximum)")
    args = parser.parse_args(argv)
    n_threads = args.threads or kernels.openmp_max_threads()
    for label, value in build_facts(n_threads):
        print(f"{label + ':':<11} {value}")
    print("\nSelf-check against cypool.reference:")
    failed = self_check(cases_per_dim=10 if args.quick else 40)
    timing_table(batch=2 if args.quick else 8, repeats=3 if args.quick else 7,
                 n_threads=n_threads)
    if failed:
        print(f"\nself-check FAILED for {failed} op(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
