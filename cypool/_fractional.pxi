# Fractional max pooling, forward: one source for every dtype (fused `floating`) and every ISA
# level; each cypool/_kernels_<level>.pyx includes this file after _kernels.pxi, whose
# max_takes, max_width_shapes, next_row and ROW_BLOCK it reuses. (The backward is
# max_pool_backward's scatter.)
#
# Windows are kernel-sized and start where the plane's own tables say: `*_starts[plane, o]`,
# which the Python wrapper computes from the random samples (PyTorch's generate_intervals) and
# checks to lie in [0, in_size - kernel]. The kernel trusts them.
#
# Max rule (PyTorch's): taps in raster order (depth, height, width); `v > best or isnan(v)`
# replaces, so ties keep the first maximum and of several NaNs the last wins. PyTorch starts
# from -inf with the first tap's index, which gives the same value and index as starting from
# the first tap (an all -inf window keeps its first tap either way).

cdef struct FractionalWindow:
    Py_ssize_t in_size[3]
    Py_ssize_t out_size[3]
    Py_ssize_t kernel[3]


cdef FractionalWindow make_fractional_window(tuple in_size, tuple out_size,
                                             tuple kernel) except *:
    cdef FractionalWindow window
    cdef int axis
    for axis in range(3):
        window.in_size[axis] = in_size[axis]
        window.out_size[axis] = out_size[axis]
        window.kernel[axis] = kernel[axis]
    return window


cdef enum:
    # Widest input row pooled in two passes (stack scratch per task).
    FRACTIONAL_SCRATCH = 2048


cdef inline void fractional_max_row(const floating* plane, floating* values, int64_t* indices,
                                    const FractionalWindow* w, Py_ssize_t d_start,
                                    Py_ssize_t h_start, const int64_t* w_starts,
                                    bint with_indices) noexcept nogil:
    """One output row, column by column (for rows too wide for the scratch, or windows so
    sparse that sliding over the whole row would cost more): the window's first tap starts
    the running maximum, then the taps follow in raster order (the first one again: an equal
    value does not replace, a NaN replaces itself)."""
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2]
    cdef Py_ssize_t d, h, t, ow, start, position, best_position
    cdef floating value, best
    cdef bint take
    for ow in range(w.out_size[2]):
        start = (d_start * H + h_start) * W + w_starts[ow]
        best = plane[start]
        best_position = start
        for d in range(w.kernel[0]):
            for h in range(w.kernel[1]):
                for t in range(w.kernel[2]):
                    position = start + (d * H + h) * W + t
                    value = plane[position]
                    take = max_takes(value, best)
                    best = value if take else best
                    best_position = position if take else best_position
        values[ow] = best
        if with_indices:
            indices[ow] = best_position


cdef inline void fractional_max_row_separable(const floating* plane, floating* values,
                                              int64_t* indices, const FractionalWindow* w,
                                              Py_ssize_t d_start, Py_ssize_t h_start,
                                              const int64_t* w_starts,
                                              bint with_indices) noexcept nogil:
    """One output row in two passes per input row of the windows: the maximum of the k
    taps at every start of the row (a stride-1 pass of max pooling's vectorised row helper),
    then the starts the row uses are picked and merged into the outputs under the same strict
    rule. Rows in raster order, each reduced in tap order and merged in row order, give the
    plain raster scan's winner (the last NaN if any, else the first maximum); picking is a
    copy and merging a contiguous loop, so neither has data-dependent branches."""
    cdef floating slide_values[FRACTIONAL_SCRATCH]
    cdef int64_t slide_indices[FRACTIONAL_SCRATCH]
    cdef floating row_values[FRACTIONAL_SCRATCH]
    cdef int64_t row_indices[FRACTIONAL_SCRATCH]
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t taps = w.kernel[2], slides = W - taps + 1
    cdef Py_ssize_t d, h, ow, row_start
    cdef bint take, is_first = True
    for d in range(d_start, d_start + w.kernel[0]):
        for h in range(h_start, h_start + w.kernel[1]):
            row_start = (d * H + h) * W
            if with_indices:
                max_width_shapes(plane, row_start, 1, taps, 1, slide_values, slide_indices, 0,
                                 slides, True, True)
            else:
                max_width_shapes(plane, row_start, 1, taps, 1, slide_values, <int64_t*>NULL,
                                 0, slides, True, False)
            if is_first:
                for ow in range(out_width):
                    values[ow] = slide_values[w_starts[ow]]
                if with_indices:
                    for ow in range(out_width):
                        indices[ow] = slide_indices[w_starts[ow]]
                is_first = False
                continue
            for ow in range(out_width):
                row_values[ow] = slide_values[w_starts[ow]]
            if with_indices:
                for ow in range(out_width):
                    row_indices[ow] = slide_indices[w_starts[ow]]
            for ow in range(out_width):
                take = max_takes(row_values[ow], values[ow])
                if with_indices:
                    indices[ow] = row_indices[ow] if take else indices[ow]
                values[ow] = row_values[ow] if take else values[ow]


cdef inline void fractional_max_row_any(const floating* plane, floating* values,
                                        int64_t* indices, const FractionalWindow* w,
                                        Py_ssize_t d_start, Py_ssize_t h_start,
                                        const int64_t* w_starts,
                                        bint with_indices) noexcept nogil:
    # Two passes when the row fits the scratch and the windows cover it densely enough that
    # sliding over every start costs at most twice the taps pooled.
    cdef Py_ssize_t slides = w.in_size[2] - w.kernel[2] + 1
    if (w.in_size[2] <= FRACTIONAL_SCRATCH
            and slides <= 2 * w.out_size[2] * w.kernel[2]):
        fractional_max_row_separable(plane, values, indices, w, d_start, h_start, w_starts,
                                     with_indices)
    else:
        fractional_max_row(plane, values, indices, w, d_start, h_start, w_starts,
                           with_indices)


cdef void fractional_max_rows(const floating* input, floating* values, int64_t* indices,
                              const int64_t* depth_starts, const int64_t* height_starts,
                              const int64_t* width_starts, const FractionalWindow* w,
                              Py_ssize_t n_planes, int n_threads) noexcept nogil:
    """Every output row of every plane, ROW_BLOCK consecutive rows per parallel task;
    `indices` may be NULL (values only)."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_width = w.out_size[2]
    cdef Py_ssize_t n_rows = n_planes * w.out_size[0] * w.out_size[1]
    cdef Py_ssize_t block, row, stop, plane, od, oh, d_start, h_start
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                        num_threads=n_threads):
        row = block * ROW_BLOCK
        stop = min(row + ROW_BLOCK, n_rows)
        oh = row % w.out_size[1]
        od = (row // w.out_size[1]) % w.out_size[0]
        plane = row // (w.out_size[1] * w.out_size[0])
        while row < stop:
            d_start = depth_starts[plane * w.out_size[0] + od]
            h_start = height_starts[plane * w.out_size[1] + oh]
            if indices != NULL:
                fractional_max_row_any(input + plane * in_plane_size,
                                          values + row * out_width, indices + row * out_width,
                                          w, d_start, h_start, width_starts + plane * out_width,
                                          True)
            else:
                fractional_max_row_any(input + plane * in_plane_size,
                                          values + row * out_width, NULL, w, d_start, h_start,
                                          width_starts + plane * out_width, False)
            next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
            row = row + 1


def fractional_max_pool_forward(const floating[:, :, :, ::1] input,
                                floating[:, :, :, ::1] values_out,
                                int64_t[:, :, :, ::1] indices_out,
                                const int64_t[:, ::1] depth_starts,
                                const int64_t[:, ::1] height_starts,
                                const int64_t[:, ::1] width_starts, tuple kernel,
                                int n_threads):
    """Fractional max pooling with argmax over (planes, D, H, W) -> (planes, OD, OH, OW);
    the window of output (od, oh, ow) of a plane starts at its entries of the start tables
    (planes, OD), (planes, OH), (planes, OW)."""
    cdef FractionalWindow w = make_fractional_window(tuple(input.shape)[1:4],
                                                     tuple(values_out.shape)[1:4], kernel)
    with nogil:
        fractional_max_rows(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0],
                            &indices_out[0, 0, 0, 0], &depth_starts[0, 0],
                            &height_starts[0, 0], &width_starts[0, 0], &w, input.shape[0],
                            n_threads)


def fractional_max_pool_forward_values(const floating[:, :, :, ::1] input,
                                       floating[:, :, :, ::1] values_out,
                                       const int64_t[:, ::1] depth_starts,
                                       const int64_t[:, ::1] height_starts,
                                       const int64_t[:, ::1] width_starts, tuple kernel,
                                       int n_threads):
    """Fractional max pooling without the argmax: the same rule, less memory traffic."""
    cdef FractionalWindow w = make_fractional_window(tuple(input.shape)[1:4],
                                                     tuple(values_out.shape)[1:4], kernel)
    with nogil:
        fractional_max_rows(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0], NULL,
                            &depth_starts[0, 0], &height_starts[0, 0], &width_starts[0, 0],
                            &w, input.shape[0], n_threads)
