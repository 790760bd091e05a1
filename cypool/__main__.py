"""``python -m cypool``: build facts, a self-check against the NumPy reference, a timing table.

The timing table puts cypool beside the NumPy reference and, when it is importable, PyTorch's
CPU op on the same input with the same thread count. ``--json`` prints all of it as one JSON
document. Exits non-zero if any op disagrees with ``cypool.reference``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np

import cypool
from cypool import reference
from cypool._backend import ISA_LEVEL, ISA_REASON, built_levels, kernels, supported_levels


def openmp_runtime() -> str | None:
    """Path of the OpenMP runtime library loaded in this process (Linux), else None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if len(line.split()) >= 6}
    except OSError:
        return None
    names = ("libgomp", "libomp", "libiomp")
    found = sorted(path for path in paths if os.path.basename(path).startswith(names))
    return found[0] if found else None


def build_facts(n_threads: int) -> dict:
    return {
        "cypool": cypool.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{platform.machine()} ({platform.system()})",
        "isa_level": ISA_LEVEL,
        "isa_reason": ISA_REASON,
        "isa_levels_built": built_levels(),
        "isa_levels_supported": supported_levels(),
        "openmp": bool(kernels.OPENMP_ENABLED),
        "openmp_runtime": openmp_runtime() if kernels.OPENMP_ENABLED else None,
        "threads": n_threads,
    }


def print_facts(facts: dict) -> None:
    if facts["openmp"]:
        openmp = f"on, runtime {facts['openmp_runtime'] or 'not found in this process'}"
    else:
        openmp = "off (serial build)"
    rows = [
        ("cypool", facts["cypool"]), ("python", facts["python"]), ("numpy", facts["numpy"]),
        ("machine", facts["machine"]),
        ("ISA level", f"{facts['isa_level']} ({facts['isa_reason']}; "
                      f"built: {', '.join(facts['isa_levels_built'])})"),
        ("OpenMP", openmp),
        ("threads", f"{facts['threads']} (cypool.get_num_threads(); set with --threads, "
                    f"OMP_NUM_THREADS or cypool.set_num_threads)"),
    ]
    for label, value in rows:
        print(f"{label + ':':<11} {value}")


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout (the report, or the JSON) stays clean."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ self-check

def random_case(rng: np.random.Generator, n_dims: int):
    """A small random input (with ties, NaN and -inf) and a valid window for it."""
    spatial = tuple(int(size) for size in rng.integers(2, 9, size=n_dims))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4))) + spatial
    dtype = np.float32 if rng.random() < 0.5 else np.float64
    values = rng.integers(-4, 5, size=shape).astype(dtype)
    values[rng.random(shape) < 0.03] = np.nan
    values[rng.random(shape) < 0.03] = -np.inf
    if rng.random() < 0.5:  # channels-last memory: the channels-last kernels
        values = channels_last_copy(values)
    kernel = tuple(int(rng.integers(1, min(size, 4) + 1)) for size in spatial)
    window = {
        "kernel_size": kernel,
        "stride": tuple(int(rng.integers(1, 4)) for _ in spatial),
        "padding": tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel),
        "ceil_mode": bool(rng.random() < 0.5),
    }
    return values, window


def channels_last_copy(array: np.ndarray) -> np.ndarray:
    """``array`` (N, C, *spatial) stored with its channel axis innermost."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(array, 1, -1)), -1, 1)


def gradient_like(rng: np.random.Generator, x: np.ndarray, shape) -> np.ndarray:
    """A random gradient of ``shape`` in ``x``'s dtype and memory layout."""
    grad = rng.standard_normal(shape).astype(x.dtype)
    return grad if x.flags.c_contiguous else channels_last_copy(grad)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def check_case(rng: np.random.Generator, n_dims: int) -> dict[str, bool]:
    """Compare every op on one random case: {op name: agrees with the reference}."""
    x, window = random_case(rng, n_dims)
    agrees = {}
    name = f"max_pool{n_dims}d"
    values, indices = getattr(cypool, name)(x, **window, return_indices=True)
    ref_values, ref_indices = getattr(reference, name)(x, **window, return_indices=True)
    agrees[name] = same(values, ref_values) and same(indices, ref_indices)
    grad = gradient_like(rng, x, values.shape)
    agrees[name + "_backward"] = same(
        getattr(cypool, name + "_backward")(grad, indices, x.shape),
        getattr(reference, name + "_backward")(grad, indices, x.shape))
    name = f"avg_pool{n_dims}d"
    options = {"count_include_pad": bool(rng.random() < 0.5),
               "divisor_override": int(rng.integers(1, 5)) if rng.random() < 0.25 else None}
    result = getattr(cypool, name)(x, **window, **options)
    agrees[name] = same(result, getattr(reference, name)(x, **window, **options))
    grad = gradient_like(rng, x, result.shape)
    agrees[name + "_backward"] = same(
        getattr(cypool, name + "_backward")(grad, x.shape, **window, **options),
        getattr(reference, name + "_backward")(grad, x.shape, **window, **options))
    agrees.update(check_adaptive_case(rng, x, n_dims))
    if n_dims > 1:
        agrees.update(check_fractional_case(rng, x, n_dims))
    return agrees


def check_adaptive_case(rng: np.random.Generator, x: np.ndarray, n_dims: int) -> dict[str, bool]:
    """Adaptive (to a random size, smaller or larger than the input) and global ops on x."""
    agrees = {}
    output_size = tuple(int(rng.integers(1, size + 3)) for size in x.shape[2:])
    for prefix, size in (("adaptive", (output_size,)), ("global", ())):
        name = f"{prefix}_max_pool{n_dims}d"
        values, indices = getattr(cypool, name)(x, *size, return_indices=True)
        ref_values, ref_indices = getattr(reference, name)(x, *size, return_indices=True)
        agrees[name] = same(values, ref_values) and same(indices, ref_indices)
        grad = rng.standard_normal(values.shape).astype(x.dtype)
        agrees[name + "_backward"] = same(
            getattr(cypool, name + "_backward")(grad, indices, x.shape),
            getattr(reference, name + "_backward")(grad, indices, x.shape))
        name = f"{prefix}_avg_pool{n_dims}d"
        agrees[name] = same(getattr(cypool, name)(x, *size), getattr(reference, name)(x, *size))
        agrees[name + "_backward"] = same(
            getattr(cypool, name + "_backward")(grad, x.shape),
            getattr(reference, name + "_backward")(grad, x.shape))
    return agrees


def check_fractional_case(rng: np.random.Generator, x: np.ndarray,
                          n_dims: int) -> dict[str, bool]:
    """Fractional max pooling of x with random samples, kernel and output sizes (3-d needs
    one more input element per axis than 2-d, as in PyTorch)."""
    extra = n_dims - 2
    kernel = tuple(int(rng.integers(1, min(size - extra, 3) + 1)) for size in x.shape[2:])
    output_size = tuple(int(rng.integers(1, size - k + 2 - extra))
                        for size, k in zip(x.shape[2:], kernel))
    samples = rng.random(x.shape[:2] + (n_dims,)).astype(x.dtype)
    name = f"fractional_max_pool{n_dims}d"
    values, indices = getattr(cypool, name)(x, kernel, output_size, return_indices=True,
                                            _random_samples=samples)
    ref_values, ref_indices = getattr(reference, name)(x, kernel, output_size,
                                                       return_indices=True,
                                                       _random_samples=samples)
    grad = rng.standard_normal(values.shape).astype(x.dtype)
    return {
        name: same(values, ref_values) and same(indices, ref_indices),
        name + "_backward": same(getattr(cypool, name + "_backward")(grad, indices, x.shape),
                                 getattr(reference, name + "_backward")(grad, indices,
                                                                        x.shape)),
    }


def self_check(cases_per_dim: int, seed: int = 2026) -> dict[str, int]:
    """Failures per op name (0 for an op that agreed on every case)."""
    rng = np.random.default_rng(seed)
    failures: dict[str, int] = {}
    for n_dims in (1, 2, 3):
        progress(f"self-check: {cases_per_dim} random {n_dims}-d cases")
        for _ in range(cases_per_dim):
            for name, ok in check_case(rng, n_dims).items():
                failures[name] = failures.get(name, 0) + (not ok)
    return failures


def print_self_check(failures: dict[str, int], cases_per_dim: int) -> None:
    failed = {name: count for name, count in failures.items() if count}
    for name, count in sorted(failed.items()):
        print(f"  FAIL {name}: {count} of {cases_per_dim} cases differ from the reference")
    if not failed:
        print(f"  ok: {len(failures)} ops x {cases_per_dim} random cases per dim agree with "
              f"cypool.reference")


# ------------------------------------------------------------------------------ timing

def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def torch_workload(x, grad, window, n_threads):
    """PyTorch's CPU ops on the same arrays, keyed like the cypool workload, or {} without
    torch. PyTorch is only a peer to measure against: cypool never needs it."""
    if importlib.util.find_spec("torch") is None:
        return {}
    torch = importlib.import_module("torch")  # a peer to measure against, never a dependency

    torch.set_num_threads(n_threads)
    t, g = torch.from_numpy(x), torch.from_numpy(grad)
    k, s, p = (window[key] for key in ("kernel_size", "stride", "padding"))
    _, t_indices = torch.nn.functional.max_pool2d(t, k, s, p, return_indices=True)
    aten = torch.ops.aten
    return {
        "max_pool2d": lambda: torch.nn.functional.max_pool2d(t, k, s, p, return_indices=True),
        "max_pool2d_backward": lambda: aten.max_pool2d_with_indices_backward(
            g, t, [k, k], [s, s], [p, p], [1, 1], False, t_indices),
        "avg_pool2d": lambda: torch.nn.functional.avg_pool2d(t, k, s, p),
        "avg_pool2d_backward": lambda: aten.avg_pool2d_backward(
            g, t, [k, k], [s, s], [p, p], False, True, None),
    }


def timing(batch: int, repeats: int, n_threads: int) -> dict:
    """A ResNet-stem-like workload (3x3 windows, stride 2, padding 1, float32): medians in ms
    for cypool and PyTorch (if importable), one run of the NumPy reference."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 64, 112, 112)).astype(np.float32)
    window: dict[str, Any] = {"kernel_size": 3, "stride": 2, "padding": 1}
    values, indices = cypool.max_pool2d(x, **window, return_indices=True)
    grad = rng.standard_normal(values.shape).astype(np.float32)
    threads: dict[str, Any] = {"n_threads": n_threads}
    workload = {
        "max_pool2d": (
            lambda: cypool.max_pool2d(x, **window, return_indices=True, **threads),
            lambda: reference.max_pool2d(x, **window, return_indices=True)),
        "max_pool2d_backward": (
            lambda: cypool.max_pool2d_backward(grad, indices, x.shape, **threads),
            lambda: reference.max_pool2d_backward(grad, indices, x.shape)),
        "avg_pool2d": (
            lambda: cypool.avg_pool2d(x, **window, **threads),
            lambda: reference.avg_pool2d(x, **window)),
        "avg_pool2d_backward": (
            lambda: cypool.avg_pool2d_backward(grad, x.shape, **window, **threads),
            lambda: reference.avg_pool2d_backward(grad, x.shape, **window)),
    }
    peer = torch_workload(x, grad, window, n_threads)
    rows = []
    for step, (name, (fast, slow)) in enumerate(workload.items(), 1):
        progress(f"timing {step}/{len(workload)}: {name}")
        row = {"op": name, "cypool_ms": median_seconds(fast, repeats) * 1e3,
               "reference_ms": median_seconds(slow, 1) * 1e3}
        if name in peer:
            row["torch_ms"] = median_seconds(peer[name], repeats) * 1e3
        rows.append(row)
    return {"input_shape": list(x.shape), "dtype": "float32", "window": window,
            "threads": n_threads, "repeats": repeats, "torch": bool(peer), "rows": rows}


def print_timing(result: dict) -> None:
    megabytes = np.prod(result["input_shape"]) * 4 / 1e6
    print(f"\nTiming: input {tuple(result['input_shape'])} float32 ({megabytes:.0f} MB), "
          f"3x3 windows, stride 2, padding 1, {result['threads']} thread(s); median of "
          f"{result['repeats']} runs (the reference: one run)")
    header = f"  {'op':<20} {'cypool ms':>10} {'reference ms':>13} {'speed-up':>9}"
    if result["torch"]:
        header += f" {'torch ms':>9} {'vs torch':>9}"
    print(header)
    for row in result["rows"]:
        line = (f"  {row['op']:<20} {row['cypool_ms']:>10.2f} {row['reference_ms']:>13.1f} "
                f"{row['reference_ms'] / row['cypool_ms']:>8.1f}x")
        if "torch_ms" in row:
            line += f" {row['torch_ms']:>9.2f} {row['torch_ms'] / row['cypool_ms']:>8.1f}x"
        print(line)
    if not result["torch"]:
        print("  (PyTorch is not installed: no torch column)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cypool",
        description="Report cypool's build (version, ISA level and why, OpenMP runtime, "
                    "threads), check every op against the NumPy reference, and time a "
                    "ResNet-stem-like workload against the reference and, if installed, "
                    "PyTorch. Exits with status 1 if any op disagrees with the reference.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer self-check cases and a smaller timing batch")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads for the timing (default: cypool.get_num_threads())")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document instead of the text report")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be a positive int")
    n_threads = args.threads or cypool.get_num_threads()
    cases_per_dim = 10 if args.quick else 40
    facts = build_facts(n_threads)
    if not args.json:
        print_facts(facts)
    failures = self_check(cases_per_dim)
    if not args.json:
        print("\nSelf-check against cypool.reference:")
        print_self_check(failures, cases_per_dim)
    timings = timing(batch=2 if args.quick else 8, repeats=3 if args.quick else 7,
                     n_threads=n_threads)
    failed = sorted(name for name, count in failures.items() if count)
    if args.json:
        report = {**facts, "self_check": {"cases_per_dim": cases_per_dim,
                                           "failures": failures, "ok": not failed},
                  "timing": timings}
        print(json.dumps(report, indent=2))
    else:
        print_timing(timings)
        if failed:
            print(f"\nself-check FAILED for {len(failed)} op(s): {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
