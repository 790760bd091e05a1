# Pooling kernels: one source for every dtype (fused types) and every ISA level (each
# cypool/_kernels_<level>.pyx includes this file and is compiled with its own flags).
#
# Every op works on C-contiguous (planes, depth, height, width) views: 1-d and 2-d pooling are
# 3-d pooling whose leading spatial axes have size 1 and a 1-tap kernel. The Python wrappers
# validate every argument once; kernels trust them (a window always holds at least one real
# input element, sizes are positive, buffers have the shapes the window geometry implies).
#
# Parallel work is a block of consecutive output rows (plane, od, oh) of the flattened row
# sequence, so a single image with three channels still keeps every thread busy. Row helpers
# take raw pointers and loop over the output width in the innermost loop, which the compiler
# vectorises; literal arguments at their call sites give specialised copies for the common
# window shapes.

from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN)
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CYPOOL_OPENMP 1
    #else
    #define CYPOOL_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif

    /* CPU features for the ISA dispatcher. GCC and clang's builtins also check that the
       operating system saves the wide registers. */
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int cypool_cpu_has_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    static int cypool_cpu_has_avx512(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    }
    #else
    static int cypool_cpu_has_avx2(void) { return 0; }
    static int cypool_cpu_has_avx512(void) { return 0; }
    #endif

    /* A prefetch of the line at p into every cache level. As a volatile asm statement on
       x86: GCC 12.2 deleted __builtin_prefetch (and _mm_prefetch) calls once they were
       inlined into the row loops (-O2 and -O3), which left the kernels without a single
       prefetch instruction. */
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    #define cypool_prefetch(p) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char*)(p)))
    #elif defined(__GNUC__) || defined(__clang__)
    #define cypool_prefetch(p) __builtin_prefetch((p), 0, 3)
    #else
    #define cypool_prefetch(p) ((void)(p))
    #endif

    #if defined(__AVX512F__)
    #define CYPOOL_VECTOR_BYTES 64
    #elif defined(__AVX2__) || defined(__AVX__)
    #define CYPOOL_VECTOR_BYTES 32
    #else
    #define CYPOOL_VECTOR_BYTES 16
    #endif
    """
    const bint CYPOOL_OPENMP
    # Bytes per vector register at this module's ISA level.
    const Py_ssize_t CYPOOL_VECTOR_BYTES
    int omp_get_max_threads() noexcept nogil
    int cypool_cpu_has_avx2() noexcept nogil
    int cypool_cpu_has_avx512() noexcept nogil
    void cypool_prefetch(const void* p) noexcept nogil

ctypedef fused floating:
    float
    double

# Max pooling forward also takes integers (uint8 images are the everyday case): its kernels
# only compare and copy, and start each window from its first real tap, so the same code
# serves every dtype. (The phase path reads padding as the dtype's lowest value, and redoes
# the windows where that can matter.) NaN tests fold away for integers.
ctypedef fused max_value_t:
    float
    double
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t

# Max-pool indices: int64 by default; int32 halves their memory traffic for planes < 2**31.
ctypedef fused index_t:
    int32_t
    int64_t

cdef struct Window:
    # Per spatial axis, in the order (depth, height, width).
    Py_ssize_t in_size[3]
    Py_ssize_t out_size[3]
    Py_ssize_t kernel[3]
    Py_ssize_t stride[3]
    Py_ssize_t padding[3]
    Py_ssize_t dilation[3]
    # Output columns [interior_first, interior_stop) have their whole width window inside the
    # input row: they take the vectorised path, the others the scalar one.
    Py_ssize_t interior_first
    Py_ssize_t interior_stop


# Consecutive rows per parallel task: the (plane, depth, row) position is decomposed with
# divisions once per block and stepped after that.
cdef enum:
    ROW_BLOCK = 8
    # From this many width taps on, max pooling walks each window's taps in order instead of
    # making one pass over the output columns per tap.
    WIDE_WINDOW = 32


OPENMP_ENABLED = bool(CYPOOL_OPENMP)


def openmp_max_threads():
    """The thread count OpenMP would use now (obeys OMP_NUM_THREADS and threadpoolctl)."""
    return omp_get_max_threads()


def cpu_features():
    """The ISA levels this CPU (and its operating system) can run."""
    return {"avx2": bool(cypool_cpu_has_avx2()), "avx512": bool(cypool_cpu_has_avx512())}


cdef Window make_window(const Py_ssize_t* in_size, const Py_ssize_t* out_size, tuple kernel,
                        tuple stride, tuple padding, tuple dilation) except *:
    """The window of a kernel call; `in_size` and `out_size` point at the (D, H, W) sizes
    (`&array.shape[1]` of the kernels' (planes, D, H, W) or channels-last (images, D, H, W, C)
    arrays: read from the memoryviews without building Python tuples, a measurable part of a
    small call)."""
    cdef Window window
    cdef int axis
    for axis in range(3):
        window.in_size[axis] = in_size[axis]
        window.out_size[axis] = out_size[axis]
        window.kernel[axis] = kernel[axis]
        window.stride[axis] = stride[axis]
        window.padding[axis] = padding[axis]
        window.dilation[axis] = dilation[axis]
    # First column whose window starts at or past 0, and one past the last whose window ends
    # inside the row.
    cdef Py_ssize_t out_width = window.out_size[2], step = window.stride[2]
    cdef Py_ssize_t first = (window.padding[2] + step - 1) // step
    cdef Py_ssize_t last_start = (window.in_size[2] - 1 + window.padding[2]
                                  - (window.kernel[2] - 1) * window.dilation[2])
    cdef Py_ssize_t stop = last_start // step + 1 if last_start >= 0 else 0
    first = min(first, out_width)
    window.interior_first = first
    window.interior_stop = max(first, min(stop, out_width))
    return window


cdef inline void next_row(Py_ssize_t* plane, Py_ssize_t* depth, Py_ssize_t* row,
                          Py_ssize_t depth_size, Py_ssize_t row_size) noexcept nogil:
    """Step a (plane, depth, row) position to the next row in C order."""
    row[0] += 1
    if row[0] == row_size:
        row[0] = 0
        depth[0] += 1
        if depth[0] == depth_size:
            depth[0] = 0
            plane[0] += 1


cdef inline void valid_taps(Py_ssize_t start, Py_ssize_t length, Py_ssize_t kernel,
                            Py_ssize_t dilation, Py_ssize_t* first,
                            Py_ssize_t* stop) noexcept nogil:
    """Taps t in [first, stop) with 0 <= start + t * dilation < length (padding is skipped)."""
    cdef Py_ssize_t lo = 0, hi = 0
    if dilation == 1:  # the common case, without divisions
        lo = -start if start < 0 else 0
        hi = length - start
        if hi > kernel:
            hi = kernel
    else:
        if start < 0:
            lo = (-start + dilation - 1) // dilation
        if start < length:
            hi = (length - 1 - start) // dilation + 1
            if hi > kernel:
                hi = kernel
    first[0] = lo
    stop[0] = hi if hi > lo else lo


# ---------------------------------------------------------------------------------------------
# Max pooling, forward.
#
# Rule (PyTorch's): taps are visited in raster order (depth, height, width); the first real tap
# starts the running maximum; a later tap v replaces it when `v > best or isnan(v)`. So ties keep
# the first maximum, a NaN beats everything, and among NaNs the last one wins. The index is the
# tap's flat position in the unpadded plane, (d * H + h) * W + w.

cdef inline bint max_takes(max_value_t candidate, max_value_t best) noexcept nogil:
    return (candidate > best) | (candidate != candidate)


cdef inline Py_ssize_t plane_position(const Window* w, Py_ssize_t d_start, Py_ssize_t kd,
                                      Py_ssize_t h_start, Py_ssize_t kh, Py_ssize_t w_start,
                                      Py_ssize_t kw) noexcept nogil:
    """Flat position in the plane of tap (kd, kh, kw) of the window starting at the starts."""
    return (((d_start + kd * w.dilation[0]) * w.in_size[1] + h_start + kh * w.dilation[1])
            * w.in_size[2] + w_start + kw * w.dilation[2])


cdef inline void max_point(const max_value_t* plane, max_value_t* values, index_t* indices,
                           const Window* w, Py_ssize_t d_first, Py_ssize_t d_stop,
                           Py_ssize_t h_first, Py_ssize_t h_stop, Py_ssize_t d_start,
                           Py_ssize_t h_start, Py_ssize_t ow) noexcept nogil:
    """One output element whose width window may be clipped by padding (scalar path)."""
    cdef Py_ssize_t w_start = ow * w.stride[2] - w.padding[2]
    cdef Py_ssize_t w_first, w_stop, kd, kh, kw, position, best_position
    cdef max_value_t value, best
    cdef bint take
    valid_taps(w_start, w.in_size[2], w.kernel[2], w.dilation[2], &w_first, &w_stop)
    # Start from the first real tap. Visiting it again below changes nothing (equal values
    # do not replace; a NaN replaces itself), so the loop needs no first-tap branch, and the
    # selects compile without data-dependent jumps.
    best_position = plane_position(w, d_start, d_first, h_start, h_first, w_start, w_first)
    best = plane[best_position]
    for kd in range(d_first, d_stop):
        for kh in range(h_first, h_stop):
            for kw in range(w_first, w_stop):
                position = plane_position(w, d_start, kd, h_start, kh, w_start, kw)
                value = plane[position]
                take = max_takes(value, best)
                best = value if take else best
                best_position = position if take else best_position
    values[ow] = best
    if indices != NULL:
        indices[ow] = best_position


cdef inline void max_width_taps(const max_value_t* plane, Py_ssize_t offset, Py_ssize_t stride,
                                Py_ssize_t taps, Py_ssize_t dilation, max_value_t* values,
                                index_t* indices, Py_ssize_t first, Py_ssize_t stop,
                                bint is_first, bint with_indices) noexcept nogil:
    """Merge the `taps` width taps of one input row into the running maxima of the output
    columns [first, stop); input column of tap t for column ow: offset + ow*stride + t*dilation.

    The running maximum stays in registers across the row's taps, and the loop over columns
    vectorises; callers pass literal stride/taps/dilation/is_first/with_indices so that each
    inlined copy is specialised (fully unrolled taps, constant-stride loads).
    """
    cdef Py_ssize_t ow, t, position, best_position = 0
    cdef max_value_t best, value
    cdef bint take
    for ow in range(first, stop):
        position = offset + ow * stride
        if is_first:
            best = plane[position]
            best_position = position
        else:
            best = values[ow]
            if with_indices:
                best_position = indices[ow]
        for t in range(1 if is_first else 0, taps):
            value = plane[position + t * dilation]
            take = max_takes(value, best)
            best = value if take else best
            if with_indices:
                best_position = (position + t * dilation) if take else best_position
        values[ow] = best
        if with_indices:
            indices[ow] = best_position


cdef inline void max_width_taps_outer(const max_value_t* plane, Py_ssize_t offset,
                                      Py_ssize_t stride, Py_ssize_t taps, Py_ssize_t dilation,
                                      max_value_t* values, index_t* indices, Py_ssize_t first,
                                      Py_ssize_t stop, bint is_first,
                                      bint with_indices) noexcept nogil:
    """max_width_taps for any window width: one pass over the columns per tap, so that the
    selects stay branch-free however many taps there are (a data-dependent branch per tap
    costs far more than re-reading the running maxima from L1)."""
    cdef Py_ssize_t ow, t, position
    cdef max_value_t value
    cdef bint take
    for t in range(taps):
        if is_first and t == 0:
            for ow in range(first, stop):
                position = offset + ow * stride
                values[ow] = plane[position]
                if with_indices:
                    indices[ow] = position
        else:
            for ow in range(first, stop):
                position = offset + ow * stride + t * dilation
                value = plane[position]
                take = max_takes(value, values[ow])
                values[ow] = value if take else values[ow]
                if with_indices:
                    indices[ow] = <index_t>position if take else indices[ow]


cdef inline void max_width_shapes(const max_value_t* plane, Py_ssize_t offset, Py_ssize_t stride,
                                  Py_ssize_t taps, Py_ssize_t dilation, max_value_t* values,
                                  index_t* indices, Py_ssize_t first, Py_ssize_t stop,
                                  bint is_first, bint with_indices) noexcept nogil:
    # Specialised copies for the window widths that dominate real networks: k == s (2, 3, 4)
    # and the overlapping 3/2, 3/1, 2/1.
    if dilation == 1 and stride == 2 and taps == 2:
        max_width_taps(plane, offset, 2, 2, 1, values, indices, first, stop, is_first,
                       with_indices)
    elif dilation == 1 and stride == 2 and taps == 3:
        max_width_taps(plane, offset, 2, 3, 1, values, indices, first, stop, is_first,
                       with_indices)
    elif dilation == 1 and stride == 1 and taps == 3:
        max_width_taps(plane, offset, 1, 3, 1, values, indices, first, stop, is_first,
                       with_indices)
    elif dilation == 1 and stride == 1 and taps == 2:
        max_width_taps(plane, offset, 1, 2, 1, values, indices, first, stop, is_first,
                       with_indices)
    elif dilation == 1 and stride == 3 and taps == 3:
        max_width_taps(plane, offset, 3, 3, 1, values, indices, first, stop, is_first,
                       with_indices)
    elif dilation == 1 and stride == 4 and taps == 4:
        max_width_taps(plane, offset, 4, 4, 1, values, indices, first, stop, is_first,
                       with_indices)
    elif taps == 1:
        max_width_taps(plane, offset, stride, 1, dilation, values, indices, first, stop,
                       is_first, with_indices)
    elif taps >= WIDE_WINDOW:
        # Wide windows (global-like pooling): one column at a time reads its taps in order;
        # a pass per tap would stride through memory once per tap.
        max_width_taps(plane, offset, stride, taps, dilation, values, indices, first, stop,
                       is_first, with_indices)
    else:
        max_width_taps_outer(plane, offset, stride, taps, dilation, values, indices, first,
                             stop, is_first, with_indices)


cdef inline void max_width_pass(const max_value_t* plane, Py_ssize_t offset, const Window* w,
                                max_value_t* values, index_t* indices, Py_ssize_t first,
                                Py_ssize_t stop, bint is_first) noexcept nogil:
    """One input row's taps for the interior columns; `indices` may be NULL (values only)."""
    cdef Py_ssize_t stride = w.stride[2], taps = w.kernel[2], dilation = w.dilation[2]
    if indices != NULL:
        if is_first:
            max_width_shapes(plane, offset, stride, taps, dilation, values, indices, first,
                             stop, True, True)
        else:
            max_width_shapes(plane, offset, stride, taps, dilation, values, indices, first,
                             stop, False, True)
    else:
        if is_first:
            max_width_shapes(plane, offset, stride, taps, dilation, values, indices, first,
                             stop, True, False)
        else:
            max_width_shapes(plane, offset, stride, taps, dilation, values, indices, first,
                             stop, False, False)


# The phase path, for the 3-tap windows of stride 2 (ResNet's stem) and 1: rows go through
# per-task scratch in chunks of output columns.
# - Each input row under a chunk's windows is split by column into `stride` phases (phase r
#   holds columns start + r, start + r + stride, ...), so that every tap of every window reads
#   unit-stride vectors: tap t of output j is phase (t % stride), element j + t // stride.
#   Strided loads instead cost shuffles per tap, and their gaps make GCC run the last vector of
#   every loop as scalar code.
# - Columns outside the input (padding, a ceil-mode overhang) hold the dtype's lowest value,
#   which never replaces a running maximum, so border windows take the vectorised pass like
#   the others instead of a scalar loop of data-dependent branches. Only a border window whose
#   maximum is that lowest value may have kept a padding tap's index: max_point redoes those.
# - Chunks are rounded up to whole vectors in scratch: no scalar remainder. (On rows of 14 to
#   56 outputs, border windows and remainders took 40% of the time.)
# - The argmax is tracked as an int32 offset from the chunk's first window start (plane
#   position origin + start), which selects as cheaply as float32 lanes.
# For windows of stride == kernel the old row passes stay faster (a phase split would add a
# copy of data that is read once anyway), and for 1- and 2-byte dtypes the byte shuffles of the
# split cost more than they save.

cdef enum:
    # Output columns per chunk (a multiple of every lane count of a >= 4-byte dtype).
    PHASE_CHUNK = 64
    # Elements of the phase buffer: 2 phases of PHASE_CHUNK + 1.
    PHASE_CAPACITY = 2 * PHASE_CHUNK + 2


cdef bint takes_phase_path(const Window* w, Py_ssize_t item_size) noexcept nogil:
    """Whether the phase path pools this window, for a dtype of `item_size` bytes (its int32
    argmax offsets need planes below 2**31 elements)."""
    cdef Py_ssize_t plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    return (w.kernel[2] == 3 and w.stride[2] <= 2 and w.dilation[2] == 1 and item_size >= 4
            and plane_size < (<Py_ssize_t>1 << 31) - PHASE_CAPACITY)


cdef inline max_value_t lowest_value(max_value_t sample) noexcept nogil:
    """The lowest value of the dtype of `sample`: -inf, or the integer minimum."""
    if max_value_t is float or max_value_t is double:
        return -INFINITY
    elif max_value_t is int8_t:
        return INT8_MIN
    elif max_value_t is int16_t:
        return INT16_MIN
    elif max_value_t is int32_t:
        return INT32_MIN
    elif max_value_t is int64_t:
        return INT64_MIN
    else:
        return 0


cdef inline void fill_phases_clipped(const max_value_t* row, Py_ssize_t width,
                                     Py_ssize_t start, Py_ssize_t stride,
                                     Py_ssize_t phase_length, max_value_t lowest,
                                     max_value_t* phases, Py_ssize_t first,
                                     Py_ssize_t stop) noexcept nogil:
    """fill_phases's elements [first, stop), where a column may lie outside the row."""
    cdef Py_ssize_t j, r, column
    for j in range(first, stop):
        for r in range(stride):
            column = start + j * stride + r
            phases[r * phase_length + j] = row[column] if 0 <= column < width else lowest


cdef inline void fill_phases(const max_value_t* row, Py_ssize_t width, Py_ssize_t start,
                             Py_ssize_t stride, Py_ssize_t phase_length, max_value_t lowest,
                             max_value_t* phases) noexcept nogil:
    """phases[r * phase_length + j] = row[start + j * stride + r] for r < stride,
    j < phase_length, `lowest` where that column lies outside [0, width). Callers pass a
    literal stride for a vectorised copy."""
    cdef Py_ssize_t j, r
    # Elements [inside_first, inside_stop) read whole groups of `stride` columns in the row.
    cdef Py_ssize_t inside_first = 0 if start >= 0 else (-start + stride - 1) // stride
    cdef Py_ssize_t inside_stop = (width - start) // stride if width >= start else 0
    inside_stop = max(inside_first, min(inside_stop, phase_length))
    inside_first = min(inside_first, phase_length)
    for j in range(inside_first, inside_stop):
        for r in range(stride):
            phases[r * phase_length + j] = row[start + j * stride + r]
    fill_phases_clipped(row, width, start, stride, phase_length, lowest, phases, 0,
                        inside_first)
    fill_phases_clipped(row, width, start, stride, phase_length, lowest, phases, inside_stop,
                        phase_length)


cdef inline void split_row(const max_value_t* row, Py_ssize_t width, Py_ssize_t start,
                           Py_ssize_t stride, Py_ssize_t phase_length, max_value_t lowest,
                           max_value_t* phases) noexcept nogil:
    if stride == 2:
        fill_phases(row, width, start, 2, phase_length, lowest, phases)
    else:
        fill_phases(row, width, start, 1, phase_length, lowest, phases)


cdef inline void max_phase_taps(const max_value_t* phases, Py_ssize_t phase_length,
                                Py_ssize_t stride, Py_ssize_t taps, max_value_t* best,
                                int32_t* where, Py_ssize_t count, int32_t code_shift,
                                bint is_first, bint with_indices) noexcept nogil:
    """Merge the `taps` taps of one input row (split into phases) into the running maxima
    of chunk columns [0, count), each column's taps left to right. Callers pass literal
    stride/taps/is_first/with_indices for specialised, fully unrolled copies."""
    cdef Py_ssize_t j, t
    cdef int32_t code = code_shift, best_code = 0
    cdef max_value_t value, maximum
    cdef bint take
    for j in range(count):
        if is_first:
            maximum = phases[j]
            best_code = code
        else:
            maximum = best[j]
            if with_indices:
                best_code = where[j]
        for t in range(1 if is_first else 0, taps):
            value = phases[(t % stride) * phase_length + t // stride + j]
            take = max_takes(value, maximum)
            maximum = value if take else maximum
            if with_indices:
                best_code = (code + <int32_t>t) if take else best_code
        best[j] = maximum
        if with_indices:
            where[j] = best_code
        code = code + <int32_t>stride


cdef inline void max_phase_shapes(const max_value_t* phases, Py_ssize_t phase_length,
                                  Py_ssize_t stride, max_value_t* best, int32_t* where,
                                  Py_ssize_t count, int32_t code_shift, bint is_first,
                                  bint with_indices) noexcept nogil:
    if stride == 2:
        max_phase_taps(phases, phase_length, 2, 3, best, where, count, code_shift, is_first,
                       with_indices)
    else:
        max_phase_taps(phases, phase_length, 1, 3, best, where, count, code_shift, is_first,
                       with_indices)


cdef void max_phase_pass(const max_value_t* next_row, max_value_t* next_phases,
                         const max_value_t* phases, const Window* w, Py_ssize_t start,
                         Py_ssize_t phase_length, max_value_t lowest, max_value_t* best,
                         int32_t* where, Py_ssize_t count, int32_t code_shift,
                         bint is_first) noexcept nogil:
    """One input row's taps (already split into `phases`) for `count` chunk columns; first
    splits `next_row`, unless NULL, into `next_phases`. `where` may be NULL (values only).
    A function of its own per dtype: GCC then inlines the specialised copies here."""
    cdef Py_ssize_t stride = w.stride[2]
    if next_row != NULL:
        split_row(next_row, w.in_size[2], start, stride, phase_length, lowest, next_phases)
    if where != NULL:
        if is_first:
            max_phase_shapes(phases, phase_length, stride, best, where, count, code_shift,
                             True, True)
        else:
            max_phase_shapes(phases, phase_length, stride, best, where, count, code_shift,
                             False, True)
    else:
        if is_first:
            max_phase_shapes(phases, phase_length, stride, best, where, count, 0, True, False)
        else:
            max_phase_shapes(phases, phase_length, stride, best, where, count, 0, False,
                             False)


cdef inline void store_phase_chunk(const max_value_t* plane, max_value_t* values,
                                   index_t* indices, const Window* w, const max_value_t* best,
                                   const int32_t* where, Py_ssize_t first, Py_ssize_t outputs,
                                   Py_ssize_t code_origin, max_value_t lowest,
                                   Py_ssize_t d_first, Py_ssize_t d_stop, Py_ssize_t h_first,
                                   Py_ssize_t h_stop, Py_ssize_t d_start,
                                   Py_ssize_t h_start) noexcept nogil:
    """A chunk's maxima into output columns [first, first + outputs) and, unless `indices`
    is NULL, its argmax codes as plane positions (code_origin + code); then redo the border
    windows whose maximum is the padding's value (see above)."""
    cdef Py_ssize_t j, ow
    memcpy(values + first, best, outputs * sizeof(max_value_t))
    if indices == NULL:
        return
    for j in range(outputs):
        indices[first + j] = <index_t>(code_origin + where[j])
    ow = first
    while ow < first + outputs:
        if w.interior_first <= ow < w.interior_stop:
            ow = w.interior_stop
            continue
        if best[ow - first] == lowest:
            max_point(plane, values, indices, w, d_first, d_stop, h_first, h_stop, d_start,
                      h_start, ow)
        ow = ow + 1


cdef inline void max_row_phases(const max_value_t* plane, max_value_t* values, index_t* indices,
                                const Window* w, Py_ssize_t od, Py_ssize_t oh) noexcept nogil:
    """Output row (od, oh) of one plane; `indices` may be NULL (values only)."""
    # Two phase buffers: the next input row is split before the current one's taps are
    # merged, so that the taps' loads do not wait on the split's stores still in flight.
    cdef max_value_t phases[2 * PHASE_CAPACITY]
    cdef max_value_t best[PHASE_CHUNK]
    cdef int32_t where[PHASE_CHUNK]
    cdef Py_ssize_t width = w.in_size[2], stride = w.stride[2], out_width = w.out_size[2]
    cdef Py_ssize_t lanes = CYPOOL_VECTOR_BYTES // sizeof(max_value_t)
    cdef Py_ssize_t depth_step = w.dilation[0] * w.in_size[1] * width
    cdef Py_ssize_t row_step = w.dilation[1] * width
    cdef Py_ssize_t d_start = od * w.stride[0] - w.padding[0]
    cdef Py_ssize_t h_start = oh * w.stride[1] - w.padding[1]
    cdef Py_ssize_t d_first, d_stop, h_first, h_stop, origin, rows, heights, row
    cdef Py_ssize_t first = 0, outputs, count, start, phase_length, next_offset
    cdef max_value_t lowest = lowest_value(plane[0])
    cdef max_value_t* current
    cdef int32_t offset
    valid_taps(d_start, w.in_size[0], w.kernel[0], w.dilation[0], &d_first, &d_stop)
    valid_taps(h_start, w.in_size[1], w.kernel[1], w.dilation[1], &h_first, &h_stop)
    origin = plane_position(w, d_start, d_first, h_start, h_first, 0, 0)
    # The window's input rows in raster order (row r: depth r // heights, height r % heights),
    # each row's taps left to right: every output sees its taps in raster order.
    heights = h_stop - h_first
    rows = (d_stop - d_first) * heights
    while first < out_width:
        outputs = min(<Py_ssize_t>PHASE_CHUNK, out_width - first)
        # Whole vectors (PHASE_CHUNK is a multiple of the lane count).
        count = (outputs + lanes - 1) // lanes * lanes
        start = first * stride - w.padding[2]
        # Columns per phase: tap t of column j < count reads element j + t // stride.
        phase_length = count + (w.kernel[2] - 1) // stride
        split_row(plane + origin, width, start, stride, phase_length, lowest, phases)
        for row in range(rows):
            offset = <int32_t>((row // heights) * depth_step + (row % heights) * row_step)
            next_offset = ((row + 1) // heights) * depth_step + ((row + 1) % heights) * row_step
            current = phases + (row % 2) * PHASE_CAPACITY
            max_phase_pass(plane + origin + next_offset if row + 1 < rows else NULL,
                           phases + ((row + 1) % 2) * PHASE_CAPACITY, current, w, start,
                           phase_length, lowest, best, where if indices != NULL else NULL,
                           count, offset, row == 0)
        store_phase_chunk(plane, values, indices, w, best, where, first, outputs,
                          origin + start, lowest, d_first, d_stop, h_first, h_stop, d_start,
                          h_start)
        first = first + outputs


cdef inline void max_window_columns(const max_value_t* plane, Py_ssize_t offset,
                                    Py_ssize_t row_step, Py_ssize_t depth_step,
                                    Py_ssize_t rows, Py_ssize_t heights, Py_ssize_t stride,
                                    Py_ssize_t taps, max_value_t* values, index_t* indices,
                                    Py_ssize_t first, Py_ssize_t count,
                                    bint with_indices) noexcept nogil:
    """Output columns [first, first + count) of a row whose windows (laid out as
    avg_window_columns', dilation 1) lie wholly in the input, each in one go: its taps in
    raster order from the first (the rule of the pass-per-row path, so the same values and
    indices). Callers pass literal rows/heights/stride/taps/with_indices (and count, for the
    tail) for fully unrolled, vectorised copies.

    For 4-byte dtypes the argmax is an int32 offset from the window's first tap (the caller
    checks that the plane has fewer than 2**31 elements), which selects as cheaply as their
    lanes and is widened once per output (2x2x2 windows 1.3x faster); for the others the
    plane position itself measured faster (uint8 1.4x, float64 1.09x)."""
    cdef Py_ssize_t ow, r, t, position, tap, best_position
    cdef int32_t where
    cdef bint narrow = sizeof(max_value_t) == 4
    cdef max_value_t best, value
    cdef bint take
    for ow in range(first, first + count):
        position = offset + ow * stride
        best = plane[position]
        where = 0
        best_position = position
        for r in range(rows):
            for t in range(taps):
                if r == 0 and t == 0:
                    continue
                tap = (r // heights) * depth_step + (r % heights) * row_step + t
                value = plane[position + tap]
                take = max_takes(value, best)
                best = value if take else best
                if with_indices and narrow:
                    where = <int32_t>tap if take else where
                elif with_indices:
                    best_position = (position + tap) if take else best_position
        values[ow] = best
        if with_indices:
            indices[ow] = <index_t>((position + where) if narrow else best_position)


cdef inline void max_window_row(const max_value_t* plane, Py_ssize_t offset,
                                Py_ssize_t row_step, Py_ssize_t depth_step, Py_ssize_t rows,
                                Py_ssize_t heights, Py_ssize_t stride,
                                Py_ssize_t taps, max_value_t* values, index_t* indices,
                                Py_ssize_t first, Py_ssize_t stop,
                                bint with_indices) noexcept nogil:
    """max_window_columns over [first, stop) without a scalar remainder (avg_window_row's
    scheme: the last vector overlaps the one before and computes its columns again, to the
    same values and indices)."""
    # Volatile: see avg_window_row.
    cdef volatile Py_ssize_t vector_lanes = CYPOOL_VECTOR_BYTES // sizeof(max_value_t)
    cdef Py_ssize_t lanes = vector_lanes, count = stop - first
    if count < lanes:
        max_window_columns(plane, offset, row_step, depth_step, rows, heights, stride, taps,
                           values, indices, first, count, with_indices)
        return
    max_window_columns(plane, offset, row_step, depth_step, rows, heights, stride, taps,
                       values, indices, first, count - count % lanes, with_indices)
    if count % lanes:
        max_window_columns(plane, offset, row_step, depth_step, rows, heights, stride, taps,
                           values, indices, stop - lanes, lanes, with_indices)


cdef inline bint max_window_shapes(const max_value_t* plane, Py_ssize_t offset,
                                   const Window* w, max_value_t* values, index_t* indices,
                                   Py_ssize_t first, Py_ssize_t stop) noexcept nogil:
    """max_window_row for 2x2 and 2x2x2 windows of stride 2 (VGG's, and the everyday
    downsampling), whose rows of 14 to 56 outputs otherwise spend most of their time in the
    passes' scalar remainders and in reading the running maxima back; False (nothing done)
    for any other window."""
    cdef Py_ssize_t row_step = w.in_size[2], depth_step = w.in_size[1] * w.in_size[2]
    if not (w.kernel[1] == 2 and w.kernel[2] == 2 and w.stride[2] == 2
            and w.dilation[0] == 1 and w.dilation[1] == 1 and w.dilation[2] == 1
            and w.in_size[0] * depth_step < (<Py_ssize_t>1) << 31):
        return False
    if w.kernel[0] == 1 and indices != NULL:
        max_window_row(plane, offset, row_step, 0, 2, 2, 2, 2, values, indices, first, stop,
                       True)
    elif w.kernel[0] == 1:
        max_window_row(plane, offset, row_step, 0, 2, 2, 2, 2, values, indices, first, stop,
                       False)
    elif w.kernel[0] == 2 and indices != NULL:
        max_window_row(plane, offset, row_step, depth_step, 4, 2, 2, 2, values, indices,
                       first, stop, True)
    elif w.kernel[0] == 2:
        max_window_row(plane, offset, row_step, depth_step, 4, 2, 2, 2, values, indices,
                       first, stop, False)
    else:
        return False
    return True


cdef inline void max_row(const max_value_t* plane, max_value_t* values, index_t* indices,
                         const Window* w, Py_ssize_t od, Py_ssize_t oh) noexcept nogil:
    cdef Py_ssize_t d_start = od * w.stride[0] - w.padding[0]
    cdef Py_ssize_t h_start = oh * w.stride[1] - w.padding[1]
    cdef Py_ssize_t d_first, d_stop, h_first, h_stop, ow_first, ow_stop, ow, kd, kh, kw
    cdef Py_ssize_t row_start
    cdef bint is_first = True
    valid_taps(d_start, w.in_size[0], w.kernel[0], w.dilation[0], &d_first, &d_stop)
    valid_taps(h_start, w.in_size[1], w.kernel[1], w.dilation[1], &h_first, &h_stop)
    ow_first = w.interior_first
    ow_stop = w.interior_stop
    for ow in range(ow_first):
        max_point(plane, values, indices, w, d_first, d_stop, h_first, h_stop,
                  d_start, h_start, ow)
    for ow in range(ow_stop, w.out_size[2]):
        max_point(plane, values, indices, w, d_first, d_stop, h_first, h_stop,
                  d_start, h_start, ow)
    if ow_first == ow_stop:
        return
    if (d_first == 0 and d_stop == w.kernel[0] and h_first == 0 and h_stop == w.kernel[1]
            and max_window_shapes(plane, plane_position(w, d_start, 0, h_start, 0, 0, 0)
                                  - w.padding[2], w, values, indices, ow_first, ow_stop)):
        return  # a common window whose rows all lie in the input: one pass
    # Interior columns: one pass per input row of the window, rows in raster order and each
    # row's taps left to right, so every output element sees its taps in raster order.
    for kd in range(d_first, d_stop):
        for kh in range(h_first, h_stop):
            row_start = plane_position(w, d_start, kd, h_start, kh, 0, 0)
            max_width_pass(plane, row_start - w.padding[2], w, values, indices, ow_first,
                           ow_stop, is_first)
            is_first = False


cdef enum:
    # The max forward's window rows (max_row) ask for the input rows about this many bytes
    # ahead of the output row they are about to pool (prefetch_ahead), for rows shorter than
    # this...
    PREFETCH_DISTANCE = 4096
    # ...and inputs of at least this many bytes (smaller ones are mostly in the caches already).
    PREFETCH_MIN_INPUT = 4 * 1024 * 1024

# For the tests, which pick inputs on both sides of the limits.
PREFETCH_LIMITS = {"distance": PREFETCH_DISTANCE, "input": PREFETCH_MIN_INPUT}


cdef inline bint prefetches_rows(const Window* w, Py_ssize_t item_size,
                                 Py_ssize_t n_planes) noexcept nogil:
    """Whether max_pool_rows' window rows call prefetch_ahead: windows one deep (1-d and 2-d
    pooling), rows whose stride step is under PREFETCH_DISTANCE, inputs of at least
    PREFETCH_MIN_INPUT. Measured through the public call, old and new modules in alternating
    processes, 1 / 2 threads: float64_max's 2x2/2 on 56-wide rows 1.37x / 1.37x, vgg_block
    1.08x / 1.08x. Not taken where it cost, in one process against no prefetch: small_batch's
    0.8 MB input (0.94x, in the caches already), 2x2x2 windows (volume_3d_max 0.89-0.93x: a
    row step there spans two depth slices), the phase path's 3x3 rows (overlap_s1_max
    0.96x) and the average forwards (densenet_transition 0.92x: their lighter rows keep up
    with the hardware prefetchers)."""
    cdef Py_ssize_t step = w.stride[1] * w.in_size[2] * item_size
    return (w.kernel[0] == 1 and step < PREFETCH_DISTANCE
            and n_planes * w.in_size[0] * w.in_size[1] * w.in_size[2] * item_size
            >= PREFETCH_MIN_INPUT)


cdef inline void prefetch_ahead(const void* plane, const Window* w, Py_ssize_t od,
                                Py_ssize_t oh, Py_ssize_t item_size) noexcept nogil:
    """Asks the caches for the input rows of the output row about PREFETCH_DISTANCE bytes of
    input after output row (od, oh) of `plane`: one row step (stride rows), which that row
    needs and the one before it did not. The hardware prefetchers follow long rows, but on
    the short rows of most feature maps a single thread's max forward outran them. Prefetches
    are hints: an address past the input (near a plane's last rows) is harmless."""
    cdef Py_ssize_t step = w.stride[1] * w.in_size[2] * item_size, b
    cdef Py_ssize_t start = (plane_position(w, od * w.stride[0] - w.padding[0], 0,
                                            oh * w.stride[1] - w.padding[1], 0, 0, 0)
                             * item_size + PREFETCH_DISTANCE // step * step)
    for b in range(0, step, 64):
        cypool_prefetch(<const char*>plane + start + b)


cdef void max_pool_rows(const max_value_t* input, max_value_t* values, index_t* indices,
                        const Window* w, Py_ssize_t n_planes, int n_threads) noexcept nogil:
    """Every output row of every plane, ROW_BLOCK consecutive rows per parallel task;
    `indices` may be NULL (values only). Output row r starts at r * out_width."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t out_width = w.out_size[2]
    cdef Py_ssize_t n_rows = n_planes * w.out_size[0] * w.out_size[1]
    cdef Py_ssize_t block, row, stop, plane, od, oh
    cdef bint prefetches = prefetches_rows(w, sizeof(max_value_t), n_planes)
    # One parallel loop per row path: sharing one outlined OpenMP function made the strided
    # path's rows 3-8% slower.
    if takes_phase_planes(w, sizeof(max_value_t), n_planes, n_threads):
        max_phase_planes_parallel(input, values, indices, w, n_planes, n_threads)
        return
    if takes_phase_path(w, sizeof(max_value_t)):
        for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                            num_threads=n_threads):
            row = block * ROW_BLOCK
            stop = min(row + ROW_BLOCK, n_rows)
            oh = row % w.out_size[1]
            od = (row // w.out_size[1]) % w.out_size[0]
            plane = row // (w.out_size[1] * w.out_size[0])
            while row < stop:
                max_row_phases(input + plane * in_plane_size, values + row * out_width,
                               (indices + row * out_width) if indices != NULL else NULL, w,
                               od, oh)
                next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
                row = row + 1
        return
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                        num_threads=n_threads):
        row = block * ROW_BLOCK
        stop = min(row + ROW_BLOCK, n_rows)
        oh = row % w.out_size[1]
        od = (row // w.out_size[1]) % w.out_size[0]
        plane = row // (w.out_size[1] * w.out_size[0])
        while row < stop:
            if prefetches:
                prefetch_ahead(input + plane * in_plane_size, w, od, oh, sizeof(max_value_t))
            max_row(input + plane * in_plane_size, values + row * out_width,
                    (indices + row * out_width) if indices != NULL else NULL, w, od, oh)
            next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
            row = row + 1


def max_pool_forward(const max_value_t[:, :, :, ::1] input,
                     max_value_t[:, :, :, ::1] values_out,
                     index_t[:, :, :, ::1] indices_out,
                     tuple kernel, tuple stride, tuple padding, tuple dilation,
                     int n_threads):
    """Max pooling with argmax over (planes, D, H, W) -> (planes, OD, OH, OW)."""
    cdef Window w = make_window(&input.shape[1], &values_out.shape[1],
                                kernel, stride, padding, dilation)
    with nogil:
        max_pool_rows(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0], &indices_out[0, 0, 0, 0],
                      &w, input.shape[0], n_threads)


def max_pool_forward_values(const max_value_t[:, :, :, ::1] input,
                            max_value_t[:, :, :, ::1] values_out,
                            tuple kernel, tuple stride, tuple padding, tuple dilation,
                            int n_threads):
    """Max pooling without the argmax: the same rule, less memory traffic."""
    cdef Window w = make_window(&input.shape[1], &values_out.shape[1],
                                kernel, stride, padding, dilation)
    with nogil:
        max_pool_rows(&input[0, 0, 0, 0], &values_out[0, 0, 0, 0], <int64_t*>NULL, &w,
                      input.shape[0], n_threads)


# ---------------------------------------------------------------------------------------------
# Max pooling, backward: grad_input[plane][indices[o]] += grad_output[o], outputs in raster
# order (PyTorch's scatter, so float sums round identically). The indices are user data: the
# caller does not check their range, so each plane's scatter skips and counts the ones outside
# the plane and the wrapper raises if any were found. One plane per iteration keeps the result
# independent of the thread count.

cdef inline Py_ssize_t max_backward_plane(const floating* grad_output, const index_t* indices,
                                          floating* grad_input, Py_ssize_t out_plane_size,
                                          Py_ssize_t in_plane_size) noexcept nogil:
    cdef Py_ssize_t o, target, out_of_range = 0
    for o in range(in_plane_size):
        grad_input[o] = 0
    for o in range(out_plane_size):
        target = indices[o]
        if target < 0 or target >= in_plane_size:
            out_of_range += 1
        else:
            grad_input[target] += grad_output[o]
    return out_of_range


def max_pool_backward(const floating[:, ::1] grad_output, const index_t[:, ::1] indices,
                      floating[:, ::1] grad_input, int n_threads):
    """Scatter (planes, out_plane) gradients into (planes, in_plane); returns the number of
    indices that fell outside the plane (those are skipped)."""
    cdef Py_ssize_t plane, out_of_range = 0
    for plane in prange(grad_output.shape[0], schedule="static", nogil=True,
                        num_threads=n_threads):
        out_of_range += max_backward_plane(&grad_output[plane, 0], &indices[plane, 0],
                                           &grad_input[plane, 0], grad_output.shape[1],
                                           grad_input.shape[1])
    return out_of_range


# ---------------------------------------------------------------------------------------------
# Average pooling.
#
# Divisor (PyTorch's): divisor_override when given (> 0); else, per axis, the window clipped to
# the padded extent [-padding, length + padding) when count_include_pad (a ceil-mode overhang
# past the padding never counts), or to the real input [0, length) otherwise; the axes multiply.
# Sums run in the input dtype in raster order starting from +0, then one true division.

cdef inline Py_ssize_t axis_count(Py_ssize_t start, Py_ssize_t length, Py_ssize_t kernel,
                                  Py_ssize_t padding, bint count_include_pad) noexcept nogil:
    cdef Py_ssize_t stop = start + kernel
    if stop > length + padding:
        stop = length + padding
    if count_include_pad:
        return stop - start
    if start < 0:
        start = 0
    if stop > length:
        stop = length
    return stop - start


cdef inline void avg_point(const floating* plane, floating* out, const Window* w,
                           Py_ssize_t d_first, Py_ssize_t d_stop, Py_ssize_t h_first,
                           Py_ssize_t h_stop, Py_ssize_t d_start, Py_ssize_t h_start,
                           Py_ssize_t row_divisor, bint count_include_pad,
                           Py_ssize_t divisor_override, Py_ssize_t ow) noexcept nogil:
    """One output element whose width window may be clipped (scalar path)."""
    cdef Py_ssize_t w_start = ow * w.stride[2] - w.padding[2]
    cdef Py_ssize_t w_first, w_stop, kd, kh, kw, divisor
    cdef floating total = 0
    valid_taps(w_start, w.in_size[2], w.kernel[2], 1, &w_first, &w_stop)
    for kd in range(d_first, d_stop):
        for kh in range(h_first, h_stop):
            for kw in range(w_first, w_stop):
                total = total + plane[plane_position(w, d_start, kd, h_start, kh, w_start,
                                                     kw)]
    if divisor_override > 0:
        divisor = divisor_override
    else:
        divisor = row_divisor * axis_count(w_start, w.in_size[2], w.kernel[2], w.padding[2],
                                           count_include_pad)
    out[ow] = total / <floating>divisor


cdef inline void avg_width_taps(const floating* plane, Py_ssize_t offset, Py_ssize_t stride,
                                Py_ssize_t taps, floating* sums, Py_ssize_t first,
                                Py_ssize_t stop, bint is_first) noexcept nogil:
    """Add the `taps` width taps of one input row to the running sums of the output columns
    [first, stop), left to right; input column of tap t for column ow: offset + ow*stride + t.
    Callers pass literal stride/taps/is_first so that each inlined copy is specialised."""
    cdef Py_ssize_t ow, t, position
    cdef floating total, zero = 0
    for ow in range(first, stop):
        position = offset + ow * stride
        # zero + x, not x: a sum that starts from +0 turns a lone -0.0 into +0.0, as PyTorch's.
        total = (zero if is_first else sums[ow]) + plane[position]
        for t in range(1, taps):
            total = total + plane[position + t]
        sums[ow] = total


cdef inline void avg_width_taps_outer(const floating* plane, Py_ssize_t offset,
                                      Py_ssize_t stride, Py_ssize_t taps, floating* sums,
                                      Py_ssize_t first, Py_ssize_t stop,
                                      bint is_first) noexcept nogil:
    """avg_width_taps for any window width, one pass over the columns per tap (each column
    still adds its taps left to right)."""
    cdef Py_ssize_t ow, t
    cdef floating zero = 0
    for t in range(taps):
        if is_first and t == 0:
            for ow in range(first, stop):
                sums[ow] = zero + plane[offset + ow * stride]
        else:
            for ow in range(first, stop):
                sums[ow] = sums[ow] + plane[offset + ow * stride + t]


cdef inline void avg_width_shapes(const floating* plane, Py_ssize_t offset, Py_ssize_t stride,
                                  Py_ssize_t taps, floating* sums, Py_ssize_t first,
                                  Py_ssize_t stop, bint is_first) noexcept nogil:
    # Specialised copies for the window widths that dominate real networks.
    if stride == 2 and taps == 2:
        avg_width_taps(plane, offset, 2, 2, sums, first, stop, is_first)
    elif stride == 2 and taps == 3:
        avg_width_taps(plane, offset, 2, 3, sums, first, stop, is_first)
    elif stride == 1 and taps == 3:
        avg_width_taps(plane, offset, 1, 3, sums, first, stop, is_first)
    elif stride == 3 and taps == 3:
        avg_width_taps(plane, offset, 3, 3, sums, first, stop, is_first)
    elif stride == 4 and taps == 4:
        avg_width_taps(plane, offset, 4, 4, sums, first, stop, is_first)
    else:
        avg_width_taps_outer(plane, offset, stride, taps, sums, first, stop, is_first)


cdef inline void avg_width_pass(const floating* plane, Py_ssize_t offset, const Window* w,
                                floating* sums, Py_ssize_t first, Py_ssize_t stop,
                                bint is_first) noexcept nogil:
    if is_first:
        avg_width_shapes(plane, offset, w.stride[2], w.kernel[2], sums, first, stop, True)
    else:
        avg_width_shapes(plane, offset, w.stride[2], w.kernel[2], sums, first, stop, False)


cdef inline void avg_window_columns(const floating* plane, Py_ssize_t offset,
                                    Py_ssize_t row_step, Py_ssize_t depth_step,
                                    Py_ssize_t rows, Py_ssize_t heights, Py_ssize_t stride,
                                    Py_ssize_t taps, floating divisor, floating* out,
                                    Py_ssize_t first, Py_ssize_t count) noexcept nogil:
    """Output columns [first, first + count) of a row whose windows (`rows` input rows of `taps`
    taps, `heights` rows per depth) lie wholly in the input, each in one go: its taps summed
    in raster order from +0 (the rule of the pass-per-row path, so the same sums), then one
    division. Input row r of column ow's window starts at offset + ow*stride +
    (r // heights)*depth_step + (r % heights)*row_step. Callers pass literal
    rows/heights/stride/taps (and count, for the tail) for fully unrolled, vectorised copies."""
    cdef Py_ssize_t ow, r, t, position
    cdef floating total, zero = 0
    for ow in range(first, first + count):
        position = offset + ow * stride
        total = zero
        for r in range(rows):
            for t in range(taps):
                total = total + plane[position + (r // heights) * depth_step
                                      + (r % heights) * row_step + t]
        out[ow] = total / divisor


cdef inline void avg_window_row(const floating* plane, Py_ssize_t offset, Py_ssize_t row_step,
                                Py_ssize_t depth_step, Py_ssize_t rows, Py_ssize_t heights,
                                Py_ssize_t stride, Py_ssize_t taps, floating divisor,
                                floating* out, Py_ssize_t first, Py_ssize_t stop) noexcept nogil:
    """avg_window_columns over [first, stop) without a scalar remainder: whole vectors, then
    one vector that ends at `stop` and overlaps the last whole one (its columns are computed
    again, to the same values). Narrow rows (14 to 28 outputs) otherwise spend much of their
    time in the remainder."""
    # Volatile: a tail count the compiler sees as a constant gets unrolled into scalar code
    # instead of being vectorised.
    cdef volatile Py_ssize_t vector_lanes = CYPOOL_VECTOR_BYTES // sizeof(floating)
    cdef Py_ssize_t lanes = vector_lanes, count = stop - first
    if count < lanes:
        avg_window_columns(plane, offset, row_step, depth_step, rows, heights, stride, taps,
                           divisor, out, first, count)
        return
    avg_window_columns(plane, offset, row_step, depth_step, rows, heights, stride, taps,
                       divisor, out, first, count - count % lanes)
    if count % lanes:
        avg_window_columns(plane, offset, row_step, depth_step, rows, heights, stride, taps,
                           divisor, out, stop - lanes, lanes)


cdef inline bint avg_window_shapes(const floating* plane, Py_ssize_t offset,
                                   Py_ssize_t row_step, const Window* w, floating divisor,
                                   floating* out, Py_ssize_t first,
                                   Py_ssize_t stop) noexcept nogil:
    """avg_window_row for the windows that dominate real networks (2x2 and 3x3 of stride 2,
    3x3 of stride 1, and 2x2x2 of stride 2), over rows `row_step` apart (the input's width,
    or a scratch plane's); False (nothing done) for any other window."""
    cdef Py_ssize_t depth_step = w.in_size[1] * row_step
    if w.kernel[0] == 1 and w.kernel[1] == 2 and w.kernel[2] == 2 and w.stride[2] == 2:
        avg_window_row(plane, offset, row_step, 0, 2, 2, 2, 2, divisor, out, first, stop)
    elif w.kernel[0] == 1 and w.kernel[1] == 3 and w.kernel[2] == 3 and w.stride[2] == 2:
        avg_window_row(plane, offset, row_step, 0, 3, 3, 2, 3, divisor, out, first, stop)
    elif w.kernel[0] == 1 and w.kernel[1] == 3 and w.kernel[2] == 3 and w.stride[2] == 1:
        avg_window_row(plane, offset, row_step, 0, 3, 3, 1, 3, divisor, out, first, stop)
    elif w.kernel[0] == 2 and w.kernel[1] == 2 and w.kernel[2] == 2 and w.stride[2] == 2:
        avg_window_row(plane, offset, row_step, depth_step, 4, 2, 2, 2, divisor, out, first,
                       stop)
    else:
        return False
    return True


cdef inline void avg_row(const floating* plane, floating* out, const Window* w,
                         Py_ssize_t od, Py_ssize_t oh, bint count_include_pad,
                         Py_ssize_t divisor_override) noexcept nogil:
    cdef Py_ssize_t d_start = od * w.stride[0] - w.padding[0]
    cdef Py_ssize_t h_start = oh * w.stride[1] - w.padding[1]
    cdef Py_ssize_t d_first, d_stop, h_first, h_stop, ow_first, ow_stop, ow, kd, kh, kw
    cdef Py_ssize_t row_start, row_divisor, divisor
    cdef floating interior_divisor
    cdef bint is_first = True
    valid_taps(d_start, w.in_size[0], w.kernel[0], 1, &d_first, &d_stop)
    valid_taps(h_start, w.in_size[1], w.kernel[1], 1, &h_first, &h_stop)
    row_divisor = (axis_count(d_start, w.in_size[0], w.kernel[0], w.padding[0],
                              count_include_pad)
                   * axis_count(h_start, w.in_size[1], w.kernel[1], w.padding[1],
                                count_include_pad))
    ow_first = w.interior_first
    ow_stop = w.interior_stop
    for ow in range(ow_first):
        avg_point(plane, out, w, d_first, d_stop, h_first, h_stop, d_start, h_start,
                  row_divisor, count_include_pad, divisor_override, ow)
    for ow in range(ow_stop, w.out_size[2]):
        avg_point(plane, out, w, d_first, d_stop, h_first, h_stop, d_start, h_start,
                  row_divisor, count_include_pad, divisor_override, ow)
    if ow_first == ow_stop:
        return
    # Interior windows are never clipped along the width.
    divisor = divisor_override if divisor_override > 0 else row_divisor * w.kernel[2]
    interior_divisor = <floating>divisor
    if (d_first == 0 and d_stop == w.kernel[0] and h_first == 0 and h_stop == w.kernel[1]
            and avg_window_shapes(plane, plane_position(w, d_start, 0, h_start, 0, 0, 0)
                                  - w.padding[2], w.in_size[2], w, interior_divisor, out,
                                  ow_first, ow_stop)):
        return  # a common window whose rows all lie in the input: one pass
    for kd in range(d_first, d_stop):
        for kh in range(h_first, h_stop):
            row_start = plane_position(w, d_start, kd, h_start, kh, 0, 0)
            avg_width_pass(plane, row_start - w.padding[2], w, out, ow_first, ow_stop,
                           is_first)
            is_first = False
    for ow in range(ow_first, ow_stop):
        out[ow] = out[ow] / interior_divisor


cdef void avg_pool_rows(const floating* input, floating* out, const Window* w,
                        Py_ssize_t n_planes, bint count_include_pad,
                        Py_ssize_t divisor_override, int n_threads) noexcept nogil:
    """Every output row of every plane, ROW_BLOCK consecutive rows per parallel task."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
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
            avg_row(input + plane * in_plane_size, out + row * w.out_size[2], w, od, oh,
                    count_include_pad, divisor_override)
            next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
            row = row + 1


def avg_pool_forward(const floating[:, :, :, ::1] input, floating[:, :, :, ::1] out,
                     tuple kernel, tuple stride, tuple padding, bint count_include_pad,
                     Py_ssize_t divisor_override, int n_threads):
    """Average pooling over (planes, D, H, W) -> (planes, OD, OH, OW); divisor_override <= 0
    means none."""
    cdef Window w = make_window(&input.shape[1], &out.shape[1],
                                kernel, stride, padding, (1, 1, 1))
    with nogil:
        if takes_padded_planes(&w, input.shape[0], n_threads, False):
            avg_padded_forward(&input[0, 0, 0, 0], &out[0, 0, 0, 0], &w, input.shape[0],
                               count_include_pad, divisor_override, n_threads)
        else:
            avg_pool_rows(&input[0, 0, 0, 0], &out[0, 0, 0, 0], &w, input.shape[0],
                          count_include_pad, divisor_override, n_threads)


# Average pooling, backward, as a gather: each input row sums the contributions
# grad_output[o] / divisor(o) of every output window that covers it, outputs in raster order.
# That is the order of PyTorch's scatter, so the float sums round identically, and no two
# iterations write the same memory: no zeroing pass, no races, deterministic.

cdef inline void covering_outputs(Py_ssize_t position, Py_ssize_t kernel, Py_ssize_t stride,
                                  Py_ssize_t padding, Py_ssize_t out_size, Py_ssize_t* first,
                                  Py_ssize_t* stop) noexcept nogil:
    """Outputs o in [first, stop) with o * stride - padding <= position < ... + kernel."""
    cdef Py_ssize_t shifted = position + padding
    cdef Py_ssize_t lo = 0, hi = shifted // stride + 1
    if shifted >= kernel:
        lo = (shifted - kernel) // stride + 1
    if hi > out_size:
        hi = out_size
    first[0] = lo
    stop[0] = hi if hi > lo else lo


cdef inline void avg_spread_point(const floating* grad_output_row, floating* grad_row,
                                  const Window* w, Py_ssize_t row_divisor,
                                  bint count_include_pad, Py_ssize_t divisor_override,
                                  Py_ssize_t ow) noexcept nogil:
    """Spread one output's share over its (possibly clipped) width window (scalar path)."""
    cdef Py_ssize_t w_start = ow * w.stride[2] - w.padding[2]
    cdef Py_ssize_t w_first, w_stop, iw, divisor
    cdef floating delta
    if divisor_override > 0:
        divisor = divisor_override
    else:
        divisor = row_divisor * axis_count(w_start, w.in_size[2], w.kernel[2], w.padding[2],
                                           count_include_pad)
    delta = grad_output_row[ow] / <floating>divisor
    valid_taps(w_start, w.in_size[2], w.kernel[2], 1, &w_first, &w_stop)
    for iw in range(w_start + w_first, w_start + w_stop):
        grad_row[iw] = grad_row[iw] + delta


cdef inline void avg_spread_disjoint(const floating* grad_output_row, floating* grad_row,
                                     Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t taps,
                                     floating divisor, Py_ssize_t first, Py_ssize_t stop,
                                     bint is_first) noexcept nogil:
    """Spread the output columns [first, stop) (whole windows inside the row) over the input
    when windows do not overlap along the width (stride >= taps): each input column gets at
    most one share, so any order is exact, and column by column gives contiguous stores.
    Input column of tap t for column ow: offset + ow*stride + t. `is_first` (no earlier
    output row covers this input row) stores onto the zeros instead of adding."""
    cdef Py_ssize_t ow, t, position
    cdef floating delta, zero = 0
    for ow in range(first, stop):
        delta = grad_output_row[ow] / divisor
        for t in range(taps):
            position = offset + ow * stride + t
            grad_row[position] = (zero if is_first else grad_row[position]) + delta


cdef inline void avg_spread_overlapping(const floating* grad_output_row, floating* grad_row,
                                        Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t taps,
                                        floating divisor, Py_ssize_t first,
                                        Py_ssize_t stop) noexcept nogil:
    """Spread the output columns [first, stop) over the input when windows overlap along the
    width. Taps run from last to first: for any one input column that visits the covering
    outputs in ascending order, the order of PyTorch's scatter, so float sums round alike.
    Each inner loop writes distinct columns."""
    cdef Py_ssize_t ow, t
    for t in range(taps - 1, -1, -1):
        for ow in range(first, stop):
            grad_row[offset + ow * stride + t] = (grad_row[offset + ow * stride + t]
                                                  + grad_output_row[ow] / divisor)


cdef inline void avg_spread_three_by_two(const floating* grad_output_row, floating* grad_row,
                                         Py_ssize_t offset, floating divisor,
                                         Py_ssize_t first, Py_ssize_t stop) noexcept nogil:
    """avg_spread_overlapping for 3 taps, stride 2 (the ResNet stem), column by column.

    Input column offset + 2q receives output q-1's last tap, then output q's first; column
    offset + 2q + 1 only output q's middle tap. Adding in that order keeps PyTorch's
    ascending-output order, and the loop writes column pairs, which vectorises (the taps-outer
    loops write every other column, which does not)."""
    cdef Py_ssize_t q, column
    if first >= stop:
        return
    # Output `first`'s left column also got the last tap of output first-1: that is a border
    # output, spread already (earlier, as the ascending order requires).
    grad_row[offset + 2 * first] = (grad_row[offset + 2 * first]
                                    + grad_output_row[first] / divisor)
    grad_row[offset + 2 * first + 1] = (grad_row[offset + 2 * first + 1]
                                        + grad_output_row[first] / divisor)
    for q in range(first + 1, stop):
        column = offset + 2 * q
        grad_row[column] = ((grad_row[column] + grad_output_row[q - 1] / divisor)
                            + grad_output_row[q] / divisor)
        grad_row[column + 1] = grad_row[column + 1] + grad_output_row[q] / divisor
    grad_row[offset + 2 * stop] = (grad_row[offset + 2 * stop]
                                   + grad_output_row[stop - 1] / divisor)


cdef inline void avg_spread_shapes(const floating* grad_output_row, floating* grad_row,
                                   Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t taps,
                                   floating divisor, Py_ssize_t first, Py_ssize_t stop,
                                   bint is_first) noexcept nogil:
    # Specialised copies for the window widths that dominate real networks.
    if stride < taps:
        if stride == 2 and taps == 3:
            avg_spread_three_by_two(grad_output_row, grad_row, offset, divisor, first, stop)
        elif stride == 1 and taps == 3:
            avg_spread_overlapping(grad_output_row, grad_row, offset, 1, 3, divisor, first,
                                   stop)
        else:
            avg_spread_overlapping(grad_output_row, grad_row, offset, stride, taps, divisor,
                                   first, stop)
    elif is_first:
        if stride == 2 and taps == 2:
            avg_spread_disjoint(grad_output_row, grad_row, offset, 2, 2, divisor, first, stop,
                                True)
        else:
            avg_spread_disjoint(grad_output_row, grad_row, offset, stride, taps, divisor,
                                first, stop, True)
    elif stride == 2 and taps == 2:
        avg_spread_disjoint(grad_output_row, grad_row, offset, 2, 2, divisor, first, stop,
                            False)
    else:
        avg_spread_disjoint(grad_output_row, grad_row, offset, stride, taps, divisor, first,
                            stop, False)


cdef inline void avg_backward_row(const floating* grad_plane, floating* grad_row,
                                  const Window* w, Py_ssize_t id, Py_ssize_t ih,
                                  bint count_include_pad,
                                  Py_ssize_t divisor_override) noexcept nogil:
    cdef Py_ssize_t od_first, od_stop, oh_first, oh_stop, od, oh, ow, iw
    cdef Py_ssize_t ow_first, ow_stop, row_divisor, stride = w.stride[2], taps = w.kernel[2]
    cdef Py_ssize_t offset = -w.padding[2]
    cdef const floating* grad_output_row
    cdef floating divisor
    # Without width overlap the first covering output row meets only zeros in the interior:
    # it can store instead of add.
    cdef bint stores_first = stride >= taps
    for iw in range(w.in_size[2]):
        grad_row[iw] = 0
    covering_outputs(id, w.kernel[0], w.stride[0], w.padding[0], w.out_size[0],
                     &od_first, &od_stop)
    covering_outputs(ih, w.kernel[1], w.stride[1], w.padding[1], w.out_size[1],
                     &oh_first, &oh_stop)
    ow_first = w.interior_first
    ow_stop = w.interior_stop
    for od in range(od_first, od_stop):
        for oh in range(oh_first, oh_stop):
            row_divisor = (axis_count(od * w.stride[0] - w.padding[0], w.in_size[0],
                                      w.kernel[0], w.padding[0], count_include_pad)
                           * axis_count(oh * w.stride[1] - w.padding[1], w.in_size[1],
                                        w.kernel[1], w.padding[1], count_include_pad))
            grad_output_row = grad_plane + (od * w.out_size[1] + oh) * w.out_size[2]
            # Left border, interior, right border: ascending output columns overall.
            for ow in range(ow_first):
                avg_spread_point(grad_output_row, grad_row, w, row_divisor, count_include_pad,
                                 divisor_override, ow)
            divisor = <floating>(divisor_override if divisor_override > 0
                                 else row_divisor * taps)
            avg_spread_shapes(grad_output_row, grad_row, offset, stride, taps, divisor,
                              ow_first, ow_stop, stores_first and od == od_first
                              and oh == oh_first)
            for ow in range(ow_stop, w.out_size[2]):
                avg_spread_point(grad_output_row, grad_row, w, row_divisor, count_include_pad,
                                 divisor_override, ow)


cdef void avg_pool_backward_rows(const floating* grad_output, floating* grad_input,
                                 const Window* w, Py_ssize_t n_planes,
                                 bint count_include_pad, Py_ssize_t divisor_override,
                                 int n_threads) noexcept nogil:
    """Every input row of every plane, ROW_BLOCK consecutive rows per parallel task."""
    cdef Py_ssize_t out_plane_size = w.out_size[0] * w.out_size[1] * w.out_size[2]
    cdef Py_ssize_t n_rows = n_planes * w.in_size[0] * w.in_size[1]
    cdef Py_ssize_t block, row, stop, plane, id, ih
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static",
                        num_threads=n_threads):
        row = block * ROW_BLOCK
        stop = min(row + ROW_BLOCK, n_rows)
        ih = row % w.in_size[1]
        id = (row // w.in_size[1]) % w.in_size[0]
        plane = row // (w.in_size[1] * w.in_size[0])
        while row < stop:
            avg_backward_row(grad_output + plane * out_plane_size,
                             grad_input + row * w.in_size[2], w, id, ih, count_include_pad,
                             divisor_override)
            next_row(&plane, &id, &ih, w.in_size[0], w.in_size[1])
            row = row + 1


# Average pooling backward when the windows tile the input: kernel == stride, no padding and no
# ceil-mode overhang on every axis. Each input element then lies in at most one window, and
# every window has the same divisor (its size, or divisor_override). The gather above spends
# most of its time per input row (finding the covering outputs, zeroing), and rows are often
# only 14 to 56 columns; here one task per output row writes the kd*kh input rows under it.
# Adaptive average pooling whose output sizes divide the input sizes takes it too.

cdef struct TileDivisors:
    # The share of an output gradient g: g / by[0] (average pooling), or, `per_axis`,
    # g / by[0] / by[1] / by[2] with one true division per axis in that order (adaptive
    # average pooling: PyTorch's rule there, which can round differently).
    double by[3]
    bint per_axis

cdef inline bint windows_tile(const Window* w) noexcept nogil:
    """Kernel == stride, no padding and no ceil-mode window overhanging the input, per axis."""
    cdef int axis
    for axis in range(3):
        if (w.kernel[axis] != w.stride[axis] or w.padding[axis] != 0
                or w.out_size[axis] * w.kernel[axis] > w.in_size[axis]):
            return False
    return True


cdef inline void avg_tile_row(const floating* grad_output_row, floating* grad_row,
                              Py_ssize_t out_width, Py_ssize_t in_width, Py_ssize_t taps,
                              floating by_d, floating by_h, floating by_w,
                              bint per_axis) noexcept nogil:
    """One input row under an output row: each output's share (see TileDivisors) repeated
    `taps` times, then zeros for the columns past the last window. Callers pass literal
    `taps` (for the common widths: an interleaving vector copy) and `per_axis`."""
    cdef Py_ssize_t ow, t, iw
    cdef floating share, zero = 0
    for ow in range(out_width):
        # zero + share, as the gather's sum from +0 (and PyTorch's scatter onto zeros) gives:
        # a -0.0 share becomes +0.0.
        if per_axis:
            share = zero + grad_output_row[ow] / by_d / by_h / by_w
        else:
            share = zero + grad_output_row[ow] / by_d
        for t in range(taps):
            grad_row[ow * taps + t] = share
    for iw in range(out_width * taps, in_width):
        grad_row[iw] = 0


cdef inline void avg_tile_backward_row(const floating* grad_output_row, floating* grad_plane,
                                       const Window* w, Py_ssize_t od, Py_ssize_t oh,
                                       const TileDivisors* divisors) noexcept nogil:
    """The input rows under output row (od, oh): the kd*kh rows of its windows, and, for the
    last output row of a depth slice or plane, the rows no window covers after it."""
    cdef Py_ssize_t width = w.in_size[2], slice_size = w.in_size[1] * w.in_size[2]
    cdef Py_ssize_t d_first = od * w.kernel[0], h_first = oh * w.kernel[1]
    cdef Py_ssize_t covered_height = w.out_size[1] * w.kernel[1]
    cdef Py_ssize_t covered_depth = w.out_size[0] * w.kernel[0], d, h
    cdef floating* first_row = grad_plane + d_first * slice_size + h_first * width
    cdef floating by_d = <floating>divisors.by[0], by_h = <floating>divisors.by[1]
    cdef floating by_w = <floating>divisors.by[2]
    if divisors.per_axis:
        if w.kernel[2] == 2:
            avg_tile_row(grad_output_row, first_row, w.out_size[2], width, 2, by_d, by_h,
                         by_w, True)
        else:
            avg_tile_row(grad_output_row, first_row, w.out_size[2], width, w.kernel[2], by_d,
                         by_h, by_w, True)
    elif w.kernel[2] == 2:
        avg_tile_row(grad_output_row, first_row, w.out_size[2], width, 2, by_d, by_h, by_w,
                     False)
    elif w.kernel[2] == 3:
        avg_tile_row(grad_output_row, first_row, w.out_size[2], width, 3, by_d, by_h, by_w,
                     False)
    else:
        avg_tile_row(grad_output_row, first_row, w.out_size[2], width, w.kernel[2], by_d,
                     by_h, by_w, False)
    # The window's other rows equal its first. The last output row of a depth slice also owns
    # the rows below the windows, and the plane's last the depth slices after them: no output
    # covers those.
    for d in range(d_first, d_first + w.kernel[0]):
        for h in range(h_first, h_first + w.kernel[1]):
            if d != d_first or h != h_first:
                memcpy(grad_plane + d * slice_size + h * width, first_row,
                       width * sizeof(floating))
        if oh == w.out_size[1] - 1:
            memset(grad_plane + d * slice_size + covered_height * width, 0,
                   (w.in_size[1] - covered_height) * width * sizeof(floating))
    if od == w.out_size[0] - 1 and oh == w.out_size[1] - 1:
        memset(grad_plane + covered_depth * slice_size, 0,
               (w.in_size[0] - covered_depth) * slice_size * sizeof(floating))


cdef void avg_tile_backward_rows(const floating* grad_output, floating* grad_input,
                                 const Window* w, Py_ssize_t n_planes,
                                 const TileDivisors* divisors, int n_threads) noexcept nogil:
    """Every output row of every plane, ROW_BLOCK consecutive rows per parallel task."""
    cdef Py_ssize_t in_plane_size = w.in_size[0] * w.in_size[1] * w.in_size[2]
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
            avg_tile_backward_row(grad_output + row * w.out_size[2],
                                  grad_input + plane * in_plane_size, w, od, oh, divisors)
            next_row(&plane, &od, &oh, w.out_size[0], w.out_size[1])
            row = row + 1


def avg_pool_backward(const floating[:, :, :, ::1] grad_output,
                      floating[:, :, :, ::1] grad_input,
                      tuple kernel, tuple stride, tuple padding, bint count_include_pad,
                      Py_ssize_t divisor_override, int n_threads):
    """Gradient of average pooling: (planes, OD, OH, OW) -> (planes, D, H, W)."""
    cdef Window w = make_window(&grad_input.shape[1], &grad_output.shape[1],
                                kernel, stride, padding, (1, 1, 1))
    cdef TileDivisors divisors
    divisors.by[0] = (divisor_override if divisor_override > 0
                      else w.kernel[0] * w.kernel[1] * w.kernel[2])
    divisors.by[1] = divisors.by[2] = 1
    divisors.per_axis = False
    with nogil:
        if windows_tile(&w):
            avg_tile_backward_rows(&grad_output[0, 0, 0, 0], &grad_input[0, 0, 0, 0], &w,
                                   grad_input.shape[0], &divisors, n_threads)
        elif takes_padded_planes(&w, grad_input.shape[0], n_threads, True):
            avg_padded_backward(&grad_output[0, 0, 0, 0], &grad_input[0, 0, 0, 0], &w,
                                grad_input.shape[0], count_include_pad, divisor_override,
                                n_threads)
        else:
            avg_pool_backward_rows(&grad_output[0, 0, 0, 0], &grad_input[0, 0, 0, 0], &w,
                                   grad_input.shape[0], count_include_pad, divisor_override,
                                   n_threads)
