# Small planes through a scratch plane on each thread's stack: 2-d average pooling, forward and
# backward, through a zero-padded copy, and the max forward's phase path with each input row
# split once (below).
#
# On rows of 7 to 64 columns the row paths spend most of their time per row, not per element:
# windows clipped by the padding or by a ceil-mode overhang take scalar code (avg_point,
# avg_spread_point), and each input row of the backward finds its covering outputs and divides
# their shares again. A plane that fits in a PADDED_PLANE_ELEMENTS scratch is instead copied
# (forward) or gathered (backward) there with zeros all around the input: every window then
# lies in the scratch, every column of every output row takes one vector loop, and the border
# windows differ only in their divisors, applied as a vector of per-column counts.
#
# Bit-identical to the row paths: a sum that starts from +0 is never -0 (x + -x rounds to +0),
# so adding a padding zero leaves it unchanged (NaN and infinities included); each divisor is
# row count * column count, both small integers, so their product is exact in the float type
# and equals the row paths' integer product converted; and each backward share is the same
# division, spread over the scratch in ascending output order (PyTorch's scatter order).

cdef enum:
    # Scratch elements per plane (16 KiB of float32, 32 KiB of float64: on each thread's stack,
    # and in the L1 cache with the plane being pooled).
    PADDED_PLANE_ELEMENTS = 4096
    # Widest scratch row (output rows have at most as many columns: per-column counts and
    # shares live in arrays of this size).
    PADDED_PLANE_WIDTH = 256
    # Planes per parallel task, at most (the counts are computed, and the forward's scratch
    # zeroed, once per task).
    PADDED_PLANE_BLOCK = 8


cdef struct PaddedPlane:
    # The scratch plane: (out rows - 1) * row stride + kernel height rows, likewise columns.
    Py_ssize_t height, width
    # Input rows and columns that lie in the scratch (the others are in no window), and where
    # input (0, 0) lies in it.
    Py_ssize_t copy_height, copy_width, top, left


cdef bint takes_padded_planes(const Window* w, Py_ssize_t n_planes, int n_threads,
                              bint any_window) noexcept nogil:
    """Whether these average-pooling planes go through the padded scratch: 2-d planes with a
    window the vector loops specialise (2x2 of stride 2, 3x3 of stride 1 or 2 along the row),
    small enough, and enough of them to share among the threads. Unless `any_window`, only
    when some window reaches past the input (padding, or a ceil-mode overhang): without one
    the forward's rows are all vectorised already and the copy would only add work."""
    cdef PaddedPlane p = padded_plane(w)
    if not (w.in_size[0] == 1 and w.kernel[0] == 1 and w.kernel[1] == w.kernel[2]
            and ((w.kernel[2] == 2 and w.stride[2] == 2)
                 or (w.kernel[2] == 3 and w.stride[2] <= 2))):
        return False
    if not (p.width <= PADDED_PLANE_WIDTH and p.height * p.width <= PADDED_PLANE_ELEMENTS
            and n_planes >= 4 * n_threads):
        return False
    return (any_window or p.top > 0 or p.left > 0
            or p.height - p.top > w.in_size[1] or p.width - p.left > w.in_size[2])


cdef PaddedPlane padded_plane(const Window* w) noexcept nogil:
    cdef PaddedPlane p
    p.height = (w.out_size[1] - 1) * w.stride[1] + w.kernel[1]
    p.width = (w.out_size[2] - 1) * w.stride[2] + w.kernel[2]
    p.top = w.padding[1]
    p.left = w.padding[2]
    p.copy_height = min(w.in_size[1], p.height - p.top)
    p.copy_width = min(w.in_size[2], p.width - p.left)
    return p


cdef inline void column_counts_of(const Window* w, bint count_include_pad,
                                  Py_ssize_t divisor_override,
                                  floating* column_counts) noexcept nogil:
    """Each output column's window count (axis_count); 1 with divisor_override."""
    cdef Py_ssize_t ow
    for ow in range(w.out_size[2]):
        column_counts[ow] = <floating>(1 if divisor_override > 0 else
                                       axis_count(ow * w.stride[2] - w.padding[2], w.in_size[2],
                                                  w.kernel[2], w.padding[2], count_include_pad))


cdef inline Py_ssize_t row_count_of(const Window* w, Py_ssize_t oh, bint count_include_pad,
                                    Py_ssize_t divisor_override) noexcept nogil:
    """Output row oh's window count (axis_count), or divisor_override."""
    return (divisor_override if divisor_override > 0 else
            axis_count(oh * w.stride[1] - w.padding[1], w.in_size[1], w.kernel[1], w.padding[1],
                       count_include_pad))


cdef void avg_padded_forward_planes(const floating* input, floating* out, const Window* w,
                                    Py_ssize_t first, Py_ssize_t stop, bint count_include_pad,
                                    Py_ssize_t divisor_override) noexcept nogil:
    """Planes [first, stop): each copied into the scratch, whose zero margins stay from one
    plane to the next, then every output row in one vector pass and one division pass."""
    cdef floating scratch[PADDED_PLANE_ELEMENTS]
    cdef floating column_counts[PADDED_PLANE_WIDTH]
    cdef PaddedPlane p = padded_plane(w)
    cdef Py_ssize_t in_width = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t in_plane = w.in_size[1] * in_width, out_plane = w.out_size[1] * out_width
    cdef Py_ssize_t plane, h, oh, ow
    cdef floating* row
    cdef floating row_count
    column_counts_of(w, count_include_pad, divisor_override, column_counts)
    memset(scratch, 0, p.height * p.width * sizeof(floating))
    for plane in range(first, stop):
        for h in range(p.copy_height):
            memcpy(scratch + (h + p.top) * p.width + p.left,
                   input + plane * in_plane + h * in_width, p.copy_width * sizeof(floating))
        for oh in range(w.out_size[1]):
            row = out + plane * out_plane + oh * out_width
            # Window sums (divisor 1: exact, and folded away), then the divisors.
            avg_window_shapes(scratch, oh * w.stride[1] * p.width, p.width, w, 1, row, 0,
                              out_width)
            row_count = <floating>row_count_of(w, oh, count_include_pad, divisor_override)
            for ow in range(out_width):
                row[ow] = row[ow] / (row_count * column_counts[ow])


cdef void avg_padded_backward_planes(const floating* grad_output, floating* grad_input,
                                     const Window* w, Py_ssize_t first, Py_ssize_t stop,
                                     bint count_include_pad,
                                     Py_ssize_t divisor_override) noexcept nogil:
    """Planes [first, stop): each output row's shares divided once, spread over the zeroed
    scratch's rows in ascending output order, then the input's part copied out (zeros for
    the rows and columns no window covers)."""
    cdef floating scratch[PADDED_PLANE_ELEMENTS]
    cdef floating column_counts[PADDED_PLANE_WIDTH]
    cdef floating shares[PADDED_PLANE_WIDTH]
    cdef PaddedPlane p = padded_plane(w)
    cdef Py_ssize_t in_width = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t in_plane = w.in_size[1] * in_width, out_plane = w.out_size[1] * out_width
    cdef Py_ssize_t plane, h, oh, ow, kh
    cdef const floating* gradient_row
    cdef floating* grad_row
    cdef floating row_count
    column_counts_of(w, count_include_pad, divisor_override, column_counts)
    for plane in range(first, stop):
        memset(scratch, 0, p.height * p.width * sizeof(floating))
        for oh in range(w.out_size[1]):
            gradient_row = grad_output + plane * out_plane + oh * out_width
            row_count = <floating>row_count_of(w, oh, count_include_pad, divisor_override)
            for ow in range(out_width):
                shares[ow] = gradient_row[ow] / (row_count * column_counts[ow])
            for kh in range(w.kernel[1]):
                avg_spread_shapes(shares, scratch + (oh * w.stride[1] + kh) * p.width, 0,
                                  w.stride[2], w.kernel[2], 1, 0, out_width, False)
        for h in range(w.in_size[1]):
            grad_row = grad_input + plane * in_plane + h * in_width
            if h < p.copy_height:
                memcpy(grad_row, scratch + (h + p.top) * p.width + p.left,
                       p.copy_width * sizeof(floating))
                memset(grad_row + p.copy_width, 0, (in_width - p.copy_width) * sizeof(floating))
            else:
                memset(grad_row, 0, in_width * sizeof(floating))


cdef inline Py_ssize_t padded_plane_block(Py_ssize_t n_planes, int n_threads) noexcept nogil:
    """Planes per parallel task: up to PADDED_PLANE_BLOCK, at least 4 tasks per thread."""
    return max(1, min(<Py_ssize_t>PADDED_PLANE_BLOCK, n_planes // (4 * n_threads)))


cdef void avg_padded_forward(const floating* input, floating* out, const Window* w,
                             Py_ssize_t n_planes, bint count_include_pad,
                             Py_ssize_t divisor_override, int n_threads) noexcept nogil:
    cdef Py_ssize_t block_size = padded_plane_block(n_planes, n_threads), block
    for block in prange((n_planes + block_size - 1) // block_size, schedule="static",
                        num_threads=n_threads):
        avg_padded_forward_planes(input, out, w, block * block_size,
                                  min(block * block_size + block_size, n_planes),
                                  count_include_pad, divisor_override)


cdef void avg_padded_backward(const floating* grad_output, floating* grad_input,
                              const Window* w, Py_ssize_t n_planes, bint count_include_pad,
                              Py_ssize_t divisor_override, int n_threads) noexcept nogil:
    cdef Py_ssize_t block_size = padded_plane_block(n_planes, n_threads), block
    for block in prange((n_planes + block_size - 1) // block_size, schedule="static",
                        num_threads=n_threads):
        avg_padded_backward_planes(grad_output, grad_input, w, block * block_size,
                                   min(block * block_size + block_size, n_planes),
                                   count_include_pad, divisor_override)


# The max forward's phase path (3-tap windows of stride 1 or 2 along the row) splits each input
# row under a chunk's windows into phases for every output row that reads it: 1.5 times per
# row for stride 2, 3 times for stride 1, and on rows of 14 to 56 outputs the split's set-up
# and remainders cost as much as its copy. A 1-d or 2-d plane whose phases fit the scratch (and
# whose output rows fit one chunk) is split once, row by row, and every output row then merges
# its valid rows' phases from the scratch: the same passes in the same order, so the same
# values and indices.

cdef inline Py_ssize_t phase_row_count(const Window* w, Py_ssize_t item_size) noexcept nogil:
    """Chunk columns of a split row: the output width rounded up to whole vectors (each phase
    holds these and (kernel - 1) // stride more)."""
    cdef Py_ssize_t lanes = CYPOOL_VECTOR_BYTES // item_size
    return (w.out_size[2] + lanes - 1) // lanes * lanes


cdef bint takes_phase_planes(const Window* w, Py_ssize_t item_size, Py_ssize_t n_planes,
                             int n_threads) noexcept nogil:
    """Whether these max-pooling planes take the phase path with each row split once."""
    cdef Py_ssize_t phase_length = (phase_row_count(w, item_size)
                                    + (w.kernel[2] - 1) // w.stride[2])
    return (takes_phase_path(w, item_size) and w.in_size[0] == 1 and w.kernel[0] == 1
            and w.out_size[2] <= PHASE_CHUNK
            and w.in_size[1] * w.stride[2] * phase_length <= PADDED_PLANE_ELEMENTS
            and n_planes >= 4 * n_threads)


cdef void max_phase_planes(const max_value_t* input, max_value_t* values, index_t* indices,
                           const Window* w, Py_ssize_t first, Py_ssize_t stop) noexcept nogil:
    """Planes [first, stop) of the phase path with each row split once; `indices` may be NULL
    (values only)."""
    cdef max_value_t scratch[PADDED_PLANE_ELEMENTS]
    cdef max_value_t best[PHASE_CHUNK]
    cdef int32_t where[PHASE_CHUNK]
    cdef Py_ssize_t width = w.in_size[2], stride = w.stride[2], out_width = w.out_size[2]
    cdef Py_ssize_t count = phase_row_count(w, sizeof(max_value_t))
    cdef Py_ssize_t phase_length = count + (w.kernel[2] - 1) // stride
    cdef Py_ssize_t row_elements = stride * phase_length, start = -w.padding[2]
    cdef Py_ssize_t in_plane = w.in_size[1] * width, out_plane = w.out_size[1] * out_width
    cdef Py_ssize_t plane, h, oh, r, h_start, h_first, h_stop, row
    cdef const max_value_t* source
    cdef max_value_t lowest
    cdef max_value_t* plane_values
    cdef index_t* plane_indices
    for plane in range(first, stop):
        source = input + plane * in_plane
        lowest = lowest_value(source[0])
        for h in range(w.in_size[1]):
            split_row(source + h * width, width, start, stride, phase_length, lowest,
                      scratch + h * row_elements)
        plane_values = values + plane * out_plane
        plane_indices = (indices + plane * out_plane) if indices != NULL else NULL
        for oh in range(w.out_size[1]):
            h_start = oh * w.stride[1] - w.padding[1]
            valid_taps(h_start, w.in_size[1], w.kernel[1], w.dilation[1], &h_first, &h_stop)
            for r in range(h_first, h_stop):
                row = h_start + r * w.dilation[1]
                max_phase_pass(NULL, NULL, scratch + row * row_elements, w, start,
                               phase_length, lowest, best,
                               where if indices != NULL else NULL, count,
                               <int32_t>(row * width), r == h_first)
            store_phase_chunk(source, plane_values + oh * out_width,
                              (plane_indices + oh * out_width) if indices != NULL else NULL,
                              w, best, where, 0, out_width, start, lowest, 0, 1, h_first,
                              h_stop, 0, h_start)


cdef void max_phase_planes_parallel(const max_value_t* input, max_value_t* values,
                                    index_t* indices, const Window* w, Py_ssize_t n_planes,
                                    int n_threads) noexcept nogil:
    cdef Py_ssize_t block_size = padded_plane_block(n_planes, n_threads), block
    for block in prange((n_planes + block_size - 1) // block_size, schedule="static",
                        num_threads=n_threads):
        max_phase_planes(input, values, indices, w, block * block_size,
                         min(block * block_size + block_size, n_planes))


# For the tests, which pick planes just inside and just outside the scratch.
PADDED_PLANE_LIMITS = {"elements": PADDED_PLANE_ELEMENTS, "width": PADDED_PLANE_WIDTH,
                       "phase_chunk": PHASE_CHUNK}
