# Max unpooling: one source for every dtype and ISA level (included by each
# cypool/_kernels_<level>.pyx after _kernels.pxi). It only copies values and writes zeros, so
# it runs on every dtype max pooling forward produces (max_value_t); the wrapper passes float16
# as its uint16 bit pattern (zero bits are +0.0).
#
# output[plane] = 0, then output[plane][indices[plane, i]] = input[plane, i] for i in raster
# order: where indices repeat, the last one in raster order wins (PyTorch's one-thread result;
# its threads split planes at arbitrary points, so with several threads its winner can vary).
# One plane per parallel task keeps that rule for any thread count. The indices are user data:
# the ones outside the plane are skipped and counted, and the wrapper raises if any were.

cdef inline Py_ssize_t unpool_plane(const max_value_t* input, const index_t* indices,
                                    max_value_t* output, Py_ssize_t in_plane_size,
                                    Py_ssize_t out_plane_size) noexcept nogil:
    cdef Py_ssize_t i, target, out_of_range = 0
    for i in range(out_plane_size):
        output[i] = 0
    for i in range(in_plane_size):
        target = indices[i]
        if target < 0 or target >= out_plane_size:
            out_of_range += 1
        else:
            output[target] = input[i]
    return out_of_range


def max_unpool_forward(const max_value_t[:, ::1] input, const index_t[:, ::1] indices,
                       max_value_t[:, ::1] output, int n_threads):
    """Scatter (planes, in_plane) values to their indices in a zeroed (planes, out_plane);
    returns the number of indices that fell outside the plane (those are skipped)."""
    cdef Py_ssize_t plane, out_of_range = 0
    for plane in prange(input.shape[0], schedule="static", nogil=True, num_threads=n_threads):
        out_of_range += unpool_plane(&input[plane, 0], &indices[plane, 0], &output[plane, 0],
                                     input.shape[1], output.shape[1])
    return out_of_range
