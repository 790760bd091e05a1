"""With out= given, a steady-state loop allocates no array memory."""

import numpy as np
import pytest

import cypool
from strategies import peak_traced_bytes, with_layout


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("layout", ["C", "channels_last"])
def test_every_op_with_out_allocates_no_arrays(n_dims, layout):
    # (Channels-last: the average backward's cache of divided shares is array-sized, and kept
    # per Python thread for the next call.)
    shape = {1: (4, 8, 4096), 2: (4, 8, 64, 64), 3: (2, 4, 16, 32, 32)}[n_dims]
    x = with_layout(np.random.default_rng(0).random(shape, dtype=np.float32), layout)
    window = {"kernel_size": 3, "stride": 2, "padding": 1}
    max_pool = getattr(cypool, f"max_pool{n_dims}d")
    avg_pool = getattr(cypool, f"avg_pool{n_dims}d")
    values, indices = max_pool(x, **window, return_indices=True)
    averages = avg_pool(x, **window)
    grad_input = np.empty_like(x)
    calls = [
        lambda: max_pool(x, **window, return_indices=True, out=(values, indices)),
        lambda: max_pool(x, **window, out=values),
        lambda: avg_pool(x, **window, out=averages),
        lambda: getattr(cypool, f"max_pool{n_dims}d_backward")(values, indices, x.shape,
                                                               out=grad_input),
        lambda: getattr(cypool, f"avg_pool{n_dims}d_backward")(averages, x.shape, **window,
                                                               out=grad_input),
    ]
    smallest_array = values.nbytes
    for call in calls:
        # Python objects (views, tuples) come and go; no array-sized block may.
        assert peak_traced_bytes(call) < smallest_array // 4
