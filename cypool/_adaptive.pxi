# Adaptive and global pooling kernels: one source for every dtype (fused `floating`, `index_t`)
# and every ISA level; each cypool/_kernels_<level>.pyx includes this file after _kernels.pxi,
# whose row helpers (max_width_shapes, avg_width_shapes, next_row, ROW_BLOCK) it reuses.
#
# Adaptive windows (PyTorch's): along an axis of input length L and output length O, output o
# covers [floor(o*L/O), ceil((o+1)*L/O)). When O divides L every window is [o*k, o*k + k) with
# k = L/O: the width then takes the vectorised fixed-window row helpers, else a scalar path.
# The Python wrappers validate everything; kernels trust their arguments.

import numpy as np
#
# Rules, as PyTorch 2.13 CPU computes them (each checked bit for bit by the tests):
# - Max: taps in raster order, `v > best or isnan(v)` replaces (first maximum, last NaN).
# - Average: sum from +0 in the input dtype in raster order, then `sum / kd / kh / kw` (three
#   true divisions, in that order; 1-d and 2-d have kd = kh = 1 or kd = 1, and x / 1 is exact).
# - Average backward: each input element sums `g / kd / kh / kw` of the outputs covering it in
#   output raster order, from +0. Three kernels keep that order, and none depends on the thread
#   count: windows that tile the input take avg_tile_backward_rows; many planes are scattered
#   a plane per task (adaptive_avg_scatter_planes); else a gather per input row.
# - Global average (and adaptive average to an all-ones output, which PyTorch computes as
#   `input.mean(spatial axes)`): PyTorch's cascade sum of each plane, then one division by the
#   plane size; backward `g / plane size`. See torch_plane_sum.

from cython.parallel cimport parallel, threadid
from libc.stdint cimport INT32_MAX
from libc.stdlib cimport free, malloc


cdef struct AdaptiveWindow:
    Py_ssize_t in_size[3]
    Py_ssize_t out_size[3]
    # in_size[2] // out_size[2] when out_size[2] divides in_size[2], else 0.
    Py_ssize_t uniform_width


cdef AdaptiveWindow make_adaptive_window(tuple in_size, tuple out_size) except *:
    cdef AdaptiveWindow window
    cdef int axis
    for axis in range(3):
        window.in_size[axis] = in_size[axis]
        window.out_size[axis] = out_size[axis]
    window.uniform_width = 0
    if window.in_size[2] % window.out_size[2] == 0:
        window.uniform_width = window.in_size[2] // window.out_size[2]
    return window


cdef inline Py_ssize_t adaptive_start(Py_ssize_t o, Py_ssize_t out_size,
                                      Py_ssize_t in_size) noexcept nogil:
    return (o * in_size) // out_size


cdef inline Py_ssize_t adaptive_stop(Py_ssize_t o, Py_ssize_t out_size,
                                     Py_ssize_t in_size) noexcept nogil:
    return ((o + 1) * in_size + out_size - 1) // out_size


cdef inline void adaptive_covering(Py_ssize_t i, Py_ssize_t out_size, Py_ssize_t in_size,
                                   Py_ssize_t* first, Py_ssize_t* stop) noexcept nogil:
    """Outputs o in [first, stop) whose window holds input position i:
    start(o) <= i  <=>  o < ceil((i+1)*O/L);  stop(o) > i  <=>  o >= floor(i*O/L)."""
    first[0] = (i * out_size) // in_size
    stop[0] = ((i + 1) * out_size + in_size - 1) // in_size


# ---------------------------------------------------------------------------------------------
# Adaptive max pooling, forward.

cdef inline void adaptive_max_uniform_pass(const floating* plane, Py_ssize_t row_start,
                                           Py_ssize_t k, floating* values, index_t* indices,
                                           Py_ssize_t out_width, bint is_first) noexcept nogil:
    """One input row's taps for every column of a uniform-width row (windows k wide, step k)."""
    if indices != NULL:
        if is_first:
            max_width_shapes(plane, row_start, k, k, 1, values, indices, 0, out_width, True,
                             True)
        else:
            max_width_shapes(plane, row_start, k, k, 1, values, indices, 0, out_width, False,
                             True)
    else:
        if is_first:
            max_width_shapes(plane, row_start, k, k, 1, values, indices, 0, out_width, True,
                             False)
        else:
            max_width_shapes(plane, row_start, k, k, 1, values, indices, 0, out_width, False,
                             False)


cdef inline void adaptive_max_row(const floating* plane, floating* values, index_t* indices,
                                  const AdaptiveWindow* w, Py_ssize_t od,
                                  Py_ssize_t oh) noexcept nogil:
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t d0 = adaptive_start(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t d1 = adaptive_stop(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t h0 = adaptive_start(oh, w.out_size[1], H)
    cdef Py_ssize_t h1 = adaptive_stop(oh, w.out_size[1], H)
    cdef Py_ssize_t d, h, iw, ow, w0, w1, position, best_position
    cdef floating value, best
    cdef bint take, is_first = True
    if w.uniform_width > 0:
        # Rows of the window in raster order, each row's taps left to right.
        for d in range(d0, d1):
            for h in range(h0, h1):
                adaptive_max_uniform_pass(plane, (d * H + h) * W, w.uniform_width, values,
                                          indices, out_width, is_first)
                is_first = False
        return
    for ow in range(out_width):
        w0 = adaptive_start(ow, out_width, W)
        w1 = adaptive_stop(ow, out_width, W)
        best_position = (d0 * H + h0) * W + w0
        best = plane[best_position]
        for d in range(d0, d1):
            for h in range(h0, h1):
                for iw in range(w0, w1):
                    position = (d * H + h) * W + iw
                    value = plane[position]
                    take = max_takes(value, best)
                    best = value if take else best
                    best_position = position if take else best_position
        values[ow] = best
        if indices != NULL:
            indices[ow] = best_position


cdef void adaptive_max_rows(const floating* input, floating* values, index_t* indices,
                            const AdaptiveWindow* w, Py_ssize_t n_planes,
                            int n_threads) noexcept nogil:
    """Every output row of every plane, ROW_BLOCK consecutive rows per parallel task;
    `indices` may be NULL (values only)."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_width = w.out_size[2]
    cdef Py_ssize_t n_rows = n_planes * w.out_size[0] * w.out_size[1]
    cdef Py_ssize_t block, row, stop, plane, od, oh
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                        num_threads=n_threads):
        row = block * ROW_BLOCK
        stop = min(row + ROW_BLOCK, n_rows)
        oh = row % w.out_size[1]
        od = (row // w.out_size[1]) % w.out_size[0]
        plane = row // (w.out_size[1] * w.out_size[0])
        while row < stop:
            adaptive_max_row(input + plane * in_plane_size, values + row * out_width,
                             (indices + row * out_width) if indices != NULL else NULL, w,
                             od, oh)
            next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
            row = row + 1


# Narrow output rows (7 columns from 14, say) leave the row kernels above little to vectorise.
# For small planes with uniform-width windows, a plane is then done in two passes: first the
# width maxima of every input row, which is one long strided row (W = OW * k, so the window of
# column ow of input row r starts at (r * OW + ow) * k, and that is its flat position in the
# plane); then each output row merges the rows of its window in order. Rows in raster order,
# each reduced under the strict rule, then merged under the same rule, give the same winner as
# the plain raster scan: the last NaN if there is one, else the first maximum.

cdef enum:
    SEPARABLE_ROW_VALUES = 4096  # largest D * H * OW done in two passes (stack scratch)
    SEPARABLE_MAX_WIDTH = 32     # wider output rows vectorise well in the row kernels


cdef inline void adaptive_max_separable_plane(const floating* plane, floating* values,
                                              index_t* indices,
                                              const AdaptiveWindow* w) noexcept nogil:
    cdef floating row_best[SEPARABLE_ROW_VALUES]
    cdef index_t row_where[SEPARABLE_ROW_VALUES]
    cdef Py_ssize_t H = w.in_size[1], out_width = w.out_size[2]
    cdef Py_ssize_t od, oh, ow, d, h, d0, d1, h0, h1, first, row
    cdef floating* out_values
    cdef index_t* out_indices
    cdef index_t* where_scratch = NULL
    cdef floating value
    cdef bint take
    if indices != NULL:
        where_scratch = row_where
    adaptive_max_uniform_pass(plane, 0, w.uniform_width, row_best, where_scratch,
                              w.in_size[0] * H * out_width, True)
    for od in range(w.out_size[0]):
        d0 = adaptive_start(od, w.out_size[0], w.in_size[0])
        d1 = adaptive_stop(od, w.out_size[0], w.in_size[0])
        for oh in range(w.out_size[1]):
            h0 = adaptive_start(oh, w.out_size[1], H)
            h1 = adaptive_stop(oh, w.out_size[1], H)
            out_values = values + (od * w.out_size[1] + oh) * out_width
            out_indices = NULL
            first = (d0 * H + h0) * out_width
            for ow in range(out_width):
                out_values[ow] = row_best[first + ow]
            if indices != NULL:
                out_indices = indices + (od * w.out_size[1] + oh) * out_width
                for ow in range(out_width):
                    out_indices[ow] = row_where[first + ow]
            for d in range(d0, d1):
                for h in range(h0, h1):
                    row = (d * H + h) * out_width
                    if row == first:
                        continue
                    for ow in range(out_width):
                        value = row_best[row + ow]
                        take = max_takes(value, out_values[ow])
                        out_values[ow] = value if take else out_values[ow]
                        if indices != NULL:
                            out_indices[ow] = row_where[row + ow] if take else out_indices[ow]


cdef void adaptive_max_separable_planes(const floating* input, floating* values,
                                        index_t* indices, const AdaptiveWindow* w,
                                        Py_ssize_t n_planes, int n_threads) noexcept nogil:
    """One plane per parallel task, in two passes; `indices` may be NULL (values only)."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_plane_size = w.out_size[0] * w.out_size[1] * w.out_size[2]
    cdef Py_ssize_t plane
    for plane in prange(n_planes, schedule="static", num_threads=n_threads):
        adaptive_max_separable_plane(input + plane * in_plane_size,
                                     values + plane * out_plane_size,
                                     (indices + plane * out_plane_size)
                                     if indices != NULL else NULL, w)


cdef inline bint adaptive_max_is_separable(const AdaptiveWindow* w) noexcept nogil:
    return (w.uniform_width > 0 and w.out_size[2] < SEPARABLE_MAX_WIDTH
            and w.in_size[0] * w.in_size[1] * w.out_size[2] <= SEPARABLE_ROW_VALUES)


# Windows of varying width (an output width that does not divide the input's) leave each output
# a scalar chain of taps. When there are many planes, PLANE_GROUP of them are pooled side by
# side instead. A task copies the input rows under a strip of output rows (consecutive rows
# along H at one output depth) of a group of planes into a scratch band with the planes
# interleaved, band[((depth row * strip height + height row) * W + iw) * PLANE_GROUP + p]; every
# tap is then a vector over the planes. The planes share their windows, so each lane sees the
# taps in raster order and follows the rules above (max: first maximum, last NaN; average: the
# raster-order sum from +0 divided by the window's depth, height and width in turn). Strips
# make the copy read each plane in long runs, a few planes at a time. A band per output row read
# all the group's planes at once in short runs: (16, 64, 57, 43) float64 to 7x7, a 20 MB input,
# took 2.2 ms at 1 thread so, 1.6 ms in strips (its read alone takes about 1.5 ms here).

cdef enum:
    # Planes side by side: their running maxima (or sums) stay in vector registers over a
    # window's taps. (At 16 or fewer GCC unrolls the loop over the planes into scalar code with
    # branches, as in max_block_cl, and it ran as slowly as a plane at a time.)
    PLANE_GROUP = 32
    GROUP_BAND_BYTES = 512 * 1024  # largest band in the scratch (each thread has one)


cdef struct GroupStrips:
    Py_ssize_t rows    # output rows per strip (the last strip of a depth may have fewer)
    Py_ssize_t count   # strips per output depth
    Py_ssize_t pixels  # most pixels (input rows x W) a strip's band holds


cdef extern from *:
    """
    /* Transposes in registers, with __builtin_shufflevector (clang, and GCC from 12):
       cypool_transpose8_float(r, c) leaves element k of r[0], ..., r[7] (eight vectors of
       eight floats) in c[k]; cypool_transpose4_double likewise for four vectors of four
       doubles. cypool_interleave_float and _double lay 8 (float) or 4 (double) rows of n
       values, `stride` apart, side by side: out[i * out_stride + p] = x[p * stride + i]; they
       move the elements one by one where the builtin is missing, and for the last n % 8 (4). */
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__has_builtin)
    #if __has_builtin(__builtin_shufflevector)
    #define CYPOOL_TRANSPOSE_IN_REGISTERS 1
    #endif
    #endif

    #ifdef CYPOOL_TRANSPOSE_IN_REGISTERS
    typedef float cypool_float8 __attribute__((vector_size(32)));
    typedef double cypool_double4 __attribute__((vector_size(32)));
    #define CYPOOL_SHUFFLE __builtin_shufflevector
    static inline void cypool_transpose8_float(const cypool_float8* r, cypool_float8* c) {
        cypool_float8 t0, t1, t2, t3, t4, t5, t6, t7, s0, s1, s2, s3, s4, s5, s6, s7;
        t0 = CYPOOL_SHUFFLE(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
        t1 = CYPOOL_SHUFFLE(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
        t2 = CYPOOL_SHUFFLE(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
        t3 = CYPOOL_SHUFFLE(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
        t4 = CYPOOL_SHUFFLE(r[4], r[5], 0, 8, 1, 9, 4, 12, 5, 13);
        t5 = CYPOOL_SHUFFLE(r[4], r[5], 2, 10, 3, 11, 6, 14, 7, 15);
        t6 = CYPOOL_SHUFFLE(r[6], r[7], 0, 8, 1, 9, 4, 12, 5, 13);
        t7 = CYPOOL_SHUFFLE(r[6], r[7], 2, 10, 3, 11, 6, 14, 7, 15);
        s0 = CYPOOL_SHUFFLE(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
        s1 = CYPOOL_SHUFFLE(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
        s2 = CYPOOL_SHUFFLE(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
        s3 = CYPOOL_SHUFFLE(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
        s4 = CYPOOL_SHUFFLE(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
        s5 = CYPOOL_SHUFFLE(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
        s6 = CYPOOL_SHUFFLE(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
        s7 = CYPOOL_SHUFFLE(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
        c[0] = CYPOOL_SHUFFLE(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11);
        c[1] = CYPOOL_SHUFFLE(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11);
        c[2] = CYPOOL_SHUFFLE(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11);
        c[3] = CYPOOL_SHUFFLE(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11);
        c[4] = CYPOOL_SHUFFLE(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
        c[5] = CYPOOL_SHUFFLE(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
        c[6] = CYPOOL_SHUFFLE(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
        c[7] = CYPOOL_SHUFFLE(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
    }
    static inline void cypool_transpose4_double(const cypool_double4* r, cypool_double4* c) {
        cypool_double4 t0, t1, t2, t3;
        t0 = CYPOOL_SHUFFLE(r[0], r[1], 0, 4, 2, 6);
        t1 = CYPOOL_SHUFFLE(r[0], r[1], 1, 5, 3, 7);
        t2 = CYPOOL_SHUFFLE(r[2], r[3], 0, 4, 2, 6);
        t3 = CYPOOL_SHUFFLE(r[2], r[3], 1, 5, 3, 7);
        c[0] = CYPOOL_SHUFFLE(t0, t2, 0, 1, 4, 5);
        c[1] = CYPOOL_SHUFFLE(t1, t3, 0, 1, 4, 5);
        c[2] = CYPOOL_SHUFFLE(t0, t2, 2, 3, 6, 7);
        c[3] = CYPOOL_SHUFFLE(t1, t3, 2, 3, 6, 7);
    }
    #endif

    /* The rows' tails, and every element where the builtin is missing, one by one. */
    #define CYPOOL_INTERLEAVE_REST(ROWS)                                                    \\
        for (; i < n; i++)                                                                  \\
            for (p = 0; p < ROWS; p++) out[i * out_stride + p] = x[p * stride + i];
    /* Vectors from and to unaligned memory (each index a literal, so that the arrays of
       vectors stay in registers). */
    #define CYPOOL_LOAD(v, from) memcpy(&(v), (from), sizeof (v))
    #define CYPOOL_STORE(to, v) memcpy((to), &(v), sizeof (v))

    static void cypool_interleave_float(const float* x, Py_ssize_t stride, Py_ssize_t n,
                                        float* out, Py_ssize_t out_stride) {
        Py_ssize_t i = 0;
        int p;
    #ifdef CYPOOL_TRANSPOSE_IN_REGISTERS
        cypool_float8 r[8], c[8];
        for (; i + 8 <= n; i += 8) {
            CYPOOL_LOAD(r[0], x + i);
            CYPOOL_LOAD(r[1], x + stride + i);
            CYPOOL_LOAD(r[2], x + 2 * stride + i);
            CYPOOL_LOAD(r[3], x + 3 * stride + i);
            CYPOOL_LOAD(r[4], x + 4 * stride + i);
            CYPOOL_LOAD(r[5], x + 5 * stride + i);
            CYPOOL_LOAD(r[6], x + 6 * stride + i);
            CYPOOL_LOAD(r[7], x + 7 * stride + i);
            cypool_transpose8_float(r, c);
            CYPOOL_STORE(out + i * out_stride, c[0]);
            CYPOOL_STORE(out + (i + 1) * out_stride, c[1]);
            CYPOOL_STORE(out + (i + 2) * out_stride, c[2]);
            CYPOOL_STORE(out + (i + 3) * out_stride, c[3]);
            CYPOOL_STORE(out + (i + 4) * out_stride, c[4]);
            CYPOOL_STORE(out + (i + 5) * out_stride, c[5]);
            CYPOOL_STORE(out + (i + 6) * out_stride, c[6]);
            CYPOOL_STORE(out + (i + 7) * out_stride, c[7]);
        }
    #endif
        CYPOOL_INTERLEAVE_REST(8)
    }

    static void cypool_interleave_double(const double* x, Py_ssize_t stride, Py_ssize_t n,
                                         double* out, Py_ssize_t out_stride) {
        Py_ssize_t i = 0;
        int p;
    #ifdef CYPOOL_TRANSPOSE_IN_REGISTERS
        cypool_double4 r[4], c[4];
        for (; i + 4 <= n; i += 4) {
            CYPOOL_LOAD(r[0], x + i);
            CYPOOL_LOAD(r[1], x + stride + i);
            CYPOOL_LOAD(r[2], x + 2 * stride + i);
            CYPOOL_LOAD(r[3], x + 3 * stride + i);
            cypool_transpose4_double(r, c);
            CYPOOL_STORE(out + i * out_stride, c[0]);
            CYPOOL_STORE(out + (i + 1) * out_stride, c[1]);
            CYPOOL_STORE(out + (i + 2) * out_stride, c[2]);
            CYPOOL_STORE(out + (i + 3) * out_stride, c[3]);
        }
    #endif
        CYPOOL_INTERLEAVE_REST(4)
    }
    """
    void cypool_interleave_float(const float* x, Py_ssize_t stride, Py_ssize_t n, float* out,
                                 Py_ssize_t out_stride) noexcept nogil
    void cypool_interleave_double(const double* x, Py_ssize_t stride, Py_ssize_t n,
                                  double* out, Py_ssize_t out_stride) noexcept nogil


cdef inline Py_ssize_t strip_height(const AdaptiveWindow* w, Py_ssize_t first,
                                    Py_ssize_t stop) noexcept nogil:
    """Input rows under output rows [first, stop) (along H)."""
    return (adaptive_stop(stop - 1, w.out_size[1], w.in_size[1])
            - adaptive_start(first, w.out_size[1], w.in_size[1]))


cdef inline void interleave_strip(const floating* planes, Py_ssize_t plane_size,
                                  const AdaptiveWindow* w, Py_ssize_t od, Py_ssize_t h0,
                                  Py_ssize_t height, floating* band) noexcept nogil:
    """The `height` input rows from row h0 at depth od (a strip's), planes interleaved: a
    vector's worth of planes at a time (8 float32, 4 float64), transposed in registers. The
    rows of a depth are contiguous in each plane, so each plane is read in one run per depth
    (and only that run's last elements, past a multiple of the vector, move one by one)."""
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2]
    cdef Py_ssize_t d0 = adaptive_start(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t d1 = adaptive_stop(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t run = height * W
    cdef Py_ssize_t d, block
    cdef const floating* source
    for d in range(d0, d1):
        source = planes + (d * H + h0) * W
        if floating is float:
            for block in range(PLANE_GROUP // 8):
                cypool_interleave_float(source + block * 8 * plane_size, plane_size, run,
                                        band + (d - d0) * run * PLANE_GROUP + block * 8,
                                        PLANE_GROUP)
        else:
            for block in range(PLANE_GROUP // 4):
                cypool_interleave_double(source + block * 4 * plane_size, plane_size, run,
                                         band + (d - d0) * run * PLANE_GROUP + block * 4,
                                         PLANE_GROUP)


cdef inline void interleaved_max_row(const floating* band, Py_ssize_t band_height,
                                     Py_ssize_t band_h0, const AdaptiveWindow* w,
                                     Py_ssize_t od, Py_ssize_t oh, floating* values,
                                     index_t* indices, Py_ssize_t out_plane_size) noexcept nogil:
    """Output row (od, oh) of PLANE_GROUP planes from a band of band_height rows per depth
    row, from input row band_h0; `values` and `indices` point at the row in the first plane,
    `indices` may be NULL (values only).

    As in max_block_cl, the running maxima start from the lowest value, and the argmaxes are
    int32 offsets from the position before the window's first tap (the caller checks that a
    plane has fewer than 2**31 - 1 positions): that keeps both in vector registers, where a
    copy of the first tap and 64-bit positions made GCC compare lane by lane with branches."""
    cdef floating best[PLANE_GROUP]
    cdef int32_t where[PLANE_GROUP]
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t d0 = adaptive_start(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t d1 = adaptive_stop(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t h0 = adaptive_start(oh, w.out_size[1], H)
    cdef Py_ssize_t h1 = adaptive_stop(oh, w.out_size[1], H)
    cdef Py_ssize_t ow, w0, w1, d, h, iw, p, origin
    cdef int32_t offset
    cdef const floating* taps
    cdef floating value
    cdef bint take
    for ow in range(out_width):
        w0 = adaptive_start(ow, out_width, W)
        w1 = adaptive_stop(ow, out_width, W)
        origin = (d0 * H + h0) * W + w0 - 1
        for p in range(PLANE_GROUP):
            best[p] = lowest_value(band[0])
            where[p] = 1
        for d in range(d0, d1):
            for h in range(h0, h1):
                taps = band + ((d - d0) * band_height + h - band_h0) * W * PLANE_GROUP
                for iw in range(w0, w1):
                    offset = <int32_t>((d * H + h) * W + iw - origin)
                    for p in range(PLANE_GROUP):
                        value = taps[iw * PLANE_GROUP + p]
                        take = max_takes(value, best[p])
                        best[p] = value if take else best[p]
                        where[p] = offset if take else where[p]
        for p in range(PLANE_GROUP):
            values[p * out_plane_size + ow] = best[p]
        if indices != NULL:
            for p in range(PLANE_GROUP):
                indices[p * out_plane_size + ow] = <index_t>(origin + where[p])


cdef inline void interleaved_avg_row(const floating* band, Py_ssize_t band_height,
                                     Py_ssize_t band_h0, const AdaptiveWindow* w,
                                     Py_ssize_t od, Py_ssize_t oh, floating* out,
                                     Py_ssize_t out_plane_size) noexcept nogil:
    """Output row (od, oh) of PLANE_GROUP planes from a band as interleaved_max_row's; `out`
    points at the row in the first plane."""
    cdef floating total[PLANE_GROUP]
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t d0 = adaptive_start(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t d1 = adaptive_stop(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t h0 = adaptive_start(oh, w.out_size[1], H)
    cdef Py_ssize_t h1 = adaptive_stop(oh, w.out_size[1], H)
    cdef floating depth_taps = <floating>(d1 - d0), height_taps = <floating>(h1 - h0)
    cdef floating width_taps
    cdef Py_ssize_t ow, w0, w1, d, h, iw, p
    cdef const floating* taps
    for ow in range(out_width):
        w0 = adaptive_start(ow, out_width, W)
        w1 = adaptive_stop(ow, out_width, W)
        for p in range(PLANE_GROUP):
            total[p] = 0
        for d in range(d0, d1):
            for h in range(h0, h1):
                taps = band + ((d - d0) * band_height + h - band_h0) * W * PLANE_GROUP
                for iw in range(w0, w1):
                    for p in range(PLANE_GROUP):
                        total[p] = total[p] + taps[iw * PLANE_GROUP + p]
        width_taps = <floating>(w1 - w0)
        for p in range(PLANE_GROUP):
            out[p * out_plane_size + ow] = total[p] / depth_taps / height_taps / width_taps


cdef Py_ssize_t strip_pixels(const AdaptiveWindow* w, Py_ssize_t rows) noexcept nogil:
    """Most pixels in the band of a strip of `rows` output rows (strips start at multiples of
    `rows`)."""
    cdef Py_ssize_t o, strip, depth = 0, height = 0
    for o in range(w.out_size[0]):
        depth = max(depth, adaptive_stop(o, w.out_size[0], w.in_size[0])
                    - adaptive_start(o, w.out_size[0], w.in_size[0]))
    for strip in range((w.out_size[1] + rows - 1) // rows):
        height = max(height, strip_height(w, strip * rows, min(strip * rows + rows,
                                                                w.out_size[1])))
    return depth * height * w.in_size[2]


cdef GroupStrips group_strips(const AdaptiveWindow* w, Py_ssize_t n_planes,
                              Py_ssize_t item_size) noexcept nogil:
    """The strips for planes in groups, the most output rows whose bands of PLANE_GROUP
    planes of `item_size` bytes fit GROUP_BAND_BYTES; rows 0 when the planes do not go in
    groups: their widths must vary (uniform widths take the vectorised row helpers), there
    must be planes to fill a group, positions must fit interleaved_max_row's int32 offsets,
    and a row's band must fit."""
    cdef GroupStrips strips
    cdef Py_ssize_t fitting = 0, too_many = w.out_size[1] + 1, rows
    cdef Py_ssize_t most_pixels = GROUP_BAND_BYTES // (PLANE_GROUP * item_size)
    strips.rows = 0
    if (w.uniform_width > 0 or n_planes < PLANE_GROUP
            or w.in_size[0] * w.in_size[1] * w.in_size[2] >= INT32_MAX):
        return strips
    # Bisection for the most rows whose bands fit (more rows hold as many pixels or more,
    # nearly always; whatever count it settles on fits).
    while too_many - fitting > 1:
        rows = (fitting + too_many) // 2
        if strip_pixels(w, rows) <= most_pixels:
            fitting = rows
        else:
            too_many = rows
    if fitting > 0:
        strips.rows = fitting
        strips.count = (w.out_size[1] + fitting - 1) // fitting
        strips.pixels = strip_pixels(w, fitting)
    return strips


cdef void adaptive_grouped_planes(const floating* input, floating* values, index_t* indices,
                                  const AdaptiveWindow* w, Py_ssize_t n_groups,
                                  const GroupStrips* strips, bint is_max, floating* bands,
                                  int n_threads) noexcept nogil:
    """Groups of PLANE_GROUP planes, a strip of a group per parallel task: max pooling
    (`indices` may be NULL) or, unless is_max, average pooling into `values`. `bands` holds a
    band of strips.pixels * PLANE_GROUP elements per thread."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_plane_size = w.out_size[0] * w.out_size[1] * w.out_size[2]
    cdef Py_ssize_t strips_per_group = w.out_size[0] * strips.count
    cdef Py_ssize_t task, group, od, first, stop, oh, height, h0, out_offset
    cdef floating* band
    with parallel(num_threads=n_threads):
        band = bands + threadid() * strips.pixels * PLANE_GROUP
        for task in prange(n_groups * strips_per_group, schedule="static"):
            group = task // strips_per_group
            od = (task // strips.count) % w.out_size[0]
            first = (task % strips.count) * strips.rows
            stop = min(first + strips.rows, w.out_size[1])
            height = strip_height(w, first, stop)
            h0 = adaptive_start(first, w.out_size[1], w.in_size[1])
            interleave_strip(input + group * PLANE_GROUP * in_plane_size, in_plane_size, w, od,
                             h0, height, band)
            for oh in range(first, stop):
                out_offset = (group * PLANE_GROUP * out_plane_size
                              + (od * w.out_size[1] + oh) * w.out_size[2])
                if is_max:
                    interleaved_max_row(band, height, h0, w, od, oh, values + out_offset,
                                        (indices + out_offset) if indices != NULL else NULL,
                                        out_plane_size)
                else:
                    interleaved_avg_row(band, height, h0, w, od, oh, values + out_offset,
                                        out_plane_size)


cdef int adaptive_pool_grouped(const floating* input, floating* values, index_t* indices,
                               const AdaptiveWindow* w, Py_ssize_t n_planes,
                               const GroupStrips* strips, bint is_max,
                               int n_threads) except -1:
    """The planes in groups (see group_strips), those left over that do not fill a group row
    by row; arguments as adaptive_grouped_planes'."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_plane_size = w.out_size[0] * w.out_size[1] * w.out_size[2]
    cdef Py_ssize_t n_groups = n_planes // PLANE_GROUP
    cdef Py_ssize_t rest = n_groups * PLANE_GROUP
    # The bands: at most GROUP_BAND_BYTES for each thread, from the C heap for this call.
    cdef floating* bands = <floating*>malloc(
        n_threads * strips.pixels * PLANE_GROUP * sizeof(floating))
    if bands == NULL:
        raise MemoryError()
    try:
        with nogil:
            adaptive_grouped_planes(input, values, indices, w, n_groups, strips, is_max, bands,
                                    n_threads)
            if is_max:
                adaptive_max_rows(input + rest * in_plane_size, values + rest * out_plane_size,
                                  (indices + rest * out_plane_size) if indices != NULL else NULL,
                                  w, n_planes - rest, n_threads)
            else:
                adaptive_avg_rows(input + rest * in_plane_size, values + rest * out_plane_size,
                                  w, n_planes - rest, n_threads)
    finally:
        free(bands)
    return 0


def adaptive_max_pool_forward(const floating[:, :, :, ::1] input,
                              floating[:, :, :, ::1] values_out,
                              index_t[:, :, :, ::1] indices_out, int n_threads):
    """Adaptive max pooling with argmax over (planes, D, H, W) -> (planes, OD, OH, OW)."""
    cdef AdaptiveWindow w = make_adaptive_window(tuple(input.shape)[1:4],
                                                 tuple(values_out.shape)[1:4])
    cdef GroupStrips strips = group_strips(&w, input.shape[0], sizeof(floating))
    if strips.rows > 0:
        adaptive_pool_grouped(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0],
                              &indices_out[0, 0, 0, 0], &w, input.shape[0], &strips, True,
                              n_threads)
        return
    with nogil:
        if adaptive_max_is_separable(&w):
            adaptive_max_separable_planes(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0],
                                          &indices_out[0, 0, 0, 0], &w, input.shape[0],
                                          n_threads)
        else:
            adaptive_max_rows(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0],
                              &indices_out[0, 0, 0, 0], &w, input.shape[0], n_threads)


def adaptive_max_pool_forward_values(const floating[:, :, :, ::1] input,
                                     floating[:, :, :, ::1] values_out, int n_threads):
    """Adaptive max pooling without the argmax: the same rule, less memory traffic."""
    cdef AdaptiveWindow w = make_adaptive_window(tuple(input.shape)[1:4],
                                                 tuple(values_out.shape)[1:4])
    cdef GroupStrips strips = group_strips(&w, input.shape[0], sizeof(floating))
    if strips.rows > 0:
        adaptive_pool_grouped(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0], <int64_t*>NULL,
                              &w, input.shape[0], &strips, True, n_threads)
        return
    with nogil:
        if adaptive_max_is_separable(&w):
            adaptive_max_separable_planes(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0],
                                          <int64_t*>NULL, &w, input.shape[0], n_threads)
        else:
            adaptive_max_rows(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0], <int64_t*>NULL,
                              &w, input.shape[0], n_threads)


# ---------------------------------------------------------------------------------------------
# Adaptive average pooling, forward and backward.

cdef inline void adaptive_avg_uniform_pass(const floating* plane, Py_ssize_t row_start,
                                           Py_ssize_t k, floating* sums, Py_ssize_t out_width,
                                           bint is_first) noexcept nogil:
    if is_first:
        avg_width_shapes(plane, row_start, k, k, sums, 0, out_width, True)
    else:
        avg_width_shapes(plane, row_start, k, k, sums, 0, out_width, False)


cdef inline void adaptive_avg_row(const floating* plane, floating* out,
                                  const AdaptiveWindow* w, Py_ssize_t od,
                                  Py_ssize_t oh) noexcept nogil:
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t d0 = adaptive_start(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t d1 = adaptive_stop(od, w.out_size[0], w.in_size[0])
    cdef Py_ssize_t h0 = adaptive_start(oh, w.out_size[1], H)
    cdef Py_ssize_t h1 = adaptive_stop(oh, w.out_size[1], H)
    cdef floating depth_taps = <floating>(d1 - d0), height_taps = <floating>(h1 - h0)
    cdef floating width_taps, total
    cdef Py_ssize_t d, h, iw, ow, w0, w1
    cdef bint is_first = True
    if w.uniform_width > 0:
        for d in range(d0, d1):
            for h in range(h0, h1):
                adaptive_avg_uniform_pass(plane, (d * H + h) * W, w.uniform_width, out,
                                          out_width, is_first)
                is_first = False
        width_taps = <floating>w.uniform_width
        for ow in range(out_width):
            out[ow] = out[ow] / depth_taps / height_taps / width_taps
        return
    for ow in range(out_width):
        w0 = adaptive_start(ow, out_width, W)
        w1 = adaptive_stop(ow, out_width, W)
        total = 0
        for d in range(d0, d1):
            for h in range(h0, h1):
                for iw in range(w0, w1):
                    total = total + plane[(d * H + h) * W + iw]
        out[ow] = total / depth_taps / height_taps / <floating>(w1 - w0)


cdef void adaptive_avg_rows(const floating* input, floating* out, const AdaptiveWindow* w,
                            Py_ssize_t n_planes, int n_threads) noexcept nogil:
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_width = w.out_size[2]
    cdef Py_ssize_t n_rows = n_planes * w.out_size[0] * w.out_size[1]
    cdef Py_ssize_t block, row, stop, plane, od, oh
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                        num_threads=n_threads):
        row = block * ROW_BLOCK
        stop = min(row + ROW_BLOCK, n_rows)
        oh = row % w.out_size[1]
        od = (row // w.out_size[1]) % w.out_size[0]
        plane = row // (w.out_size[1] * w.out_size[0])
        while row < stop:
            adaptive_avg_row(input + plane * in_plane_size, out + row * out_width, w, od, oh)
            next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
            row = row + 1


def adaptive_avg_pool_forward(const floating[:, :, :, ::1] input, floating[:, :, :, ::1] out,
                              int n_threads):
    """Adaptive average pooling over (planes, D, H, W) -> (planes, OD, OH, OW)."""
    cdef AdaptiveWindow w = make_adaptive_window(tuple(input.shape)[1:4],
                                                 tuple(out.shape)[1:4])
    cdef GroupStrips strips = group_strips(&w, input.shape[0], sizeof(floating))
    if strips.rows > 0:
        adaptive_pool_grouped(&input[0, 0, 0, 0], &out[0, 0, 0, 0], <int64_t*>NULL, &w,
                              input.shape[0], &strips, False, n_threads)
        return
    with nogil:
        adaptive_avg_rows(&input[0, 0, 0, 0], &out[0, 0, 0, 0], &w, input.shape[0], n_threads)


cdef enum:
    # Output rows up to this wide keep their shares g / kd / kh / kw and the width windows
    # in per-task stack tables, computed once instead of once per input row they cover.
    DELTA_CACHE_WIDTH = 64
    # Planes per thread from which the backward scatters a whole plane per task (fewer planes
    # take the gather, which splits each plane's rows between the threads): enough for the
    # static schedule to keep the threads evenly loaded.
    SCATTER_PLANES_PER_THREAD = 4


cdef inline void adaptive_delta_row(const floating* grad_output_row, floating* deltas,
                                    floating divisor_d, floating divisor_h,
                                    const Py_ssize_t* starts, const Py_ssize_t* stops,
                                    Py_ssize_t out_width) noexcept nogil:
    """deltas[ow] = g[ow] / kd / kh / kw (PyTorch's three divisions, in that order)."""
    cdef Py_ssize_t ow
    for ow in range(out_width):
        deltas[ow] = (grad_output_row[ow] / divisor_d / divisor_h
                      / <floating>(stops[ow] - starts[ow]))


cdef inline void adaptive_spread_row(const floating* deltas, floating* grad_row,
                                     const Py_ssize_t* starts, const Py_ssize_t* stops,
                                     Py_ssize_t k, Py_ssize_t out_width) noexcept nogil:
    """Add each column's share to its window, columns in ascending order (k > 0: uniform
    windows k wide at step k, which never overlap)."""
    cdef Py_ssize_t ow, t, iw
    if k == 2:
        for ow in range(out_width):
            grad_row[2 * ow] = grad_row[2 * ow] + deltas[ow]
            grad_row[2 * ow + 1] = grad_row[2 * ow + 1] + deltas[ow]
    elif k > 0:
        for ow in range(out_width):
            for t in range(k):
                grad_row[ow * k + t] = grad_row[ow * k + t] + deltas[ow]
    else:
        for ow in range(out_width):
            for iw in range(starts[ow], stops[ow]):
                grad_row[iw] = grad_row[iw] + deltas[ow]


cdef inline void adaptive_width_windows(Py_ssize_t in_width, Py_ssize_t out_width,
                                        Py_ssize_t* starts, Py_ssize_t* stops) noexcept nogil:
    """starts[ow], stops[ow] of every width window, stepped instead of divided: with
    o * W = q * OW + r, start(o) = q and stop(o) = q' + (r' > 0) for o + 1's (q', r')."""
    cdef Py_ssize_t ow, quotient = 0, remainder = 0
    for ow in range(out_width):
        starts[ow] = quotient
        remainder = remainder + in_width
        while remainder >= out_width:
            remainder = remainder - out_width
            quotient = quotient + 1
        stops[ow] = quotient + (1 if remainder > 0 else 0)


cdef inline void adaptive_avg_backward_block(const floating* grad_output,
                                             floating* grad_input, const AdaptiveWindow* w,
                                             Py_ssize_t row, Py_ssize_t stop) noexcept nogil:
    """Input rows [row, stop) of the flattened (plane, depth, row) sequence. Each sums the
    shares of the output rows covering it in raster order (od, oh, then ow ascending), so
    every input element adds its shares in PyTorch's scatter order. Output rows no wider
    than DELTA_CACHE_WIDTH reuse the last row's shares while it keeps covering."""
    cdef floating deltas[DELTA_CACHE_WIDTH]
    cdef Py_ssize_t starts[DELTA_CACHE_WIDTH]
    cdef Py_ssize_t stops[DELTA_CACHE_WIDTH]
    cdef Py_ssize_t W = w.in_size[2], out_width = w.out_size[2], k = w.uniform_width
    cdef Py_ssize_t out_plane_size = w.out_size[0] * w.out_size[1] * out_width
    cdef Py_ssize_t cached = -1  # flat index (plane, od, oh) of the output row in `deltas`
    cdef Py_ssize_t plane, id, ih, od_first, od_stop, oh_first, oh_stop, od, oh, ow, iw
    cdef Py_ssize_t w0, w1, output_row
    cdef floating divisor_d, divisor_h, delta
    cdef floating* grad_row
    cdef const floating* grad_output_row
    cdef bint use_cache = out_width <= DELTA_CACHE_WIDTH
    if use_cache:
        adaptive_width_windows(W, out_width, starts, stops)
    ih = row % w.in_size[1]
    id = (row // w.in_size[1]) % w.in_size[0]
    plane = row // (w.in_size[1] * w.in_size[0])
    while row < stop:
        grad_row = grad_input + row * W
        for iw in range(W):
            grad_row[iw] = 0
        adaptive_covering(id, w.out_size[0], w.in_size[0], &od_first, &od_stop)
        adaptive_covering(ih, w.out_size[1], w.in_size[1], &oh_first, &oh_stop)
        for od in range(od_first, od_stop):
            for oh in range(oh_first, oh_stop):
                output_row = (plane * w.out_size[0] + od) * w.out_size[1] + oh
                if use_cache and output_row == cached:
                    adaptive_spread_row(deltas, grad_row, starts, stops, k, out_width)
                    continue
                # (Window extents take integer divisions: only on a cache miss.)
                divisor_d = <floating>(adaptive_stop(od, w.out_size[0], w.in_size[0])
                                       - adaptive_start(od, w.out_size[0], w.in_size[0]))
                divisor_h = <floating>(adaptive_stop(oh, w.out_size[1], w.in_size[1])
                                       - adaptive_start(oh, w.out_size[1], w.in_size[1]))
                grad_output_row = grad_output + output_row * out_width
                if use_cache:
                    adaptive_delta_row(grad_output_row, deltas, divisor_d, divisor_h, starts,
                                       stops, out_width)
                    cached = output_row
                    adaptive_spread_row(deltas, grad_row, starts, stops, k, out_width)
                    continue
                for ow in range(out_width):
                    w0 = adaptive_start(ow, out_width, W)
                    w1 = adaptive_stop(ow, out_width, W)
                    delta = (grad_output_row[ow] / divisor_d / divisor_h
                             / <floating>(w1 - w0))
                    for iw in range(w0, w1):
                        grad_row[iw] = grad_row[iw] + delta
        next_row(&plane, &id, &ih, w.in_size[0], w.in_size[1])
        row = row + 1


# Many planes: a plane per task, scattered as PyTorch does it (the plane zeroed, then each
# output in raster order adds g / kd / kh / kw to its window). Every element sees its shares in
# the gather's order, so the sums are the same; but the gather's work per input row (finding
# the covering outputs, zeroing the row) is gone, which dominates for odd sizes, whose windows
# vary in width and overlap.

cdef inline void adaptive_avg_scatter_plane(const floating* grad_output, floating* grad_plane,
                                            const AdaptiveWindow* w, const Py_ssize_t* starts,
                                            const Py_ssize_t* stops) noexcept nogil:
    """One plane; starts[ow], stops[ow] are the width windows."""
    cdef Py_ssize_t H = w.in_size[1], W = w.in_size[2], out_width = w.out_size[2]
    cdef Py_ssize_t od, oh, ow, d, h, iw, d_start, d_stop, h_start, h_stop
    cdef floating divisor_d, divisor_h, delta
    cdef floating* row
    cdef const floating* grad_output_row
    memset(grad_plane, 0, w.in_size[0] * H * W * sizeof(floating))
    for od in range(w.out_size[0]):
        d_start = adaptive_start(od, w.out_size[0], w.in_size[0])
        d_stop = adaptive_stop(od, w.out_size[0], w.in_size[0])
        divisor_d = <floating>(d_stop - d_start)
        for oh in range(w.out_size[1]):
            h_start = adaptive_start(oh, w.out_size[1], H)
            h_stop = adaptive_stop(oh, w.out_size[1], H)
            divisor_h = <floating>(h_stop - h_start)
            grad_output_row = grad_output + (od * w.out_size[1] + oh) * out_width
            for ow in range(out_width):
                delta = (grad_output_row[ow] / divisor_d / divisor_h
                         / <floating>(stops[ow] - starts[ow]))
                for d in range(d_start, d_stop):
                    for h in range(h_start, h_stop):
                        row = grad_plane + (d * H + h) * W
                        for iw in range(starts[ow], stops[ow]):
                            row[iw] = row[iw] + delta


cdef void adaptive_avg_scatter_planes(const floating* grad_output, floating* grad_input,
                                      const AdaptiveWindow* w, Py_ssize_t n_planes,
                                      int n_threads) noexcept nogil:
    """Every plane (out_size[2] <= DELTA_CACHE_WIDTH: the width windows, the same for every
    plane, are worked out once, on the stack)."""
    cdef Py_ssize_t starts[DELTA_CACHE_WIDTH]
    cdef Py_ssize_t stops[DELTA_CACHE_WIDTH]
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_plane_size = w.out_size[0] * w.out_size[1] * w.out_size[2]
    cdef Py_ssize_t plane
    adaptive_width_windows(w.in_size[2], w.out_size[2], starts, stops)
    for plane in prange(n_planes, schedule="static", num_threads=n_threads):
        adaptive_avg_scatter_plane(grad_output + plane * out_plane_size,
                                   grad_input + plane * in_plane_size, w, starts, stops)


cdef void adaptive_avg_backward_rows(const floating* grad_output, floating* grad_input,
                                     const AdaptiveWindow* w, Py_ssize_t n_planes,
                                     int n_threads) noexcept nogil:
    """Every input row of every plane, ROW_BLOCK consecutive rows per parallel task."""
    cdef Py_ssize_t n_rows = n_planes * w.in_size[0] * w.in_size[1]
    cdef Py_ssize_t block
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                        num_threads=n_threads):
        adaptive_avg_backward_block(grad_output, grad_input, w, block * ROW_BLOCK,
                                    min(block * ROW_BLOCK + ROW_BLOCK, n_rows))


def adaptive_avg_pool_backward(const floating[:, :, :, ::1] grad_output,
                               floating[:, :, :, ::1] grad_input, int n_threads):
    """Gradient of adaptive average pooling: (planes, OD, OH, OW) -> (planes, D, H, W)."""
    cdef tuple in_size = tuple(grad_input.shape)[1:4], out_size = tuple(grad_output.shape)[1:4]
    cdef AdaptiveWindow w
    cdef Window tiles
    cdef TileDivisors divisors
    cdef int axis
    if all(length % size == 0 for length, size in zip(in_size, out_size)):
        # Every window is [o*k, o*k + k) on every axis: they tile the input (see
        # avg_tile_backward_rows), with PyTorch's division per axis.
        kernel = tuple(length // size for length, size in zip(in_size, out_size))
        tiles = make_window(&grad_input.shape[1], &grad_output.shape[1], kernel, kernel,
                            (0, 0, 0), (1, 1, 1))
        for axis in range(3):
            divisors.by[axis] = kernel[axis]
        divisors.per_axis = True
        with nogil:
            avg_tile_backward_rows(&grad_output[0, 0, 0, 0], &grad_input[0, 0, 0, 0], &tiles,
                                   grad_input.shape[0], &divisors, n_threads)
        return
    w = make_adaptive_window(in_size, out_size)
    if (grad_input.shape[0] >= SCATTER_PLANES_PER_THREAD * n_threads
            and w.out_size[2] <= DELTA_CACHE_WIDTH):
        with nogil:
            adaptive_avg_scatter_planes(&grad_output[0, 0, 0, 0], &grad_input[0, 0, 0, 0], &w,
                                        grad_input.shape[0], n_threads)
        return
    with nogil:
        adaptive_avg_backward_rows(&grad_output[0, 0, 0, 0], &grad_input[0, 0, 0, 0], &w,
                                   grad_input.shape[0], n_threads)


# ---------------------------------------------------------------------------------------------
# Global max pooling: the first maximum of each plane (or its last NaN), with its position.
#
# MAX_LANES interleaved running maxima (lane j sees positions = j mod MAX_LANES), each under
# PyTorch's rule, vectorise; max_merge then combines lanes, chunks and tail elements. Under the
# rule the answer is "the last NaN if there is one, else the first element equal to the
# maximum", which any split reproduces when merges compare positions: so the result does not
# depend on lanes, chunks or threads.

cdef enum:
    MAX_LANES = 16
    # Planes below SMALL_PLANE elements are scanned PLANE_GROUP at a time, GROUP_CHUNK of
    # their elements at a time.
    SMALL_PLANE = 256
    GROUP_CHUNK = 64


cdef inline void max_merge(floating* best, Py_ssize_t* where, floating value,
                           Py_ssize_t position) noexcept nogil:
    """Merge the candidate (value, position) into (best, where)."""
    cdef bint best_is_nan = best[0] != best[0]
    if value != value:
        if not best_is_nan or position > where[0]:
            best[0] = value
            where[0] = position
    elif not best_is_nan and (value > best[0] or (value == best[0] and position < where[0])):
        best[0] = value
        where[0] = position


cdef inline void max_range(const floating* x, Py_ssize_t start, Py_ssize_t stop,
                           floating* best_out, Py_ssize_t* where_out,
                           bint with_indices) noexcept nogil:
    """(best, where) of x[start:stop] (stop > start); `where` only when with_indices."""
    cdef floating best[MAX_LANES]
    cdef Py_ssize_t where[MAX_LANES]
    cdef floating value, result
    cdef Py_ssize_t j, i = start, result_where = start
    cdef bint take
    result = x[start]
    if stop - start >= 2 * MAX_LANES:
        for j in range(MAX_LANES):
            best[j] = x[start + j]
            where[j] = start + j
        i = start + MAX_LANES
        while i + MAX_LANES <= stop:
            for j in range(MAX_LANES):
                value = x[i + j]
                take = max_takes(value, best[j])
                best[j] = value if take else best[j]
                if with_indices:
                    where[j] = (i + j) if take else where[j]
            i = i + MAX_LANES
        result = best[0]
        result_where = where[0]
        for j in range(1, MAX_LANES):
            if with_indices:
                max_merge(&result, &result_where, best[j], where[j])
            elif max_takes(best[j], result):
                result = best[j]
    # The tail (or a short range) in order: later positions than everything merged so far.
    while i < stop:
        value = x[i]
        if max_takes(value, result):
            result = value
            result_where = i
        i = i + 1
    best_out[0] = result
    where_out[0] = result_where


cdef inline void max_plane_group(const floating* x, Py_ssize_t plane_size, floating* values,
                                 index_t* indices, bint with_indices) noexcept nogil:
    """PLANE_GROUP consecutive small planes at once, each scanned in order under the rule:
    independent chains, vectorised over the planes. Runs of GROUP_CHUNK elements of the
    planes are first laid side by side (as interleave_strip does), and the maxima and their
    positions (int32, counted from 1 so that the lowest start value names position 0) stay in
    vector registers."""
    cdef floating chunk[GROUP_CHUNK * PLANE_GROUP]
    cdef floating best[PLANE_GROUP]
    cdef int32_t where[PLANE_GROUP]
    cdef Py_ssize_t chunk_index, start, n, i, p, block
    cdef floating value
    cdef bint take
    for p in range(PLANE_GROUP):
        best[p] = lowest_value(x[0])
        where[p] = 1
    for chunk_index in range((plane_size + GROUP_CHUNK - 1) // GROUP_CHUNK):
        start = chunk_index * GROUP_CHUNK
        n = min(GROUP_CHUNK, plane_size - start)
        if floating is float:
            for block in range(PLANE_GROUP // 8):
                cypool_interleave_float(x + block * 8 * plane_size + start, plane_size, n,
                                        chunk + block * 8, PLANE_GROUP)
        else:
            for block in range(PLANE_GROUP // 4):
                cypool_interleave_double(x + block * 4 * plane_size + start, plane_size, n,
                                         chunk + block * 4, PLANE_GROUP)
        for i in range(n):
            for p in range(PLANE_GROUP):
                value = chunk[i * PLANE_GROUP + p]
                take = max_takes(value, best[p])
                best[p] = value if take else best[p]
                if with_indices:
                    where[p] = <int32_t>(start + i + 1) if take else where[p]
    for p in range(PLANE_GROUP):
        values[p] = best[p]
        if with_indices:
            indices[p] = where[p] - 1


cdef void global_max_planes(const floating* input, Py_ssize_t plane_size, Py_ssize_t n_planes,
                            floating* values, index_t* indices, int n_threads) noexcept nogil:
    """Whole planes per parallel task: groups of small planes, or one larger plane (whose
    lanes then vectorise); `indices` may be NULL (values only)."""
    cdef Py_ssize_t group, plane, first, stop, where
    cdef Py_ssize_t group_size = PLANE_GROUP if plane_size < SMALL_PLANE else 1
    cdef floating best
    for group in prange((n_planes + group_size - 1) // group_size, schedule="static",
                        num_threads=n_threads):
        first = group * group_size
        stop = min(first + group_size, n_planes)
        if stop - first == PLANE_GROUP:
            if indices != NULL:
                max_plane_group(input + first * plane_size, plane_size, values + first,
                                indices + first, True)
            else:
                max_plane_group(input + first * plane_size, plane_size, values + first,
                                indices, False)
            continue
        for plane in range(first, stop):
            # Assigned here, so that Cython makes them private to each thread (max_range
            # writes them through pointers, which its analysis does not see).
            best = input[plane * plane_size]
            where = 0
            if indices != NULL:
                max_range(input + plane * plane_size, 0, plane_size, &best, &where, True)
                indices[plane] = where
            else:
                max_range(input + plane * plane_size, 0, plane_size, &best, &where, False)
            values[plane] = best


cdef void global_max_chunks(const floating* input, Py_ssize_t plane_size, Py_ssize_t n_planes,
                            Py_ssize_t chunk_size, Py_ssize_t n_chunks, floating* chunk_values,
                            Py_ssize_t* chunk_wheres, bint with_indices,
                            int n_threads) noexcept nogil:
    """Few planes: n_chunks pieces of chunk_size elements per plane in parallel, then the
    pieces of each plane merged in order."""
    cdef Py_ssize_t unit, plane, chunk, start, stop
    for unit in prange(n_planes * n_chunks, schedule="static", num_threads=n_threads):
        plane = unit // n_chunks
        start = (unit % n_chunks) * chunk_size
        stop = min(start + chunk_size, plane_size)
        if with_indices:
            max_range(input + plane * plane_size, start, stop, &chunk_values[unit],
                      &chunk_wheres[unit], True)
        else:
            max_range(input + plane * plane_size, start, stop, &chunk_values[unit],
                      &chunk_wheres[unit], False)
    for plane in range(n_planes):
        for chunk in range(1, n_chunks):
            unit = plane * n_chunks + chunk
            if with_indices:
                max_merge(&chunk_values[plane * n_chunks], &chunk_wheres[plane * n_chunks],
                          chunk_values[unit], chunk_wheres[unit])
            elif max_takes(chunk_values[unit], chunk_values[plane * n_chunks]):
                chunk_values[plane * n_chunks] = chunk_values[unit]


cdef Py_ssize_t global_max_chunk_size(Py_ssize_t plane_size, Py_ssize_t n_planes,
                                      int n_threads) noexcept nogil:
    """Elements per parallel piece of a plane: the whole plane when there are enough planes
    to keep the threads busy, else about four pieces per thread (at least 16384 elements)."""
    cdef Py_ssize_t pieces
    if n_threads <= 1 or n_planes >= 4 * n_threads:
        return plane_size
    pieces = (4 * n_threads + n_planes - 1) // n_planes
    return max((plane_size + pieces - 1) // pieces, <Py_ssize_t>(1 << 14))


def global_max_pool_forward(const floating[:, ::1] input, floating[::1] values_out,
                            index_t[::1] indices_out, int n_threads):
    """Per plane of (planes, plane_size): the first maximum (or last NaN) and its position.
    Few big planes are split into pieces; the result does not depend on the split."""
    cdef Py_ssize_t n_planes = input.shape[0], plane_size = input.shape[1], plane
    cdef Py_ssize_t chunk_size = global_max_chunk_size(plane_size, n_planes, n_threads)
    cdef Py_ssize_t n_chunks = (plane_size + chunk_size - 1) // chunk_size
    cdef floating[::1] chunk_values
    cdef Py_ssize_t[::1] chunk_wheres
    if n_chunks == 1:
        with nogil:
            global_max_planes(&input[0, 0], plane_size, n_planes, &values_out[0],
                              &indices_out[0], n_threads)
        return
    chunk_values = np.empty(n_planes * n_chunks, dtype=np.asarray(values_out).dtype)
    chunk_wheres = np.empty(n_planes * n_chunks, dtype=np.intp)
    with nogil:
        global_max_chunks(&input[0, 0], plane_size, n_planes, chunk_size, n_chunks,
                          &chunk_values[0], &chunk_wheres[0], True, n_threads)
    for plane in range(n_planes):
        values_out[plane] = chunk_values[plane * n_chunks]
        indices_out[plane] = chunk_wheres[plane * n_chunks]


def global_max_pool_forward_values(const floating[:, ::1] input, floating[::1] values_out,
                                   int n_threads):
    """global_max_pool_forward without the positions."""
    cdef Py_ssize_t n_planes = input.shape[0], plane_size = input.shape[1], plane
    cdef Py_ssize_t chunk_size = global_max_chunk_size(plane_size, n_planes, n_threads)
    cdef Py_ssize_t n_chunks = (plane_size + chunk_size - 1) // chunk_size
    cdef floating[::1] chunk_values
    cdef Py_ssize_t[::1] chunk_wheres
    if n_chunks == 1:
        with nogil:
            global_max_planes(&input[0, 0], plane_size, n_planes, &values_out[0],
                              <int64_t*>NULL, n_threads)
        return
    chunk_values = np.empty(n_planes * n_chunks, dtype=np.asarray(values_out).dtype)
    chunk_wheres = np.empty(n_planes * n_chunks, dtype=np.intp)
    with nogil:
        global_max_chunks(&input[0, 0], plane_size, n_planes, chunk_size, n_chunks,
                          &chunk_values[0], &chunk_wheres[0], False, n_threads)
    for plane in range(n_planes):
        values_out[plane] = chunk_values[plane * n_chunks]


# ---------------------------------------------------------------------------------------------
# Global average pooling: PyTorch's sum of a plane, bit for bit, then one division.
#
# PyTorch computes adaptive average pooling to an all-ones output as `input.mean(spatial)`:
# at::sum (its cascade_sum over a contiguous row of n elements) then a division by n. For
# n >= LANES (PyTorch's vector width on AVX2 CPUs: 8 float32 or 4 float64 lanes; its AVX-512
# build uses 16 or 8 and rounds differently) the row is read as vec_size = n // LANES vectors,
# grouped in "ilp rows" of 4 vectors; ilp rows are summed in blocks of `level_step` into a
# 4-level cascade of accumulators (multi_row_sum); the leftover vectors, the 4 ilp partial
# sums, the scalar tail (first) and the lanes are then added in a fixed order. For n < LANES
# the same runs on scalars (LANES = 1). Every block sum starts from +0 and is independent of
# the others: for few planes, blocks are summed in parallel and the cascade is replayed in
# order, so the result never depends on the thread count. (PyTorch itself, with more than one
# thread, splits a single plane of >= 32768 elements differently; cypool equals its one-thread
# result there.)

cdef enum:
    SUM_LEVELS = 4
    SUM_ILP = 4
    SUM_MAX_LANES = 8
    SUM_MAX_ROW = 32  # SUM_ILP * SUM_MAX_LANES
    SUM_GROUP = 8     # planes whose final additions run together (8 in the C group helpers)


cdef inline Py_ssize_t ceil_log2(Py_ssize_t x) noexcept nogil:
    """PyTorch's utils::CeilLog2: 1 for x <= 2, else the bit length of x - 1."""
    cdef Py_ssize_t bits = 0, y = x - 1
    if x <= 2:
        return 1
    while y > 0:
        bits += 1
        y >>= 1
    return bits


cdef struct CascadeShape:
    Py_ssize_t lanes        # values per vector
    Py_ssize_t vectors      # vec_size: whole vectors in the row
    Py_ssize_t ilp_rows     # whole groups of SUM_ILP vectors
    Py_ssize_t level_power
    Py_ssize_t level_step   # ilp rows per level-0 block
    Py_ssize_t blocks       # whole level-0 blocks


cdef inline CascadeShape cascade_shape(Py_ssize_t n, Py_ssize_t vector_lanes) noexcept nogil:
    cdef CascadeShape shape
    shape.lanes = vector_lanes if n >= vector_lanes else 1
    shape.vectors = n // shape.lanes
    shape.ilp_rows = shape.vectors // SUM_ILP
    shape.level_power = max(4, ceil_log2(shape.ilp_rows) // SUM_LEVELS)
    shape.level_step = (<Py_ssize_t>1) << shape.level_power
    shape.blocks = shape.ilp_rows // shape.level_step
    return shape


cdef inline void cascade_block_add(const floating* rows, Py_ssize_t count, Py_ssize_t row_size,
                                   floating* acc) noexcept nogil:
    """acc[:row_size] += `count` consecutive rows of row_size values, in order."""
    cdef Py_ssize_t i, k
    for i in range(count):
        for k in range(row_size):
            acc[k] = acc[k] + rows[i * row_size + k]


cdef inline void cascade_block_sum(const floating* rows, Py_ssize_t count, Py_ssize_t row_size,
                                   floating* acc) noexcept nogil:
    """acc[:row_size] = the sums from +0 of `count` consecutive rows of row_size values.
    (A local accumulator, copied out at the end, stays in registers: `acc` could alias
    `rows` as far as the compiler knows.)"""
    cdef floating local[SUM_MAX_ROW]
    cdef Py_ssize_t i, k
    for k in range(row_size):
        local[k] = 0
    for i in range(count):
        for k in range(row_size):
            local[k] = local[k] + rows[i * row_size + k]
    for k in range(row_size):
        acc[k] = local[k]


cdef inline void cascade_block_sum_lanes(const floating* rows, Py_ssize_t count,
                                         Py_ssize_t lanes, floating* acc) noexcept nogil:
    # Literal row sizes so that the lane loops compile to whole vectors.
    if lanes == 8:
        cascade_block_sum(rows, count, SUM_ILP * 8, acc)
    elif lanes == 4:
        cascade_block_sum(rows, count, SUM_ILP * 4, acc)
    else:
        cascade_block_sum(rows, count, SUM_ILP * lanes, acc)


cdef inline void finish_partials(floating* partials, const floating* x, Py_ssize_t n,
                                 Py_ssize_t lanes, floating* lane_sums, Py_ssize_t lane_stride,
                                 floating* tail) noexcept nogil:
    """row_sum, from the SUM_ILP partial sums of the ilp rows (vectors of `lanes` values in
    `partials`): the leftover vectors into the first partial, then the partials in order;
    the lane sums out, and the sum from +0 of the scalar tail."""
    cdef Py_ssize_t vectors = n // lanes, i, k
    cdef floating total = 0
    for i in range(vectors // SUM_ILP * SUM_ILP, vectors):
        for k in range(lanes):
            partials[k] = partials[k] + x[i * lanes + k]
    for k in range(lanes):
        partials[k] = ((partials[k] + partials[lanes + k]) + partials[2 * lanes + k]) \
            + partials[3 * lanes + k]
    for k in range(lanes):
        lane_sums[k * lane_stride] = partials[k]
    for i in range(vectors * lanes, n):
        total = total + x[i]
    tail[0] = total


cdef extern from *:
    """
    /* unblocked_plane_partials for PyTorch's AVX2 widths, with the SUM_ILP (4) partial sums
       in vector variables, which stay in registers (in Cython the compiler kept the partials
       in memory, zeroed them with a memset and added them lane by lane). Elements are read
       with memcpy: unaligned, and without aliasing assumptions. Other compilers get the same
       arithmetic on arrays.
       NAME##_group: the sums before the mean of SUM_GROUP (8) planes of n values, each the
       tail from +0 and then its lanes in order, as torch_group_mean_lanes adds them; the
       planes' lane vectors are transposed in registers (a vector per lane, planes in its
       elements) instead of through memory, a store per lane and plane. */
    #if defined(__GNUC__) || defined(__clang__)
    #define CYPOOL_PARTIALS_DEFINE(NAME, T, LANES)                                          \\
    typedef T NAME##_vector __attribute__((vector_size(LANES * sizeof(T))));                \\
    static inline NAME##_vector NAME##_lanes(const T* x, Py_ssize_t n, T* tail) {          \\
        NAME##_vector p0 = {0}, p1 = {0}, p2 = {0}, p3 = {0}, v;                            \\
        Py_ssize_t vectors = n / LANES, i;                                                  \\
        T total = 0;                                                                        \\
        for (i = 0; i < vectors / 4; i++) {                                                 \\
            const T* row = x + i * 4 * LANES;                                               \\
            memcpy(&v, row, sizeof v); p0 += v;                                             \\
            memcpy(&v, row + LANES, sizeof v); p1 += v;                                     \\
            memcpy(&v, row + 2 * LANES, sizeof v); p2 += v;                                 \\
            memcpy(&v, row + 3 * LANES, sizeof v); p3 += v;                                 \\
        }                                                                                   \\
        for (i = vectors / 4 * 4; i < vectors; i++) {                                       \\
            memcpy(&v, x + i * LANES, sizeof v); p0 += v;                                   \\
        }                                                                                   \\
        for (i = vectors * LANES; i < n; i++) total += x[i];                                \\
        *tail = total;                                                                      \\
        return ((p0 + p1) + p2) + p3;                                                       \\
    }                                                                                       \\
    static void NAME(const T* x, Py_ssize_t n, T* lane_sums, Py_ssize_t lane_stride,        \\
                     T* tail) {                                                             \\
        NAME##_vector lanes = NAME##_lanes(x, n, tail);                                     \\
        int k;                                                                              \\
        for (k = 0; k < LANES; k++) lane_sums[k * lane_stride] = lanes[k];                  \\
    }
    #else
    #define CYPOOL_PARTIALS_DEFINE(NAME, T, LANES)                                          \\
    static void NAME(const T* x, Py_ssize_t n, T* lane_sums, Py_ssize_t lane_stride,        \\
                     T* tail) {                                                             \\
        T p[4][LANES] = {{0}};                                                              \\
        Py_ssize_t vectors = n / LANES, i;                                                  \\
        int j, k;                                                                           \\
        T total = 0;                                                                        \\
        for (i = 0; i < vectors / 4; i++)                                                   \\
            for (j = 0; j < 4; j++)                                                         \\
                for (k = 0; k < LANES; k++) p[j][k] += x[(i * 4 + j) * LANES + k];          \\
        for (i = vectors / 4 * 4; i < vectors; i++)                                         \\
            for (k = 0; k < LANES; k++) p[0][k] += x[i * LANES + k];                        \\
        for (k = 0; k < LANES; k++)                                                         \\
            lane_sums[k * lane_stride] = ((p[0][k] + p[1][k]) + p[2][k]) + p[3][k];         \\
        for (i = vectors * LANES; i < n; i++) total += x[i];                                \\
        *tail = total;                                                                      \\
    }
    #endif
    CYPOOL_PARTIALS_DEFINE(cypool_partials_float8, float, 8)
    CYPOOL_PARTIALS_DEFINE(cypool_partials_double4, double, 4)

    #ifdef CYPOOL_TRANSPOSE_IN_REGISTERS
    static void cypool_partials_float8_group(const float* x, Py_ssize_t n, float* totals) {
        cypool_float8 planes[8], lanes[8], total;
        float tails[8];
        int p;
        for (p = 0; p < 8; p++) planes[p] = cypool_partials_float8_lanes(x + p * n, n, &tails[p]);
        cypool_transpose8_float(planes, lanes);
        memcpy(&total, tails, sizeof total);
        for (p = 0; p < 8; p++) total += lanes[p];
        memcpy(totals, &total, sizeof total);
    }

    static void cypool_partials_double4_group(const double* x, Py_ssize_t n, double* totals) {
        /* Two 4x4 transposes: planes 0-3, then 4-7. */
        cypool_double4 planes[4], lanes[4], total;
        int half, p;
        for (half = 0; half < 2; half++) {
            double* tails = totals + 4 * half;
            for (p = 0; p < 4; p++)
                planes[p] = cypool_partials_double4_lanes(x + (4 * half + p) * n, n, &tails[p]);
            cypool_transpose4_double(planes, lanes);
            memcpy(&total, tails, sizeof total);
            for (p = 0; p < 4; p++) total += lanes[p];
            memcpy(tails, &total, sizeof total);
        }
    }
    #else
    /* The same additions, the lane sums transposed through memory. */
    #define CYPOOL_GROUP_DEFINE(NAME, T, LANES)                                             \\
    static void NAME##_group(const T* x, Py_ssize_t n, T* totals) {                         \\
        T lane_sums[LANES][8];                                                              \\
        int k, p;                                                                           \\
        for (p = 0; p < 8; p++) NAME(x + p * n, n, &lane_sums[0][p], 8, &totals[p]);        \\
        for (k = 0; k < LANES; k++)                                                         \\
            for (p = 0; p < 8; p++) totals[p] += lane_sums[k][p];                           \\
    }
    CYPOOL_GROUP_DEFINE(cypool_partials_float8, float, 8)
    CYPOOL_GROUP_DEFINE(cypool_partials_double4, double, 4)
    #endif
    """
    void cypool_partials_float8(const float* x, Py_ssize_t n, float* lane_sums,
                                Py_ssize_t lane_stride, float* tail) noexcept nogil
    void cypool_partials_double4(const double* x, Py_ssize_t n, double* lane_sums,
                                 Py_ssize_t lane_stride, double* tail) noexcept nogil
    void cypool_partials_float8_group(const float* x, Py_ssize_t n,
                                      float* totals) noexcept nogil
    void cypool_partials_double4_group(const double* x, Py_ssize_t n,
                                       double* totals) noexcept nogil


cdef inline void unblocked_plane_partials(const floating* x, Py_ssize_t n, Py_ssize_t lanes,
                                          floating* lane_sums, Py_ssize_t lane_stride,
                                          floating* tail) noexcept nogil:
    """torch_plane_partials of a plane without level-0 blocks (fewer than level_step ilp
    rows: planes under 512 float32 or 256 float64 values, such as 7x7 and 14x14): the ilp
    rows summed straight into the SUM_ILP partials (from +0, which gives what level 0's first
    row, +0 + x, does), then row_sum. PyTorch's vector widths in C (above); others (single
    lanes: planes shorter than a vector) here."""
    cdef floating partials[SUM_MAX_ROW]
    cdef Py_ssize_t row_size = SUM_ILP * lanes, i, k
    if floating is float and lanes == 8:
        cypool_partials_float8(x, n, lane_sums, lane_stride, tail)
    elif floating is double and lanes == 4:
        cypool_partials_double4(x, n, lane_sums, lane_stride, tail)
    else:
        for k in range(row_size):
            partials[k] = 0
        for i in range(n // lanes // SUM_ILP):
            for k in range(row_size):
                partials[k] = partials[k] + x[i * row_size + k]
        finish_partials(partials, x, n, lanes, lane_sums, lane_stride, tail)


cdef inline void torch_plane_partials(const floating* x, Py_ssize_t n, Py_ssize_t lanes,
                                      const floating* block_sums, floating* lane_sums,
                                      Py_ssize_t lane_stride, floating* tail) noexcept nogil:
    """PyTorch's cascade_sum of x[:n] (see above), read as vectors of `lanes` values (the
    vector width, or 1 when n is below it), up to its last step: the lane sums and the sum
    from +0 of the scalar tail, which the caller adds up (tail first, then lanes in order).
    `block_sums` holds the level-0 block sums precomputed (blocks x row values), or is NULL
    to compute each block here."""
    cdef CascadeShape s = cascade_shape(n, lanes)
    cdef Py_ssize_t row_size = SUM_ILP * lanes
    cdef Py_ssize_t level_mask = s.level_step - 1
    cdef floating level[SUM_LEVELS][SUM_MAX_ROW]
    cdef floating block[SUM_MAX_ROW]
    cdef const floating* block_sum
    cdef Py_ssize_t b, j, k, position, count
    cdef const floating* rows
    cdef floating zero = 0
    if s.blocks == 0:
        unblocked_plane_partials(x, n, lanes, lane_sums, lane_stride, tail)
        return
    for j in range(1, SUM_LEVELS):
        for k in range(row_size):
            level[j][k] = 0
    for b in range(s.blocks):
        if block_sums != NULL:
            block_sum = block_sums + b * row_size
        else:
            cascade_block_sum_lanes(x + b * s.level_step * row_size, s.level_step, s.lanes,
                                    block)
            block_sum = block
        # multi_row_sum after each block: carry level j-1 into level j, up to the first level
        # whose counter has not wrapped.
        position = (b + 1) * s.level_step
        for k in range(row_size):
            level[1][k] = level[1][k] + block_sum[k]
        for j in range(2, SUM_LEVELS):
            if position & (level_mask << ((j - 1) * s.level_power)):
                break
            for k in range(row_size):
                level[j][k] = level[j][k] + level[j - 1][k]
                level[j - 1][k] = 0
    # The leftover ilp rows, into level 0 (zero after the last block), then the levels.
    # (The first row is added to +0 in place of a zero-filled accumulator: the same
    # arithmetic, without the memset the compiler would call for the fill.)
    rows = x + s.blocks * s.level_step * row_size
    count = s.ilp_rows - s.blocks * s.level_step
    if count > 0:
        for k in range(row_size):
            level[0][k] = zero + rows[k]
        cascade_block_add(rows + row_size, count - 1, row_size, &level[0][0])
    else:
        for k in range(row_size):
            level[0][k] = 0
    for j in range(1, SUM_LEVELS):
        for k in range(row_size):
            level[0][k] = level[0][k] + level[j][k]
    finish_partials(&level[0][0], x, n, lanes, lane_sums, lane_stride, tail)


cdef inline floating torch_plane_sum_lanes(const floating* x, Py_ssize_t n, Py_ssize_t lanes,
                                           const floating* block_sums) noexcept nogil:
    """The whole cascade_sum: vectorized_inner_sum adds the scalar tail first, then the
    lanes, and the output starts at +0."""
    cdef floating lane_sums[SUM_MAX_LANES]
    cdef floating total, zero = 0
    cdef Py_ssize_t k
    torch_plane_partials(x, n, lanes, block_sums, lane_sums, 1, &total)
    for k in range(lanes):
        total = total + lane_sums[k]
    return zero + total


cdef inline void torch_group_mean_lanes(const floating* x, Py_ssize_t n, Py_ssize_t lanes,
                                        floating* out, floating divisor) noexcept nogil:
    """torch_plane_sum_lanes / divisor of SUM_GROUP consecutive planes (without precomputed
    blocks): the same operations, with the final lane additions, a chain of dependent adds
    per plane, done for the whole group at once (lanes-major), which vectorises. Planes
    without level-0 blocks at PyTorch's vector widths take the C group helpers, which hold
    the lanes in registers; others go through the lane_sums table."""
    cdef floating lane_sums[SUM_MAX_LANES][SUM_GROUP]
    cdef floating totals[SUM_GROUP]
    cdef floating zero = 0
    cdef Py_ssize_t p, k
    if floating is float and lanes == 8 and cascade_shape(n, lanes).blocks == 0:
        cypool_partials_float8_group(x, n, totals)
    elif floating is double and lanes == 4 and cascade_shape(n, lanes).blocks == 0:
        cypool_partials_double4_group(x, n, totals)
    else:
        for p in range(SUM_GROUP):  # each plane's lanes straight into column p
            torch_plane_partials(x + p * n, n, lanes, NULL, &lane_sums[0][p], SUM_GROUP,
                                 &totals[p])
        for k in range(lanes):
            for p in range(SUM_GROUP):
                totals[p] = totals[p] + lane_sums[k][p]
    for p in range(SUM_GROUP):
        out[p] = (zero + totals[p]) / divisor


cdef inline floating torch_plane_sum(const floating* x, Py_ssize_t n,
                                     const floating* block_sums) noexcept nogil:
    """torch_plane_sum_lanes with literal lane counts (PyTorch's AVX2 widths), so that the
    compiler specialises each copy."""
    if floating is float:
        if n >= 8:
            return torch_plane_sum_lanes(x, n, 8, block_sums)
    else:
        if n >= 4:
            return torch_plane_sum_lanes(x, n, 4, block_sums)
    return torch_plane_sum_lanes(x, n, 1, block_sums)


cdef inline void torch_group_mean(const floating* x, Py_ssize_t n, floating* out,
                                  floating divisor) noexcept nogil:
    """torch_group_mean_lanes with literal lane counts, as torch_plane_sum."""
    if floating is float:
        if n >= 8:
            torch_group_mean_lanes(x, n, 8, out, divisor)
            return
    else:
        if n >= 4:
            torch_group_mean_lanes(x, n, 4, out, divisor)
            return
    torch_group_mean_lanes(x, n, 1, out, divisor)


cdef inline Py_ssize_t vector_lanes_of(const floating* x) noexcept nogil:
    """PyTorch's AVX2 vector width for this dtype (x is only used to pick the type)."""
    if floating is float:
        return 8
    else:
        return 4


cdef void cascade_blocks_parallel(const floating* input, Py_ssize_t plane_size,
                                  Py_ssize_t n_planes, floating* block_sums,
                                  int n_threads) noexcept nogil:
    """Every level-0 block sum of every plane, blocks in parallel."""
    cdef CascadeShape s = cascade_shape(plane_size, vector_lanes_of(input))
    cdef Py_ssize_t row_size = SUM_ILP * s.lanes
    cdef Py_ssize_t unit, plane, b
    for unit in prange(n_planes * s.blocks, schedule="static", num_threads=n_threads):
        plane = unit // s.blocks
        b = unit % s.blocks
        cascade_block_sum_lanes(input + plane * plane_size + b * s.level_step * row_size,
                                s.level_step, s.lanes, block_sums + unit * row_size)


cdef void global_avg_planes(const floating* input, floating* out, Py_ssize_t plane_size,
                            Py_ssize_t n_planes, const floating* block_sums,
                            int n_threads) noexcept nogil:
    cdef CascadeShape s = cascade_shape(plane_size, vector_lanes_of(input))
    cdef Py_ssize_t per_plane = s.blocks * SUM_ILP * s.lanes
    cdef Py_ssize_t plane, group, first, stop
    cdef floating divisor = <floating>plane_size
    if block_sums != NULL:
        for plane in prange(n_planes, schedule="static", num_threads=n_threads):
            out[plane] = torch_plane_sum(input + plane * plane_size, plane_size,
                                         block_sums + plane * per_plane) / divisor
        return
    for group in prange((n_planes + SUM_GROUP - 1) // SUM_GROUP, schedule="static",
                        num_threads=n_threads):
        first = group * SUM_GROUP
        stop = min(first + SUM_GROUP, n_planes)
        if stop - first == SUM_GROUP:
            torch_group_mean(input + first * plane_size, plane_size, out + first, divisor)
        else:
            for plane in range(first, stop):
                out[plane] = torch_plane_sum(input + plane * plane_size, plane_size,
                                             NULL) / divisor


def global_avg_pool_forward(const floating[:, ::1] input, floating[::1] out, int n_threads):
    """Per plane of (planes, plane_size): PyTorch's sum of the plane / plane_size."""
    cdef Py_ssize_t n_planes = input.shape[0], plane_size = input.shape[1]
    cdef CascadeShape s
    cdef floating[::1] block_sums
    with nogil:
        s = cascade_shape(plane_size, vector_lanes_of(&input[0, 0]))
    if n_threads > 1 and n_planes < 4 * n_threads and s.blocks > 1:
        # Few planes: sum their blocks in parallel first.
        block_sums = np.empty(n_planes * s.blocks * SUM_ILP * s.lanes,
                              dtype=np.asarray(out).dtype)
        with nogil:
            cascade_blocks_parallel(&input[0, 0], plane_size, n_planes, &block_sums[0],
                                    n_threads)
            global_avg_planes(&input[0, 0], &out[0], plane_size, n_planes, &block_sums[0],
                              n_threads)
        return
    with nogil:
        global_avg_planes(&input[0, 0], &out[0], plane_size, n_planes, NULL, n_threads)


def global_avg_pool_backward(const floating[::1] grad_output, floating[:, ::1] grad_input,
                             int n_threads):
    """grad_input[p, :] = grad_output[p] / plane_size (PyTorch's mean backward)."""
    cdef Py_ssize_t n_planes = grad_input.shape[0], plane_size = grad_input.shape[1]
    cdef Py_ssize_t chunk_size = 1 << 14
    cdef Py_ssize_t n_chunks = (plane_size + chunk_size - 1) // chunk_size
    cdef Py_ssize_t unit, plane, start, stop, i
    cdef floating delta
    cdef floating divisor = <floating>plane_size
    with nogil:
        for unit in prange(n_planes * n_chunks, schedule="static", num_threads=n_threads):
            plane = unit // n_chunks
            start = (unit % n_chunks) * chunk_size
            stop = min(start + chunk_size, plane_size)
            delta = grad_output[plane] / divisor
            for i in range(start, stop):
                grad_input[plane, i] = delta
