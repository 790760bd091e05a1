"""The Dask path (cypool.dask) against the same op in memory, on an input of 128 MiB in 16
chunks: chunks aligned with the windows (2x2, stride 2), and windows (3x3, stride 2, padding
1) that cross every chunk boundary, so each block gathers a halo. Tasks run on the threaded
scheduler with ``threads`` workers and one kernel thread each. Skipped (NotImplementedError in
setup) when dask is not importable: it is an optional extra."""

import numpy as np

import cypool

from .cases import THREADS

CHUNKED_CASES = {
    # name: (kernel_size, stride, padding, spatial chunk)
    "aligned_2x2": (2, 2, 0, 256),
    "halo_3x3_s2": (3, 2, 1, 200),
}


class DaskPool:
    params = (list(CHUNKED_CASES), THREADS)
    param_names = ["case", "threads"]
    timeout = 180

    def setup(self, case, threads):
        try:
            import dask
            import dask.array as da

            import cypool.dask
        except ImportError:
            raise NotImplementedError("dask is not installed") from None
        kernel, stride, padding, chunk = CHUNKED_CASES[case]
        self.window = {"kernel_size": kernel, "stride": stride, "padding": padding}
        self.x = np.random.default_rng(0).standard_normal((8, 16, 512, 512)).astype(np.float32)
        self.lazy_x = da.from_array(self.x, chunks=(4, 16, chunk, chunk))
        values, indices = cypool.max_pool2d(self.x, **self.window, return_indices=True)
        self.grad = np.ones_like(values)
        self.indices = indices
        self.lazy_grad = da.from_array(self.grad, chunks=(4, 16, chunk // 2, chunk // 2))
        self.lazy_indices = da.from_array(indices, chunks=self.lazy_grad.chunks)
        self.dask_ops = cypool.dask
        self.compute = lambda *arrays: dask.compute(*arrays, scheduler="threads",
                                                    num_workers=threads)

    def time_max_forward_with_indices(self, case, threads):
        self.compute(*self.dask_ops.max_pool2d(self.lazy_x, **self.window, return_indices=True,
                                               n_threads=1))

    def time_max_forward_in_memory(self, case, threads):
        cypool.max_pool2d(self.x, **self.window, return_indices=True, n_threads=threads)

    def time_avg_forward(self, case, threads):
        self.compute(self.dask_ops.avg_pool2d(self.lazy_x, **self.window, n_threads=1))

    def time_avg_forward_in_memory(self, case, threads):
        cypool.avg_pool2d(self.x, **self.window, n_threads=threads)

    def time_avg_backward(self, case, threads):
        self.compute(self.dask_ops.avg_pool2d_backward(self.lazy_grad, self.x.shape,
                                                       **self.window, n_threads=1))

    def time_max_backward(self, case, threads):
        self.compute(self.dask_ops.max_pool2d_backward(self.lazy_grad, self.lazy_indices,
                                                       self.x.shape, n_threads=1))

    def peakmem_avg_forward(self, case, threads):
        self.compute(self.dask_ops.avg_pool2d(self.lazy_x, **self.window, n_threads=1))
