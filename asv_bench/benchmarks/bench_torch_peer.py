"""PyTorch's CPU pooling on the same inputs and thread counts as bench_pooling, so asv shows
both side by side. Skipped (NotImplementedError in setup) when torch is not importable: it is
a benchmark peer, never a dependency of cypool."""

from .cases import AVG_CASES, MAX_CASES, THREADS, make_case


def _torch():
    try:
        import torch
    except ImportError:
        raise NotImplementedError("torch is not installed") from None
    return torch


class TorchMaxPool:
    params = (MAX_CASES, THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        torch = _torch()
        torch.set_num_threads(threads)
        x, self.n_dims, self.window, self.extra = make_case(case)
        self.x = torch.from_numpy(x)
        self.functional = getattr(torch.nn.functional, f"max_pool{self.n_dims}d")
        values, self.indices = self.functional(self.x, **self.window, **self.extra,
                                               return_indices=True)
        self.grad = torch.ones_like(values)
        self.backward_op = getattr(torch.ops.aten,
                                   f"max_pool{max(self.n_dims, 2)}d_with_indices_backward")

    def time_forward_with_indices(self, case, threads):
        self.functional(self.x, **self.window, **self.extra, return_indices=True)

    def time_forward_values_only(self, case, threads):
        self.functional(self.x, **self.window, **self.extra)

    def time_backward(self, case, threads):
        k, s, p = (self.window[key] for key in ("kernel_size", "stride", "padding"))
        ceil_mode = self.extra.get("ceil_mode", False)
        if self.n_dims == 1:  # PyTorch runs 1-d max pooling as 2-d with a unit height
            self.backward_op(self.grad[..., None, :], self.x[..., None, :], [1, k], [1, s],
                             [0, p], [1, 1], ceil_mode, self.indices[..., None, :])
        else:
            n = self.n_dims
            self.backward_op(self.grad, self.x, [k] * n, [s] * n, [p] * n, [1] * n,
                             ceil_mode, self.indices)


class TorchAvgPool:
    params = (AVG_CASES, THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        torch = _torch()
        torch.set_num_threads(threads)
        x, self.n_dims, self.window, self.extra = make_case(case)
        self.x = torch.from_numpy(x)
        self.functional = getattr(torch.nn.functional, f"avg_pool{self.n_dims}d")
        self.grad = torch.ones_like(self.functional(self.x, **self.window, **self.extra))
        self.backward_op = getattr(torch.ops.aten, f"avg_pool{max(self.n_dims, 2)}d_backward")

    def time_forward(self, case, threads):
        self.functional(self.x, **self.window, **self.extra)

    def time_backward(self, case, threads):
        k, s, p = (self.window[key] for key in ("kernel_size", "stride", "padding"))
        ceil_mode = self.extra.get("ceil_mode", False)
        count_include_pad = self.extra.get("count_include_pad", True)
        if self.n_dims == 1:  # PyTorch runs 1-d average pooling as 2-d with a unit height
            self.backward_op(self.grad[..., None, :], self.x[..., None, :], [1, k], [1, s],
                             [0, p], ceil_mode, count_include_pad, None)
        else:
            n = self.n_dims
            self.backward_op(self.grad, self.x, [k] * n, [s] * n, [p] * n, ceil_mode,
                             count_include_pad, None)
