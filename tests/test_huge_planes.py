"""Planes of more than 2**31 elements: exact int64 indices, no 32-bit index arithmetic.

A uint8 signal of 2**31 + a few elements (2 GiB) is the cheapest such plane. Set
CYPOOL_SKIP_HUGE=1 to skip on a machine without the memory. The backward test needs a float32
gradient of that plane (8.6 GB) and runs only with CYPOOL_HUGE_BACKWARD=1.
"""

import os

import numpy as np
import pytest

import cypool

LENGTH = 2**31 + 2**20 + 5
pytestmark = pytest.mark.skipif(os.environ.get("CYPOOL_SKIP_HUGE") == "1",
                                reason="CYPOOL_SKIP_HUGE=1")


@pytest.fixture(scope="module")
def signal():
    x = np.zeros((1, 1, LENGTH), np.uint8)  # pages stay untouched until the kernel reads them
    rng = np.random.default_rng(0)
    peaks = np.concatenate([rng.integers(0, LENGTH, 64), [LENGTH - 1, 2**31, 2**31 - 1]])
    x[0, 0, peaks] = rng.integers(1, 256, peaks.size)
    return x


def test_indices_past_2_31_are_exact(signal):
    kernel = 2**20
    values, indices = cypool.max_pool1d(signal, kernel, return_indices=True, ceil_mode=True)
    n_full = LENGTH // kernel
    assert values.shape == (1, 1, n_full + 1)  # ceil mode: the last, partial window counts
    # Independent check: the flat argmax (first maximum) of each window.
    windows = signal[0, 0, : n_full * kernel].reshape(n_full, kernel)
    expected = np.arange(n_full) * kernel + windows.argmax(axis=1)
    tail = signal[0, 0, n_full * kernel:]
    expected = np.append(expected, n_full * kernel + tail.argmax())
    np.testing.assert_array_equal(indices[0, 0], expected)
    np.testing.assert_array_equal(values[0, 0], signal[0, 0, expected])
    assert indices.max() > 2**31


@pytest.mark.skipif(os.environ.get("CYPOOL_HUGE_BACKWARD") != "1",
                    reason="needs 8.6 GB; set CYPOOL_HUGE_BACKWARD=1")
def test_backward_scatters_past_2_31(signal):
    # Gradient of a huge plane: positions past 2**31 receive it.
    grad = np.ones((1, 1, 3), np.float32)
    far = np.array([[[2**31 - 1, 2**31, LENGTH - 1]]])
    grad_input = cypool.max_pool1d_backward(grad, far, (1, 1, LENGTH))
    assert grad_input[0, 0, far[0, 0]].tolist() == [1.0, 1.0, 1.0]
    assert grad_input.sum() == 3.0


def test_int32_indices_are_refused_for_a_huge_plane(signal):
    with pytest.raises(ValueError, match="index_dtype"):
        cypool.max_pool1d(signal, 2**20, return_indices=True, index_dtype=np.int32)
