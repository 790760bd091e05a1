"""PyTorch's CPU pooling on the same inputs and thread counts as bench_pooling, so asv shows
both side by side. Skipped (NotImplementedError in setup) when torch is not importable: it is
a benchmark peer, never a dependency of cypool."""

from .cases import (
    ADAPTIVE_CASES,
    AVG_CASES,
    CALL_COST_CASES,
    FRACTIONAL_CASES,
    MAX_CASES,
    THREADS,
    case_spec,
    make_adaptive_case,
    make_case,
    make_fractional_case,
    torch_adaptive_backward,
    torch_backward,
)


class _TorchPeer:
    """Shared set-up: the case as a tensor, the functional op, and its backward call."""

    kind = None
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        torch.set_num_threads(threads)
        x, n_dims, self.window, self.extra = make_case(case)
        self.x = torch.from_numpy(x)
        self.functional = getattr(torch.nn.functional, f"{self.kind}_pool{n_dims}d")
        indices = None
        if self.kind == "max":
            values, indices = self.functional(self.x, **self.window, **self.extra,
                                              return_indices=True)
        else:
            values = self.functional(self.x, **self.window, **self.extra)
        self.backward = torch_backward(torch, self.kind, self.x, torch.ones_like(values),
                                       indices, n_dims, self.window, self.extra)

    def time_backward(self, case, threads):
        self.backward()


class TorchMaxPool(_TorchPeer):
    kind = "max"
    params = (MAX_CASES, THREADS)

    def time_forward_with_indices(self, case, threads):
        self.functional(self.x, **self.window, **self.extra, return_indices=True)

    def time_forward_values_only(self, case, threads):
        self.functional(self.x, **self.window, **self.extra)


class TorchAvgPool(_TorchPeer):
    kind = "avg"
    params = (AVG_CASES, THREADS)

    def time_forward(self, case, threads):
        self.functional(self.x, **self.window, **self.extra)


class TorchCallCost:
    """PyTorch's cost per call on bench_pooling.CallCost's tiny inputs, on one thread."""

    params = (list(CALL_COST_CASES),)
    param_names = ["case"]

    def setup(self, case):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        torch.set_num_threads(1)
        x, n_dims, self.window, _ = make_case(case)
        kind = case_spec(case)[0]
        # A channels-last case's NumPy strides become a channels-last tensor.
        self.x = torch.from_numpy(x)
        self.functional = getattr(torch.nn.functional, f"{kind}_pool{n_dims}d")
        self.forward_kwargs = {"return_indices": True} if kind == "max" else {}
        result = self.functional(self.x, **self.window, **self.forward_kwargs)
        values, indices = result if kind == "max" else (result, None)
        self.backward = torch_backward(torch, kind, self.x, torch.ones_like(values), indices,
                                       n_dims, self.window, {})

    def time_forward(self, case):
        self.functional(self.x, **self.window, **self.forward_kwargs)

    def time_backward(self, case):
        self.backward()


class _TorchAdaptivePeer:
    """PyTorch's adaptive pooling (what cypool's global_* equals for output size 1)."""

    kind = None
    params = (list(ADAPTIVE_CASES), THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        torch.set_num_threads(threads)
        x, n_dims, self.output_size = make_adaptive_case(case)
        self.x = torch.from_numpy(x)
        self.functional = getattr(torch.nn.functional, f"adaptive_{self.kind}_pool{n_dims}d")
        indices = None
        if self.kind == "max":
            values, indices = self.functional(self.x, self.output_size, return_indices=True)
        else:
            values = self.functional(self.x, self.output_size)
        self.backward = torch_adaptive_backward(torch, self.kind, self.x,
                                                torch.ones_like(values), indices, n_dims,
                                                self.output_size)

    def time_backward(self, case, threads):
        self.backward()


class TorchAdaptiveMaxPool(_TorchAdaptivePeer):
    kind = "max"

    def time_forward_with_indices(self, case, threads):
        self.functional(self.x, self.output_size, return_indices=True)

    def time_forward_values_only(self, case, threads):
        self.functional(self.x, self.output_size)


class TorchAdaptiveAvgPool(_TorchAdaptivePeer):
    kind = "avg"

    def time_forward(self, case, threads):
        self.functional(self.x, self.output_size)


class TorchFractionalMaxPool:
    """PyTorch's fractional max pooling with the same samples (it always computes indices)."""

    params = (list(FRACTIONAL_CASES), THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        torch.set_num_threads(threads)
        x, n_dims, self.kernel_size, self.output_size, samples = make_fractional_case(case)
        self.x, self.samples = torch.from_numpy(x), torch.from_numpy(samples)
        self.functional = getattr(torch.nn.functional, f"fractional_max_pool{n_dims}d")
        values, indices = self.functional(self.x, self.kernel_size, self.output_size,
                                          return_indices=True, _random_samples=self.samples)
        op = getattr(torch.ops.aten, f"fractional_max_pool{n_dims}d_backward")
        grad = torch.ones_like(values)
        self.backward = lambda: op(grad, self.x, [self.kernel_size] * n_dims,
                                   [self.output_size] * n_dims, indices)

    def time_forward_with_indices(self, case, threads):
        self.functional(self.x, self.kernel_size, self.output_size, return_indices=True,
                        _random_samples=self.samples)

    def time_backward(self, case, threads):
        self.backward()
