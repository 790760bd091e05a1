"""The shapes cypool is measured on, in one place (float32 NCHW unless said).

Each case: (pool kind, input shape, kernel_size, stride, padding, extra keyword arguments).
The first six are the public targets of the speed issue; the rest cover odd sizes, 1-d and
3-d, float64, ceil_mode, overlapping stride 1 and count_include_pad=False.
"""

import numpy as np

CASES = {
    "resnet_stem": ("max", (32, 64, 112, 112), 3, 2, 1, {}),
    "vgg_block": ("max", (32, 128, 56, 56), 2, 2, 0, {}),
    "small_batch": ("max", (1, 64, 56, 56), 2, 2, 0, {}),
    "big_image": ("max", (1, 3, 2048, 2048), 2, 2, 0, {}),
    "densenet_transition": ("avg", (32, 256, 28, 28), 2, 2, 0, {}),
    "resnet_stem_avg": ("avg", (32, 64, 112, 112), 3, 2, 1, {}),
    "odd_ceil_max": ("max", (16, 64, 57, 43), 3, 2, 1, {"ceil_mode": True}),
    "overlap_s1_max": ("max", (8, 64, 64, 64), 3, 1, 1, {}),
    "float64_max": ("max", (16, 64, 56, 56), 2, 2, 0, {"dtype": np.float64}),
    "signal_1d_max": ("max", (32, 64, 4096), 4, 4, 0, {}),
    "volume_3d_max": ("max", (4, 32, 32, 64, 64), 2, 2, 0, {}),
    "no_pad_count_avg": ("avg", (32, 64, 112, 112), 3, 2, 1, {"count_include_pad": False}),
    "odd_ceil_avg": ("avg", (16, 64, 57, 43), 3, 2, 1, {"ceil_mode": True}),
    "float64_avg": ("avg", (16, 64, 56, 56), 2, 2, 0, {"dtype": np.float64}),
    "volume_3d_avg": ("avg", (4, 32, 32, 64, 64), 2, 2, 0, {}),
    # Channels-last memory (NHWC arrays viewed as NCHW), pooled in place; N = 1 is the case
    # PyTorch's channels-last backward runs on one thread.
    "resnet_stem_cl": ("max", (32, 64, 112, 112), 3, 2, 1, {"channels_last": True}),
    "small_batch_cl": ("max", (1, 64, 56, 56), 2, 2, 0, {"channels_last": True}),
    "image_3x3_cl": ("max", (1, 64, 112, 112), 3, 2, 1, {"channels_last": True}),
    "densenet_transition_cl": ("avg", (32, 256, 28, 28), 2, 2, 0, {"channels_last": True}),
    "image_avg_cl": ("avg", (1, 64, 112, 112), 3, 2, 1, {"channels_last": True}),
    "volume_3d_cl": ("max", (2, 32, 16, 32, 32), 2, 2, 0, {"channels_last": True}),
}

MAX_CASES = [name for name, case in CASES.items() if case[0] == "max"]
AVG_CASES = [name for name, case in CASES.items() if case[0] == "avg"]
THREADS = [1, 2]

# Inputs so small that a call's fixed cost (argument checks, views, output allocation, kernel
# dispatch) is nearly all of its time: they track that cost, not the kernels, and stay out of
# MAX_CASES and AVG_CASES, whose speed targets are for real workloads.
CALL_COST_CASES = {
    "call_cost_max": ("max", (1, 8, 4, 4), 2, 2, 0, {}),
    "call_cost_max_cl": ("max", (1, 8, 4, 4), 2, 2, 0, {"channels_last": True}),
    "call_cost_avg": ("avg", (1, 8, 4, 4), 2, 2, 0, {}),
}


def case_spec(name):
    """(pool kind, input shape, kernel_size, stride, padding, extra) of a case of CASES or
    CALL_COST_CASES."""
    return CASES[name] if name in CASES else CALL_COST_CASES[name]


def make_case(name):
    """(input array, n spatial dims, window keyword arguments, extra op arguments)."""
    kind, shape, kernel_size, stride, padding, extra = case_spec(name)
    extra = dict(extra)
    dtype = extra.pop("dtype", np.float32)
    # Uniform values are as hard as any for these kernels and much quicker to draw.
    x = np.random.default_rng(0).random(shape, dtype=dtype)
    if extra.pop("channels_last", False):
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    window = {"kernel_size": kernel_size, "stride": stride, "padding": padding}
    return x, len(shape) - 2, window, extra


def torch_backward(torch, kind, x, grad, indices, n_dims, window, extra):
    """A zero-argument call of PyTorch's backward op for a case (``torch`` is the module,
    passed in so that this file never needs it). PyTorch runs 1-d pooling as 2-d with a unit
    height, so 1-d cases call the 2-d op on unsqueezed tensors; ``indices`` is for max only."""
    k, s, p = (window[key] for key in ("kernel_size", "stride", "padding"))
    ceil_mode = extra.get("ceil_mode", False)
    if n_dims == 1:
        grad, x = grad[..., None, :], x[..., None, :]
        indices = None if indices is None else indices[..., None, :]
        kernel, stride, padding = [1, k], [1, s], [0, p]
    else:
        kernel, stride, padding = [k] * n_dims, [s] * n_dims, [p] * n_dims
    spatial = max(n_dims, 2)
    if kind == "max":
        op = getattr(torch.ops.aten, f"max_pool{spatial}d_with_indices_backward")
        return lambda: op(grad, x, kernel, stride, padding, [1] * spatial, ceil_mode, indices)
    op = getattr(torch.ops.aten, f"avg_pool{spatial}d_backward")
    count_include_pad = extra.get("count_include_pad", True)
    return lambda: op(grad, x, kernel, stride, padding, ceil_mode, count_include_pad, None)


# Adaptive pooling: (input shape, output_size); output_size 1 is global pooling, measured
# through global_*_pool (the same kernels as adaptive_*_pool(x, 1)).
ADAPTIVE_CASES = {
    "adaptive_14_to_7": ((32, 512, 14, 14), 7),
    "adaptive_odd_to_7": ((16, 64, 57, 43), 7),
    "global_7x7": ((32, 2048, 7, 7), 1),
    "global_big_image": ((1, 3, 2048, 2048), 1),
}


def make_adaptive_case(name):
    """(float32 input array, n spatial dims, output_size)."""
    shape, output_size = ADAPTIVE_CASES[name]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    return x, len(shape) - 2, output_size


def torch_adaptive_backward(torch, kind, x, grad, indices, n_dims, output_size):
    """A zero-argument call of the backward PyTorch's autograd runs for adaptive pooling
    (``torch`` is passed in, so that this file never needs it): its adaptive backward op,
    with 1-d as 2-d of unit height, or for average pooling to an all-ones size the backward
    of the mean PyTorch computes there."""
    if kind == "avg" and output_size == 1:
        count = int(np.prod(x.shape[-n_dims:]))
        return lambda: grad.expand(x.shape) / count
    if n_dims == 1:
        grad, x = grad[..., None, :], x[..., None, :]
        indices = None if indices is None else indices[..., None, :]
    spatial = max(n_dims, 2)
    if kind == "max":
        op = getattr(torch.ops.aten, f"adaptive_max_pool{spatial}d_backward")
        return lambda: op(grad, x, indices)
    op = getattr(torch.ops.aten, f"_adaptive_avg_pool{spatial}d_backward")
    return lambda: op(grad, x)


# Fractional max pooling: (input shape, kernel_size, output_size); Graham's ratio of about
# 1/sqrt(2) with 2-wide windows. The samples are fixed, so that every run (and PyTorch's
# peer) pools the same windows.
FRACTIONAL_CASES = {
    "fractional_2d": ((32, 64, 56, 56), 2, 40),
    "fractional_3d": ((4, 16, 32, 32, 32), 2, 22),
}


def make_fractional_case(name):
    """(float32 input array, n spatial dims, kernel_size, output_size, float32 samples)."""
    shape, kernel_size, output_size = FRACTIONAL_CASES[name]
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    samples = rng.random(shape[:2] + (len(shape) - 2,), dtype=np.float32)
    return x, len(shape) - 2, kernel_size, output_size, samples
