"""Side-by-side speed of cypool and PyTorch's CPU pooling on the asv cases, as a Markdown table.

    python asv_bench/compare_torch.py [--repeats 9] [--cases resnet_stem,vgg_block]

``--cases`` also takes the tiny inputs of CALL_COST_CASES (call_cost_max, ...), which are not
in the default list.

Both libraries run in this one process with the same thread count (1, then 2), in rounds of
one PyTorch call and one cypool call back to back (which goes first alternates). A shared
machine has slow spells (here, spells of 0.1 to 1 s in which the same call takes up to twice
as long); a round is short enough to sit in one spell, so its ratio cancels the spell. Times
are the medians over ``--repeats`` rounds; ``ratio`` is the median of the rounds' PyTorch time
over cypool's. Repeated calls find small inputs in cache, as a loop over batches would. For
forwards with k == s (no window overlap) ``floor`` is the share of the memory floor reached:
(bytes read + bytes written) / copy bandwidth / cypool's median time, with the bandwidth of
``np.copyto`` (a median, measured once per thread count: a copy in every round would evict the
inputs from cache). Needs torch (a peer, not a dependency).
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

import cypool

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmarks"))
from cases import (  # noqa: E402
    ADAPTIVE_CASES,
    CASES,
    case_spec,
    make_adaptive_case,
    make_case,
    torch_adaptive_backward,
    torch_backward,
)


def seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def copy_bandwidth(repeats):
    source = np.ones(1 << 26, dtype=np.float32)
    target = np.empty_like(source)
    return 2 * source.nbytes / np.median(
        [seconds(lambda: np.copyto(target, source)) for _ in range(repeats)])


def rounds(theirs, ours, repeats):
    """Median PyTorch and cypool times (ms) and the median of the rounds' ratios."""
    theirs()
    ours()
    theirs_s, ours_s = [], []
    for round_ in range(repeats):
        if round_ % 2:
            ours_s.append(seconds(ours))
            theirs_s.append(seconds(theirs))
        else:
            theirs_s.append(seconds(theirs))
            ours_s.append(seconds(ours))
    theirs_s, ours_s = np.array(theirs_s), np.array(ours_s)
    return 1e3 * np.median(theirs_s), 1e3 * np.median(ours_s), np.median(theirs_s / ours_s)


def ops(name, threads):
    """(label, cypool call, torch call, bytes moved by the forward or None) per measured op."""
    kind, _, k, s, _, _ = case_spec(name)
    # A forward's floor needs windows apart; a call-cost case's time is its fixed cost.
    has_floor = k == s and name in CASES
    x, n, window, extra = make_case(name)
    t = torch.from_numpy(x)
    forward = getattr(cypool, f"{kind}_pool{n}d")
    backward = getattr(cypool, f"{kind}_pool{n}d_backward")
    torch_forward = getattr(torch.nn.functional, f"{kind}_pool{n}d")
    if kind == "max":
        values, indices = forward(x, **window, **extra, return_indices=True)
        _, torch_indices = torch_forward(t, **window, **extra, return_indices=True)
        grad = np.ones_like(values)
        return [
            ("max fwd+idx",
             lambda: forward(x, **window, **extra, return_indices=True, n_threads=threads),
             lambda: torch_forward(t, **window, **extra, return_indices=True),
             x.nbytes + values.nbytes + indices.nbytes if has_floor else None),
            ("max bwd", lambda: backward(grad, indices, x.shape, n_threads=threads),
             torch_backward(torch, kind, t, torch.from_numpy(grad), torch_indices, n, window,
                            extra), None),
        ]
    result = forward(x, **window, **extra)
    grad = np.ones_like(result)
    return [
        ("avg fwd", lambda: forward(x, **window, **extra, n_threads=threads),
         lambda: torch_forward(t, **window, **extra),
         x.nbytes + result.nbytes if has_floor else None),
        ("avg bwd", lambda: backward(grad, x.shape, **window, **extra, n_threads=threads),
         torch_backward(torch, kind, t, torch.from_numpy(grad), None, n, window, extra), None),
    ]


def adaptive_ops(name, threads):
    """As ``ops`` for an adaptive case: cypool's adaptive op, or its global op for output
    size 1, against PyTorch's adaptive op (and the backward its autograd runs)."""
    x, n, output_size = make_adaptive_case(name)
    t = torch.from_numpy(x)
    if output_size == 1:
        prefix, size = "global", ()
    else:
        prefix, size = "adaptive", (output_size,)
    max_forward = getattr(cypool, f"{prefix}_max_pool{n}d")
    avg_forward = getattr(cypool, f"{prefix}_avg_pool{n}d")
    torch_max = getattr(torch.nn.functional, f"adaptive_max_pool{n}d")
    torch_avg = getattr(torch.nn.functional, f"adaptive_avg_pool{n}d")
    values, indices = max_forward(x, *size, return_indices=True)
    _, torch_indices = torch_max(t, output_size, return_indices=True)
    grad = np.ones_like(values)
    torch_grad = torch.from_numpy(grad)
    max_backward = getattr(cypool, f"{prefix}_max_pool{n}d_backward")
    avg_backward = getattr(cypool, f"{prefix}_avg_pool{n}d_backward")
    return [
        ("max fwd+idx", lambda: max_forward(x, *size, return_indices=True, n_threads=threads),
         lambda: torch_max(t, output_size, return_indices=True), None),
        ("max bwd", lambda: max_backward(grad, indices, x.shape, n_threads=threads),
         torch_adaptive_backward(torch, "max", t, torch_grad, torch_indices, n, output_size),
         None),
        ("avg fwd", lambda: avg_forward(x, *size, n_threads=threads),
         lambda: torch_avg(t, output_size), None),
        ("avg bwd", lambda: avg_backward(grad, x.shape, n_threads=threads),
         torch_adaptive_backward(torch, "avg", t, torch_grad, None, n, output_size), None),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cases", default=",".join(list(CASES) + list(ADAPTIVE_CASES)))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, numpy {np.__version__}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| case | op | threads | PyTorch ms | cypool ms | ratio | floor |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        bandwidth = copy_bandwidth(args.repeats)
        for name in args.cases.split(","):
            case_ops = adaptive_ops if name in ADAPTIVE_CASES else ops
            for label, ours, theirs, moved in case_ops(name, threads):
                theirs_ms, ours_ms, ratio = rounds(theirs, ours, args.repeats)
                floor = f"{100 * moved / bandwidth / (ours_ms / 1e3):.0f}%" if moved else ""
                print(f"| {name} | {label} | {threads} | {theirs_ms:.2f} | {ours_ms:.2f} | "
                      f"{ratio:.1f}x | {floor} |", flush=True)
        print(f"| copy bandwidth | np.copyto | {threads} | | | | {bandwidth / 1e9:.1f} GB/s |")


if __name__ == "__main__":
    main()
