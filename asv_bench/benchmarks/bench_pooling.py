"""Speed and peak memory of every public op, over the cases of cases.py and 1 and 2 threads,
with PyTorch's CPU op timed beside it in the same run when torch is importable."""

import numpy as np

import cypool

from .cases import (
    ADAPTIVE_CASES,
    AVG_CASES,
    CALL_COST_CASES,
    FRACTIONAL_CASES,
    MAX_CASES,
    THREADS,
    make_adaptive_case,
    case_spec,
    make_case,
    make_fractional_case,
)


class MaxPool:
    params = (MAX_CASES, THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        self.x, n_dims, self.window, self.extra = make_case(case)
        self.forward = getattr(cypool, f"max_pool{n_dims}d")
        self.backward = getattr(cypool, f"max_pool{n_dims}d_backward")
        self.values, self.indices = self.forward(self.x, **self.window, **self.extra,
                                                 return_indices=True)
        self.grad = np.ones_like(self.values)
        self.grad_input = np.empty_like(self.x)

    def time_forward_with_indices(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, return_indices=True,
                     n_threads=threads)

    def time_forward_values_only(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, n_threads=threads)

    def time_forward_into_out(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, return_indices=True,
                     out=(self.values, self.indices), n_threads=threads)

    def time_backward(self, case, threads):
        self.backward(self.grad, self.indices, self.x.shape, n_threads=threads)

    def peakmem_forward_with_indices(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, return_indices=True,
                     n_threads=threads)

    def peakmem_backward(self, case, threads):
        self.backward(self.grad, self.indices, self.x.shape, n_threads=threads)


class AvgPool:
    params = (AVG_CASES, THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        self.x, n_dims, self.window, self.extra = make_case(case)
        self.forward = getattr(cypool, f"avg_pool{n_dims}d")
        self.backward = getattr(cypool, f"avg_pool{n_dims}d_backward")
        self.result = self.forward(self.x, **self.window, **self.extra)
        self.grad = np.ones_like(self.result)

    def time_forward(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, n_threads=threads)

    def time_forward_into_out(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, out=self.result, n_threads=threads)

    def time_backward(self, case, threads):
        self.backward(self.grad, self.x.shape, **self.window, **self.extra, n_threads=threads)

    def peakmem_forward(self, case, threads):
        self.forward(self.x, **self.window, **self.extra, n_threads=threads)

    def peakmem_backward(self, case, threads):
        self.backward(self.grad, self.x.shape, **self.window, **self.extra, n_threads=threads)


class CallCost:
    """What a call costs on a tiny input, where the Python layer is nearly all of it (one
    thread: below its work threshold cypool runs one thread whatever it is given)."""

    params = (list(CALL_COST_CASES),)
    param_names = ["case"]

    def setup(self, case):
        self.x, n_dims, self.window, _ = make_case(case)
        kind = case_spec(case)[0]
        self.forward = getattr(cypool, f"{kind}_pool{n_dims}d")
        backward = getattr(cypool, f"{kind}_pool{n_dims}d_backward")
        if kind == "max":
            values, indices = self.forward(self.x, **self.window, return_indices=True)
            grad = np.ones_like(values)
            self.forward_kwargs = {"return_indices": True}
            self.backward = lambda: backward(grad, indices, self.x.shape, n_threads=1)
        else:
            grad = np.ones_like(self.forward(self.x, **self.window))
            self.forward_kwargs = {}
            self.backward = lambda: backward(grad, self.x.shape, **self.window, n_threads=1)

    def time_forward(self, case):
        self.forward(self.x, **self.window, **self.forward_kwargs, n_threads=1)

    def time_backward(self, case):
        self.backward()


class _Adaptive:
    """Adaptive pooling to the case's output size; global pooling when that is 1."""

    params = (list(ADAPTIVE_CASES), THREADS)
    param_names = ["case", "threads"]
    timeout = 120
    kind = None

    def setup(self, case, threads):
        self.x, n_dims, output_size = make_adaptive_case(case)
        if output_size == 1:
            name, self.size = f"global_{self.kind}_pool{n_dims}d", ()
        else:
            name, self.size = f"adaptive_{self.kind}_pool{n_dims}d", (output_size,)
        self.forward = getattr(cypool, name)
        self.backward = getattr(cypool, name + "_backward")


class AdaptiveMaxPool(_Adaptive):
    kind = "max"

    def setup(self, case, threads):
        super().setup(case, threads)
        self.values, self.indices = self.forward(self.x, *self.size, return_indices=True)
        self.grad = np.ones_like(self.values)

    def time_forward_with_indices(self, case, threads):
        self.forward(self.x, *self.size, return_indices=True, n_threads=threads)

    def time_forward_values_only(self, case, threads):
        self.forward(self.x, *self.size, n_threads=threads)

    def time_backward(self, case, threads):
        self.backward(self.grad, self.indices, self.x.shape, n_threads=threads)

    def peakmem_forward_with_indices(self, case, threads):
        self.forward(self.x, *self.size, return_indices=True, n_threads=threads)


class AdaptiveAvgPool(_Adaptive):
    kind = "avg"

    def setup(self, case, threads):
        super().setup(case, threads)
        self.result = self.forward(self.x, *self.size)
        self.grad = np.ones_like(self.result)

    def time_forward(self, case, threads):
        self.forward(self.x, *self.size, n_threads=threads)

    def time_backward(self, case, threads):
        self.backward(self.grad, self.x.shape, n_threads=threads)

    def peakmem_backward(self, case, threads):
        self.backward(self.grad, self.x.shape, n_threads=threads)


class FractionalMaxPool:
    """Fractional max pooling with fixed samples, forward and backward."""

    params = (list(FRACTIONAL_CASES), THREADS)
    param_names = ["case", "threads"]
    timeout = 120

    def setup(self, case, threads):
        self.x, n_dims, self.kernel_size, self.output_size, self.samples = \
            make_fractional_case(case)
        self.forward = getattr(cypool, f"fractional_max_pool{n_dims}d")
        self.backward = getattr(cypool, f"fractional_max_pool{n_dims}d_backward")
        self.values, self.indices = self.forward(self.x, self.kernel_size, self.output_size,
                                                 return_indices=True,
                                                 _random_samples=self.samples)
        self.grad = np.ones_like(self.values)

    def time_forward_with_indices(self, case, threads):
        self.forward(self.x, self.kernel_size, self.output_size, return_indices=True,
                     _random_samples=self.samples, n_threads=threads)

    def time_forward_values_only(self, case, threads):
        self.forward(self.x, self.kernel_size, self.output_size,
                     _random_samples=self.samples, n_threads=threads)

    def time_backward(self, case, threads):
        self.backward(self.grad, self.indices, self.x.shape, n_threads=threads)

    def peakmem_forward_with_indices(self, case, threads):
        self.forward(self.x, self.kernel_size, self.output_size, return_indices=True,
                     _random_samples=self.samples, n_threads=threads)


class LpPool:
    """Power-average pooling (norm 2 and a general norm), forward and backward."""

    params = ([2.0, 3.0], THREADS)
    param_names = ["norm_type", "threads"]

    def setup(self, norm_type, threads):
        self.x = np.random.default_rng(0).random((8, 64, 56, 56), dtype=np.float32)
        self.grad = np.ones_like(cypool.lp_pool2d(self.x, norm_type, 3, 2))

    def time_forward(self, norm_type, threads):
        cypool.lp_pool2d(self.x, norm_type, 3, 2, n_threads=threads)

    def time_backward(self, norm_type, threads):
        cypool.lp_pool2d_backward(self.grad, self.x, norm_type, 3, 2, n_threads=threads)


class MaxUnpool:
    """Unpooling a ResNet-stem-sized max pool's values through its indices."""

    params = THREADS
    param_names = ["threads"]

    def setup(self, threads):
        x = np.random.default_rng(0).random((8, 64, 112, 112), dtype=np.float32)
        self.values, self.indices = cypool.max_pool2d(x, 2, return_indices=True)

    def time_unpool(self, threads):
        cypool.max_unpool2d(self.values, self.indices, 2, n_threads=threads)


class MemoryFloor:
    """np.copyto of 256 MB: the bandwidth that a pass's memory floor is measured against."""

    params = THREADS
    param_names = ["threads"]

    def setup(self, threads):
        self.source = np.ones(1 << 26, dtype=np.float32)
        self.target = np.empty_like(self.source)

    def time_copyto_256MB(self, threads):
        np.copyto(self.target, self.source)
