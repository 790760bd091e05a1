# Channels-last kernels for max and average pooling: one source for every dtype and ISA level
# (included by each cypool/_kernels_<level>.pyx after _kernels.pxi, whose Window, tap and
# divisor helpers it shares).
#
# Arrays are C-contiguous (images, D, H, W, C): the C values of one pixel are contiguous, so the
# innermost loop of every kernel runs over the channels, which vectorises for any window shape,
# and an NHWC image (the layout of decoded pictures and of `x.transpose(0, 3, 1, 2)`) is pooled
# where it lies. Taps, sums and scatters run in the same order as in the NCHW kernels (PyTorch's
# order), so the results and indices are identical to theirs, bit for bit.

from cython.parallel cimport parallel, threadid
from libc.stdint cimport INT32_MAX
from libc.string cimport memset


cdef enum:
    # Channels whose running maxima (or sums) stay in registers over all the taps of a
    # window: each tap loads the block once, and the window stores it once. (At 16 or fewer
    # the compiler unrolls the block loop into scalar code instead of vectorising it.)
    CHANNEL_BLOCK = 32
    # Windows of at most this many real taps are pooled in one pass over all the channels,
    # every tap read at once (max_few_taps_cl, avg_few_taps_cl): a block's loop control per
    # tap then costs more than its registers save (2x2 windows: 1.3-2x faster than a pass
    # per tap through the output).
    FEW_TAPS = 4
    # The forwards read a window's taps in turn, each tap's pixel whole, with the sums (or the
    # running maxima and argmaxes) in the output (avg_tail_cl, max_tail_cl), when
    # pixels have at least this many bytes and the input at least TAPS_IN_TURN_INPUT_BYTES
    # (max pooling: only for windows that do not overlap). Reading every tap at once, or a
    # block of channels of every tap, interleaves streams one pixel apart, which the hardware
    # prefetchers follow in the caches but not from memory when pixels are long. Measured on
    # a host with 32 MiB of L3, 256-512 float32 channels, inputs of 25-34 MB, 1 and 2
    # threads: average 2x2/2, 3x3/2 and 2x2x2 windows took 0.48-0.74x the time; max 2x2/2
    # 0.74-0.97x and 2x2x2 0.41-0.68x, but 3x3/2 1.2-1.3x (overlapping windows find most taps
    # in the caches, and the int64 argmaxes in the output cost more per tap). Inputs of
    # 16-17 MB: 0.92-1.3x. 128 float32 channels: 0.88x for 2x2/2, 1.1-1.2x for 3x3/2 and 2x2x2.
    TAPS_IN_TURN_PIXEL_BYTES = 1024
    TAPS_IN_TURN_INPUT_BYTES = 24 * 1024 * 1024
    # Output rows whose shares the average backward's per-pixel gather reads at once
    # (avg_backward_row_cl; more take the spreading loop).
    GATHER_ROWS = 16


# (For the tests, which must reach both orders.)
TAPS_IN_TURN_FROM_BYTES = {"pixel": TAPS_IN_TURN_PIXEL_BYTES, "input": TAPS_IN_TURN_INPUT_BYTES}


cdef struct PixelTaps:
    # A window's real taps, per axis (depth, height, width): its start (negative where it
    # covers padding) and the tap range [first, stop) that lies inside the input; and how many
    # real taps there are.
    Py_ssize_t start[3]
    Py_ssize_t first[3]
    Py_ssize_t stop[3]
    Py_ssize_t count


cdef inline void pixel_taps(const Window* w, Py_ssize_t od, Py_ssize_t oh, Py_ssize_t ow,
                            PixelTaps* taps) noexcept nogil:
    cdef Py_ssize_t axis
    cdef Py_ssize_t out_position[3]
    out_position[0] = od
    out_position[1] = oh
    out_position[2] = ow
    for axis in range(3):
        taps.start[axis] = out_position[axis] * w.stride[axis] - w.padding[axis]
        valid_taps(taps.start[axis], w.in_size[axis], w.kernel[axis], w.dilation[axis],
                   &taps.first[axis], &taps.stop[axis])
    taps.count = ((taps.stop[0] - taps.first[0]) * (taps.stop[1] - taps.first[1])
                  * (taps.stop[2] - taps.first[2]))


cdef inline Py_ssize_t tap_position(const Window* w, const PixelTaps* taps, Py_ssize_t kd,
                                    Py_ssize_t kh, Py_ssize_t kw) noexcept nogil:
    return plane_position(w, taps.start[0], kd, taps.start[1], kh, taps.start[2], kw)


cdef inline bint reads_taps_in_turn(Py_ssize_t pixel_bytes,
                                    Py_ssize_t input_bytes) noexcept nogil:
    """Whether the forward kernels read a window's taps in turn (see TAPS_IN_TURN_PIXEL_BYTES)."""
    return (pixel_bytes >= TAPS_IN_TURN_PIXEL_BYTES
            and input_bytes >= TAPS_IN_TURN_INPUT_BYTES)


cdef inline void max_block_cl(const max_value_t* image, max_value_t* values, index_t* indices,
                              const Window* w, const PixelTaps* taps, Py_ssize_t channels,
                              bint with_indices) noexcept nogil:
    """CHANNEL_BLOCK channels of one output pixel, their running maxima in local arrays (the
    compiler keeps them in vector registers). Taps in raster order (PyTorch's rule, see
    max_point).

    The argmaxes are tracked as int32 offsets (the caller checks that the window spans less
    than 2**31 - 1 positions): 32-bit lanes select as cheaply as float32 ones, and they are
    widened once per window."""
    cdef max_value_t best[CHANNEL_BLOCK]
    cdef int32_t where[CHANNEL_BLOCK]
    cdef Py_ssize_t kd, kh, kw, c, origin, position
    cdef int32_t offset
    cdef const max_value_t* pixel
    cdef max_value_t value
    cdef bint take
    # The block starts in registers, from the lowest value (the first tap then takes, or it is
    # the lowest value and `where` already names it), and its offsets count from the position
    # before the first tap: GCC turns a copy of the first tap into 16-byte moves through the
    # stack, which stall the 32-byte loads after them, and a zeroed `where` into a `rep stos`
    # (measured 1.2x slower on 3x3 windows with indices).
    origin = tap_position(w, taps, taps.first[0], taps.first[1], taps.first[2]) - 1
    for c in range(CHANNEL_BLOCK):
        best[c] = lowest_value(image[0])
        where[c] = 1
    for kd in range(taps.first[0], taps.stop[0]):
        for kh in range(taps.first[1], taps.stop[1]):
            for kw in range(taps.first[2], taps.stop[2]):
                position = tap_position(w, taps, kd, kh, kw)
                pixel = image + position * channels
                offset = <int32_t>(position - origin)
                for c in range(CHANNEL_BLOCK):
                    value = pixel[c]
                    take = max_takes(value, best[c])
                    best[c] = value if take else best[c]
                    if with_indices:
                        where[c] = offset if take else where[c]
    for c in range(CHANNEL_BLOCK):
        values[c] = best[c]
        if with_indices:
            indices[c] = <index_t>(origin + where[c])


cdef inline void max_tail_cl(const max_value_t* image, max_value_t* values, index_t* indices,
                             const Window* w, const PixelTaps* taps, Py_ssize_t channels,
                             Py_ssize_t count, bint with_indices) noexcept nogil:
    """`count` channels of one output pixel (those after the last whole CHANNEL_BLOCK; or all
    of them, for a window that spans 2**31 positions or more, or when the taps are read in
    turn): the same rule, with the running maxima and their indices in the output, a tap at a
    time."""
    cdef Py_ssize_t kd, kh, kw, c, position
    cdef const max_value_t* pixel
    cdef max_value_t value
    cdef bint take
    position = tap_position(w, taps, taps.first[0], taps.first[1], taps.first[2])
    for c in range(count):
        values[c] = image[position * channels + c]
        if with_indices:
            indices[c] = <index_t>position
    for kd in range(taps.first[0], taps.stop[0]):
        for kh in range(taps.first[1], taps.stop[1]):
            for kw in range(taps.first[2], taps.stop[2]):
                position = tap_position(w, taps, kd, kh, kw)
                pixel = image + position * channels
                for c in range(count):
                    value = pixel[c]
                    take = max_takes(value, values[c])
                    values[c] = value if take else values[c]
                    if with_indices:
                        indices[c] = <index_t>position if take else indices[c]


cdef inline void max_few_taps_cl(const max_value_t* image, max_value_t* values,
                                 index_t* indices, const Window* w, const PixelTaps* taps,
                                 Py_ssize_t channels, bint with_indices) noexcept nogil:
    """Every channel of one output pixel whose window has at most FEW_TAPS real taps, spanning
    less than 2**31 positions: one loop over the channels reads all the taps, in raster
    order. Missing taps repeat the last real one (visiting a tap again right after itself
    changes nothing), and the argmaxes are int32 offsets from the first tap, widened once."""
    cdef const max_value_t* pixels[FEW_TAPS]
    cdef int32_t offsets[FEW_TAPS]
    cdef Py_ssize_t kd, kh, kw, c, t = 0, base, position
    cdef max_value_t best, value
    cdef int32_t where
    cdef bint take
    base = tap_position(w, taps, taps.first[0], taps.first[1], taps.first[2])
    for kd in range(taps.first[0], taps.stop[0]):
        for kh in range(taps.first[1], taps.stop[1]):
            for kw in range(taps.first[2], taps.stop[2]):
                position = tap_position(w, taps, kd, kh, kw)
                pixels[t] = image + position * channels
                offsets[t] = <int32_t>(position - base)
                t = t + 1
    while t < FEW_TAPS:
        pixels[t] = pixels[t - 1]
        offsets[t] = offsets[t - 1]
        t = t + 1
    for c in range(channels):
        best = pixels[0][c]
        where = 0
        value = pixels[1][c]
        take = max_takes(value, best)
        best = value if take else best
        where = offsets[1] if take else where
        value = pixels[2][c]
        take = max_takes(value, best)
        best = value if take else best
        where = offsets[2] if take else where
        value = pixels[3][c]
        take = max_takes(value, best)
        best = value if take else best
        where = offsets[3] if take else where
        values[c] = best
        if with_indices:
            indices[c] = <index_t>(base + where)


cdef inline void max_pixel_cl(const max_value_t* image, max_value_t* values, index_t* indices,
                              const Window* w, Py_ssize_t channels, Py_ssize_t od,
                              Py_ssize_t oh, Py_ssize_t ow, bint with_indices,
                              bint taps_in_turn) noexcept nogil:
    """Output pixel (od, oh, ow) of one image: `values` and `indices` point at its C outputs."""
    cdef PixelTaps taps
    cdef Py_ssize_t c = 0, blocked = channels - channels % CHANNEL_BLOCK, span
    pixel_taps(w, od, oh, ow, &taps)
    if taps_in_turn:
        max_tail_cl(image, values, indices, w, &taps, channels, channels, with_indices)
        return
    span = (tap_position(w, &taps, taps.stop[0] - 1, taps.stop[1] - 1, taps.stop[2] - 1)
            - tap_position(w, &taps, taps.first[0], taps.first[1], taps.first[2]))
    if span >= ((<Py_ssize_t>1) << 31) - 1:
        blocked = 0  # too wide for int32 offsets: max_tail_cl's are the indices themselves
    elif taps.count <= FEW_TAPS:
        max_few_taps_cl(image, values, indices, w, &taps, channels, with_indices)
        return
    while c < blocked:
        max_block_cl(image + c, values + c, (indices + c) if with_indices else NULL, w, &taps,
                     channels, with_indices)
        c = c + CHANNEL_BLOCK
    if c < channels:
        max_tail_cl(image + c, values + c, (indices + c) if with_indices else NULL, w, &taps,
                    channels, channels - c, with_indices)


cdef inline void max_row_cl(const max_value_t* image, max_value_t* values, index_t* indices,
                            const Window* w, Py_ssize_t channels, Py_ssize_t od,
                            Py_ssize_t oh, bint taps_in_turn) noexcept nogil:
    """Output row (od, oh) of one image; `indices` may be NULL (values only)."""
    cdef Py_ssize_t ow, offset
    for ow in range(w.out_size[2]):
        offset = ow * channels
        if indices != NULL:
            max_pixel_cl(image, values + offset, indices + offset, w, channels, od, oh, ow,
                         True, taps_in_turn)
        else:
            max_pixel_cl(image, values + offset, indices, w, channels, od, oh, ow, False,
                         taps_in_turn)


cdef void max_pool_rows_cl(const max_value_t* input, max_value_t* values, index_t* indices,
                           const Window* w, Py_ssize_t n_images, Py_ssize_t channels,
                           int n_threads) noexcept nogil:
    """Every output row (image, od, oh) of every image, one row per parallel task (a row holds
    out_width * channels elements); `indices` may be NULL (values only). The rows' locals
    live in max_row_cl: prange would share a variable only written through a pointer."""
    cdef Py_ssize_t image_size = w.in_size[0] * w.in_size[1] * w.in_size[2] * channels
    cdef Py_ssize_t row_size = w.out_size[2] * channels
    cdef Py_ssize_t n_rows = n_images * w.out_size[0] * w.out_size[1]
    cdef Py_ssize_t row, image
    cdef Py_ssize_t axis
    cdef bint taps_in_turn = reads_taps_in_turn(channels * <Py_ssize_t>sizeof(max_value_t),
                                                n_images * image_size
                                                * <Py_ssize_t>sizeof(max_value_t))
    # Only for windows apart: max_tail_cl's int64 argmaxes in the output cost more per tap
    # than the block's int32 offsets in registers, and overlapping windows find most taps in
    # the caches anyway (3x3/2 with 256 channels, 29 MB: 0.78-0.84x).
    for axis in range(3):
        if w.stride[axis] < (w.kernel[axis] - 1) * w.dilation[axis] + 1:
            taps_in_turn = False
    for row in prange(n_rows, schedule="static", num_threads=n_threads):
        image = row // (w.out_size[1] * w.out_size[0])
        max_row_cl(input + image * image_size, values + row * row_size,
                   (indices + row * row_size) if indices != NULL else NULL, w, channels,
                   (row // w.out_size[1]) % w.out_size[0], row % w.out_size[1], taps_in_turn)


def max_pool_forward_cl(const max_value_t[:, :, :, :, ::1] input,
                        max_value_t[:, :, :, :, ::1] values_out,
                        index_t[:, :, :, :, ::1] indices_out,
                        tuple kernel, tuple stride, tuple padding, tuple dilation,
                        int n_threads):
    """Max pooling with argmax, channels-last: (images, D, H, W, C) -> (images, OD, OH, OW, C);
    indices are positions in the (D, H, W) plane, as for NCHW."""
    cdef Window w = make_window(&input.shape[1], &values_out.shape[1],
                                kernel, stride, padding, dilation)
    with nogil:
        max_pool_rows_cl(&input[0, 0, 0, 0, 0], &values_out[0, 0, 0, 0, 0],
                         &indices_out[0, 0, 0, 0, 0], &w, input.shape[0], input.shape[4],
                         n_threads)


def max_pool_forward_values_cl(const max_value_t[:, :, :, :, ::1] input,
                               max_value_t[:, :, :, :, ::1] values_out,
                               tuple kernel, tuple stride, tuple padding, tuple dilation,
                               int n_threads):
    """max_pool_forward_cl without the argmax."""
    cdef Window w = make_window(&input.shape[1], &values_out.shape[1],
                                kernel, stride, padding, dilation)
    with nogil:
        max_pool_rows_cl(&input[0, 0, 0, 0, 0], &values_out[0, 0, 0, 0, 0], <int64_t*>NULL,
                         &w, input.shape[0], input.shape[4], n_threads)


# Max pooling backward, channels-last: grad_input[image][indices[o, c], c] += grad_output[o, c],
# outputs o in raster order (as the NCHW scatter), into a zeroed grad_input. A task is one image
# (PyTorch's split: a single image gets one thread). Splitting an image's channels between
# two threads was slower than one thread on every single image measured, (1, 3, 1024, 1024) to
# (1, 64, 512, 512), 2x2/2 and 3x3/2: 1.0-1.45x the time (each thread scattered into lines the
# other had zeroed).
#
# When the windows tile the images (kernel == stride == input / output size on every axis, no
# padding: the 2x2/2 of most networks), an index that lies in its own window is the only one
# that can reach its input pixel, so the gradient is written in one pass, every input pixel once
# (its output's gradient where the index names it, else zero), vectorised over the channels and
# split by output rows, with no zeroing pass. That pass counts the indices that lay in their
# windows; if any did not (indices from another geometry, or outside the plane), its writes are
# discarded by the scatter, which zeroes grad_input first and gives the general result.
#
# When the images do not share out evenly between the threads (fewer images than threads,
# or 3 on 2), other windows take the banded scatter (banded_max_backward_cl), which splits
# each image between threads by slabs of its outermost axis (rows of 2-d images): PyTorch's
# channels-last backward gives an image one thread. The backward is not told the window
# geometry, so the bands assume windows that reach at most BAND_MARGIN output slabs into
# their neighbours, and count: if a gradient was left unadded (windows that reach further,
# indices from elsewhere or outside the plane), the plain scatter (max_backward_image_cl)
# does the images again. With as many images as threads, the same bands, one per image,
# measured 0.7-1.0x the plain scatter's time (with the counts then kept in a struct).

cdef enum:
    # Fewer channels go to the scatter: the one-pass loops over a pixel's channels are short
    # there ((1, 3, 512, 512) 2x2/2 took 14x the scatter's time, (2, 32, 16, 32, 32) 2x2x2 1.3x).
    TILED_MIN_CHANNELS = 33
    # Channels of one output pixel whose tap offsets the one-pass loop finds at once (1 KiB of
    # int32 on the stack).
    TILED_CHANNEL_BLOCK = 256


cdef inline Py_ssize_t tile_span(const Py_ssize_t* in_size,
                                 const Py_ssize_t* tile) noexcept nogil:
    """Pixels from a tile's first pixel to just past its last, in the image's raster order."""
    return ((tile[0] - 1) * in_size[1] + tile[1] - 1) * in_size[2] + tile[2]


cdef inline Py_ssize_t tiled_max_backward_row_cl(const floating* grad_output,
                                                 const index_t* indices, floating* grad_input,
                                                 const Py_ssize_t* out_size,
                                                 const Py_ssize_t* in_size,
                                                 const Py_ssize_t* tile, Py_ssize_t channels,
                                                 Py_ssize_t od, Py_ssize_t oh) noexcept nogil:
    """Writes the input pixels of output row (od, oh) of one tiled image; returns how many of
    the row's indices did not lie in their windows.

    Each block of a pixel's channels first turns its indices into int32 offsets from the
    tile's first pixel (-1 outside the tile's span; the caller checked that the span fits
    int32): every tap then compares 32-bit lanes, which select the values' lanes cheaply,
    where comparing int64 indices per tap cost a pack to the values' width per tap (small_batch
    channels-last, (1, 64, 56, 56) 2x2/2 float32, took 0.9x PyTorch's time that way)."""
    cdef Py_ssize_t span = tile_span(in_size, tile)
    cdef Py_ssize_t ow, kd, kh, kw, c, first_channel, count, output, corner, found = 0
    cdef const floating* grad
    cdef const index_t* index
    cdef floating* target
    cdef index_t first_pixel, last_pixel
    cdef int32_t offset, tap_hits
    cdef int32_t tap_offset[TILED_CHANNEL_BLOCK]
    cdef floating gradient, zero = 0
    cdef bint hit
    for ow in range(out_size[2]):
        output = ((od * out_size[1] + oh) * out_size[2] + ow) * channels
        corner = ((od * tile[0]) * in_size[1] + oh * tile[1]) * in_size[2] + ow * tile[2]
        # Bounds as index_t (the caller checked that the image's pixels fit it): the
        # subtraction below then never wraps.
        first_pixel = <index_t>corner
        last_pixel = <index_t>(corner + span - 1)
        first_channel = 0
        while first_channel < channels:
            count = min(TILED_CHANNEL_BLOCK, channels - first_channel)
            grad = grad_output + output + first_channel
            index = indices + output + first_channel
            for c in range(count):
                tap_offset[c] = (<int32_t>(index[c] - first_pixel)
                                 if first_pixel <= index[c] and index[c] <= last_pixel else -1)
            for kd in range(tile[0]):
                for kh in range(tile[1]):
                    for kw in range(tile[2]):
                        offset = <int32_t>((kd * in_size[1] + kh) * in_size[2] + kw)
                        target = grad_input + (corner + offset) * channels + first_channel
                        tap_hits = 0  # an int: its vector lanes are the offsets' width
                        for c in range(count):
                            gradient = grad[c]
                            hit = tap_offset[c] == offset
                            tap_hits += hit
                            # The scatter's 0 + g, so -0 becomes +0; as a select (with an
                            # addition, GCC does not vectorise the loop).
                            target[c] = gradient if hit & (gradient != zero) else zero
                        found += tap_hits
            first_channel = first_channel + count
    return out_size[2] * channels - found


cdef inline Py_ssize_t max_backward_image_cl(const floating* grad_output,
                                             const index_t* indices, floating* grad_input,
                                             Py_ssize_t out_pixels, Py_ssize_t in_pixels,
                                             Py_ssize_t channels) noexcept nogil:
    """The scatter of one image into its grad_input (zeroed here first); returns how many
    indices fell outside the plane (those are skipped)."""
    cdef Py_ssize_t o, c, target, out_of_range = 0
    memset(grad_input, 0, in_pixels * channels * sizeof(floating))
    for o in range(out_pixels):
        for c in range(channels):
            target = indices[o * channels + c]
            if target < 0 or target >= in_pixels:
                out_of_range += 1
            else:
                grad_input[target * channels + c] += grad_output[o * channels + c]
    return out_of_range


cdef enum:
    # Output slabs before and after its own whose gradients a band also adds, where their
    # targets are its own (banded_max_backward_cl): windows of up to 2 * BAND_MARGIN + 1 taps
    # along the split axis, whatever their stride (3x3/2 needs 1).
    BAND_MARGIN = 2
    # From this many images per thread the images are not split (the last round of images
    # then leaves threads idle for at most a fifth of the time).
    BANDED_IMAGES_PER_THREAD = 4


cdef inline Py_ssize_t bands_per_image(Py_ssize_t n_images, Py_ssize_t n_threads) noexcept nogil:
    """Bands per image (banded_max_backward_cl) that give every thread the same number of
    bands (3 images on 2 threads: 2 bands each, 3 per thread), or 1 where one image per task
    leaves threads idle for at most a fifth of the time (BANDED_IMAGES_PER_THREAD)."""
    cdef Py_ssize_t a = n_images, b = n_threads, rest
    if (n_threads <= 1 or n_images % n_threads == 0
            or n_images >= BANDED_IMAGES_PER_THREAD * n_threads):
        return 1
    while b:  # Euclid: a becomes gcd(n_images, n_threads)
        rest = a % b
        a = b
        b = rest
    return n_threads // a


cdef inline Py_ssize_t split_axis_cl(const Py_ssize_t* out_size,
                                     const Py_ssize_t* in_size) noexcept nogil:
    """The outermost spatial axis that is not 1 in the input or the output: every axis before
    it is a single slab, so slabs along it are contiguous in both."""
    cdef Py_ssize_t axis = 0
    while axis < 2 and in_size[axis] == 1 and out_size[axis] == 1:
        axis += 1
    return axis


cdef Py_ssize_t banded_max_backward_cl(const floating* grad_output, const index_t* indices,
                                       floating* grad_input, Py_ssize_t out_slabs,
                                       Py_ssize_t in_slabs, Py_ssize_t out_slab_pixels,
                                       Py_ssize_t in_slab_pixels, Py_ssize_t channels,
                                       Py_ssize_t band, Py_ssize_t n_bands) noexcept nogil:
    """Band `band` of `n_bands` of one image's scatter. The band owns input slabs [first,
    stop) of the split axis and writes nothing else: it zeroes them, then scatters the outputs
    of its own slabs and of BAND_MARGIN slabs either side, in raster order, adding only the
    gradients whose targets it owns. Every gradient of an element is then added by one thread,
    in raster order: the sums are the scatter's. Returns the gradients of its own outputs that
    it passed over less those of other bands' outputs that it added: if the bands' balances
    add up to more than 0, some gradients were added by no band (or lay outside the plane)."""
    cdef Py_ssize_t first = band * in_slabs // n_bands, stop = (band + 1) * in_slabs // n_bands
    cdef Py_ssize_t own_first = band * out_slabs // n_bands
    cdef Py_ssize_t own_stop = (band + 1) * out_slabs // n_bands
    cdef Py_ssize_t slab, o, c, target
    # Counted in a local (as a struct field it lived on the stack: a store and a reload per
    # gradient), and only off the common path, which then costs what the plain scatter does.
    cdef Py_ssize_t unadded = 0
    cdef size_t first_pixel = first * in_slab_pixels
    cdef size_t owned = (stop - first) * in_slab_pixels
    cdef const floating* grad
    cdef const index_t* index
    memset(grad_input + first_pixel * channels, 0, owned * channels * sizeof(floating))
    for slab in range(max(own_first - BAND_MARGIN, 0), min(own_stop + BAND_MARGIN, out_slabs)):
        grad = grad_output + slab * out_slab_pixels * channels
        index = indices + slab * out_slab_pixels * channels
        if own_first <= slab < own_stop:
            for o in range(out_slab_pixels):
                for c in range(channels):
                    target = index[c]
                    if <size_t>target - first_pixel < owned:
                        grad_input[target * channels + c] += grad[c]
                    else:
                        unadded += 1  # passed over: another band must adopt it
                grad = grad + channels
                index = index + channels
        else:
            for o in range(out_slab_pixels):
                for c in range(channels):
                    target = index[c]
                    if <size_t>target - first_pixel < owned:
                        grad_input[target * channels + c] += grad[c]
                        unadded -= 1  # adopted from another band
                grad = grad + channels
                index = index + channels
    return unadded


def max_pool_backward_cl(const floating[:, :, :, :, ::1] grad_output,
                         const index_t[:, :, :, :, ::1] indices,
                         floating[:, :, :, :, ::1] grad_input, int n_threads):
    """Scatter (images, OD, OH, OW, C) gradients into (images, D, H, W, C); returns the number
    of indices that fell outside the plane (those are skipped)."""
    cdef Py_ssize_t n_images = grad_input.shape[0], channels = grad_input.shape[4]
    cdef Py_ssize_t out_size[3]
    cdef Py_ssize_t in_size[3]
    cdef Py_ssize_t tile[3]
    cdef Py_ssize_t axis, image, row, out_rows, missed = 0, out_of_range = 0
    cdef Py_ssize_t n_bands, task, unadded = 0
    cdef bint tiled = n_images > 0 and channels >= TILED_MIN_CHANNELS
    for axis in range(3):
        out_size[axis] = grad_output.shape[axis + 1]
        in_size[axis] = grad_input.shape[axis + 1]
        tile[axis] = in_size[axis] // out_size[axis]
        tiled = tiled and tile[axis] * out_size[axis] == in_size[axis]
    cdef Py_ssize_t out_pixels = out_size[0] * out_size[1] * out_size[2]
    cdef Py_ssize_t in_pixels = in_size[0] * in_size[1] * in_size[2]
    # Pixels are compared as index_t: the last must fit one (an int32 could wrap onto an index).
    tiled = tiled and <Py_ssize_t><index_t>(in_pixels - 1) == in_pixels - 1
    # Tap offsets within a tile are int32 (tiled_max_backward_row_cl).
    tiled = tiled and tile_span(in_size, tile) <= INT32_MAX
    # The first output row tells cheaply whether the indices can be those of the tiles:
    # overlapping windows on even sizes (3x3/2 with padding 1, say) miss there.
    tiled = tiled and tiled_max_backward_row_cl(
        &grad_output[0, 0, 0, 0, 0], &indices[0, 0, 0, 0, 0], &grad_input[0, 0, 0, 0, 0],
        out_size, in_size, tile, channels, 0, 0) == 0
    if tiled:
        out_rows = out_size[0] * out_size[1]
        for row in prange(1, n_images * out_rows, schedule="static", nogil=True,
                          num_threads=n_threads):
            image = row // out_rows
            missed += tiled_max_backward_row_cl(
                &grad_output[image, 0, 0, 0, 0], &indices[image, 0, 0, 0, 0],
                &grad_input[image, 0, 0, 0, 0], out_size, in_size, tile, channels,
                (row % out_rows) // out_size[1], row % out_size[1])
        if missed == 0:
            return 0
    axis = split_axis_cl(out_size, in_size)
    n_bands = min(bands_per_image(n_images, n_threads), in_size[axis], out_size[axis])
    if n_bands > 1:
        for task in prange(n_images * n_bands, schedule="static", nogil=True,
                           num_threads=n_threads):
            unadded += banded_max_backward_cl(
                &grad_output[task // n_bands, 0, 0, 0, 0],
                &indices[task // n_bands, 0, 0, 0, 0],
                &grad_input[task // n_bands, 0, 0, 0, 0], out_size[axis], in_size[axis],
                out_pixels // out_size[axis], in_pixels // in_size[axis], channels,
                task % n_bands, n_bands)
        if unadded == 0:
            return 0
        # Some index lay outside the plane (the plain scatter counts them), or out of the
        # bands' reach.
    for image in prange(n_images, schedule="static", nogil=True, num_threads=n_threads):
        out_of_range += max_backward_image_cl(
            &grad_output[image, 0, 0, 0, 0], &indices[image, 0, 0, 0, 0],
            &grad_input[image, 0, 0, 0, 0], out_pixels, in_pixels, channels)
    return out_of_range


# Average pooling, channels-last. Forward: each output pixel sums its taps from +0 in raster
# order, then one true division (the NCHW rule). Backward: a gather over input rows, as the NCHW
# kernel: each input row sums the shares grad_output[o] / divisor(o) of the outputs covering it
# in output raster order; where the windows tile the input, each input pixel takes its one
# window's share (+0 + share, the same bits).

cdef inline Py_ssize_t avg_divisor_cl(const Window* w, const PixelTaps* taps,
                                      bint count_include_pad,
                                      Py_ssize_t divisor_override) noexcept nogil:
    """The divisor of one window (PyTorch's rule, see axis_count)."""
    cdef Py_ssize_t axis, divisor = 1
    if divisor_override > 0:
        return divisor_override
    for axis in range(3):
        divisor *= axis_count(taps.start[axis], w.in_size[axis], w.kernel[axis],
                              w.padding[axis], count_include_pad)
    return divisor


cdef inline void avg_block_cl(const floating* image, floating* out, const Window* w,
                              const PixelTaps* taps, Py_ssize_t channels,
                              floating divisor) noexcept nogil:
    """CHANNEL_BLOCK channels of one output pixel, their sums in a local array (kept in
    vector registers): from +0, taps in raster order, then one division."""
    cdef floating total[CHANNEL_BLOCK]
    cdef Py_ssize_t kd, kh, kw, c
    cdef const floating* pixel
    # +0 made at run time (the divisor is finite and positive): GCC turns a literal 0 here into
    # a `rep stos` through the stack, which stalls the loads of the sums after it.
    cdef floating zero = divisor - divisor
    for c in range(CHANNEL_BLOCK):
        total[c] = zero
    for kd in range(taps.first[0], taps.stop[0]):
        for kh in range(taps.first[1], taps.stop[1]):
            for kw in range(taps.first[2], taps.stop[2]):
                pixel = image + tap_position(w, taps, kd, kh, kw) * channels
                for c in range(CHANNEL_BLOCK):
                    total[c] = total[c] + pixel[c]
    for c in range(CHANNEL_BLOCK):
        out[c] = total[c] / divisor


cdef inline void avg_tail_cl(const floating* image, floating* out, const Window* w,
                             const PixelTaps* taps, Py_ssize_t channels, Py_ssize_t count,
                             floating divisor) noexcept nogil:
    """`count` channels of one output pixel (those after the last whole CHANNEL_BLOCK, or all
    of them when the taps are read in turn), summed in the output a tap at a time, each tap's
    pixel read whole in raster order, then divided: the sums of avg_block_cl, bit for bit
    (the first tap is stored as +0 + x, so no zeroing pass goes before it)."""
    cdef Py_ssize_t kd, kh, kw, c
    cdef const floating* pixel
    cdef bint first = True
    cdef floating zero = divisor - divisor  # +0 at run time, as in avg_block_cl
    for kd in range(taps.first[0], taps.stop[0]):
        for kh in range(taps.first[1], taps.stop[1]):
            for kw in range(taps.first[2], taps.stop[2]):
                pixel = image + tap_position(w, taps, kd, kh, kw) * channels
                if first:
                    for c in range(count):
                        out[c] = zero + pixel[c]
                    first = False
                else:
                    for c in range(count):
                        out[c] = out[c] + pixel[c]
    if first:  # no real tap: the sum from +0 is +0
        for c in range(count):
            out[c] = zero
    for c in range(count):
        out[c] = out[c] / divisor


cdef inline void avg_few_taps_cl(const floating* image, floating* out, const Window* w,
                                 const PixelTaps* taps, Py_ssize_t channels,
                                 floating divisor) noexcept nogil:
    """Every channel of one output pixel whose window has at most FEW_TAPS real taps: one loop
    over the channels sums all the taps from +0 in raster order, then divides (the rule of
    avg_block_cl; the tests on `count` are the same for every channel, and hoisted)."""
    cdef const floating* pixels[FEW_TAPS]
    cdef Py_ssize_t kd, kh, kw, c, t = 0, count = taps.count
    cdef floating total
    for kd in range(taps.first[0], taps.stop[0]):
        for kh in range(taps.first[1], taps.stop[1]):
            for kw in range(taps.first[2], taps.stop[2]):
                pixels[t] = image + tap_position(w, taps, kd, kh, kw) * channels
                t = t + 1
    for c in range(channels):
        total = 0
        total = total + pixels[0][c]
        if count > 1:
            total = total + pixels[1][c]
        if count > 2:
            total = total + pixels[2][c]
        if count > 3:
            total = total + pixels[3][c]
        out[c] = total / divisor


cdef inline void avg_pixel_cl(const floating* image, floating* out, const Window* w,
                              Py_ssize_t channels, Py_ssize_t od, Py_ssize_t oh, Py_ssize_t ow,
                              bint count_include_pad, Py_ssize_t divisor_override,
                              bint taps_in_turn) noexcept nogil:
    """Output pixel (od, oh, ow) of one image: `out` points at its C outputs."""
    cdef PixelTaps taps
    cdef Py_ssize_t c = 0, blocked = channels - channels % CHANNEL_BLOCK
    cdef floating divisor
    pixel_taps(w, od, oh, ow, &taps)
    divisor = <floating>avg_divisor_cl(w, &taps, count_include_pad, divisor_override)
    if taps_in_turn:
        avg_tail_cl(image, out, w, &taps, channels, channels, divisor)
        return
    if 0 < taps.count <= FEW_TAPS:
        avg_few_taps_cl(image, out, w, &taps, channels, divisor)
        return
    while c < blocked:
        avg_block_cl(image + c, out + c, w, &taps, channels, divisor)
        c = c + CHANNEL_BLOCK
    if c < channels:
        avg_tail_cl(image + c, out + c, w, &taps, channels, channels - c, divisor)


cdef inline void avg_row_cl(const floating* image, floating* out, const Window* w,
                            Py_ssize_t channels, Py_ssize_t od, Py_ssize_t oh,
                            bint count_include_pad, Py_ssize_t divisor_override,
                            bint taps_in_turn) noexcept nogil:
    """Output row (od, oh) of one image."""
    cdef Py_ssize_t ow
    for ow in range(w.out_size[2]):
        avg_pixel_cl(image, out + ow * channels, w, channels, od, oh, ow, count_include_pad,
                     divisor_override, taps_in_turn)


cdef void avg_pool_rows_cl(const floating* input, floating* out, const Window* w,
                           Py_ssize_t n_images, Py_ssize_t channels, bint count_include_pad,
                           Py_ssize_t divisor_override, int n_threads) noexcept nogil:
    """Every output row (image, od, oh), one row per parallel task (locals in avg_row_cl)."""
    cdef Py_ssize_t image_size = w.in_size[0] * w.in_size[1] * w.in_size[2] * channels
    cdef Py_ssize_t n_rows = n_images * w.out_size[0] * w.out_size[1]
    cdef Py_ssize_t row, image
    cdef bint taps_in_turn = reads_taps_in_turn(channels * <Py_ssize_t>sizeof(floating),
                                                n_images * image_size
                                                * <Py_ssize_t>sizeof(floating))
    for row in prange(n_rows, schedule="static", num_threads=n_threads):
        image = row // (w.out_size[1] * w.out_size[0])
        avg_row_cl(input + image * image_size, out + row * w.out_size[2] * channels, w,
                   channels, (row // w.out_size[1]) % w.out_size[0], row % w.out_size[1],
                   count_include_pad, divisor_override, taps_in_turn)


def avg_pool_forward_cl(const floating[:, :, :, :, ::1] input,
                        floating[:, :, :, :, ::1] out, tuple kernel, tuple stride,
                        tuple padding, bint count_include_pad, Py_ssize_t divisor_override,
                        int n_threads):
    """Average pooling, channels-last: (images, D, H, W, C) -> (images, OD, OH, OW, C);
    divisor_override <= 0 means none."""
    cdef Window w = make_window(&input.shape[1], &out.shape[1],
                                kernel, stride, padding, (1, 1, 1))
    with nogil:
        avg_pool_rows_cl(&input[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], &w, input.shape[0],
                         input.shape[4], count_include_pad, divisor_override, n_threads)


cdef inline const floating* output_row_shares_cl(const floating* grad_image,
                                                 floating* cache, Py_ssize_t* tags,
                                                 Py_ssize_t n_slots, const Window* w,
                                                 Py_ssize_t channels, Py_ssize_t image,
                                                 Py_ssize_t od, Py_ssize_t oh,
                                                 bint count_include_pad,
                                                 Py_ssize_t divisor_override) noexcept nogil:
    """The shares grad_output / divisor of output row (od, oh) of `image`, OW * C values, from
    the thread's cache of `n_slots` rows (computed into it if missing). The rows covering one
    input row have distinct slots when n_slots = kernel depth * height, so each share is
    divided once, not once for every input row its window covers."""
    cdef Py_ssize_t slot = ((od % w.kernel[0]) * w.kernel[1] + oh % w.kernel[1]) % n_slots
    cdef Py_ssize_t tag = (image * w.out_size[0] + od) * w.out_size[1] + oh
    cdef Py_ssize_t ow, c, row_divisor, divisor
    cdef floating* shares = cache + slot * w.out_size[2] * channels
    cdef const floating* grad_pixel
    cdef floating divide_by
    if tags[slot] == tag:
        return shares
    tags[slot] = tag
    row_divisor = (axis_count(od * w.stride[0] - w.padding[0], w.in_size[0], w.kernel[0],
                              w.padding[0], count_include_pad)
                   * axis_count(oh * w.stride[1] - w.padding[1], w.in_size[1], w.kernel[1],
                                w.padding[1], count_include_pad))
    grad_pixel = grad_image + (od * w.out_size[1] + oh) * w.out_size[2] * channels
    for ow in range(w.out_size[2]):
        if divisor_override > 0:
            divisor = divisor_override
        else:
            divisor = row_divisor * axis_count(ow * w.stride[2] - w.padding[2], w.in_size[2],
                                               w.kernel[2], w.padding[2], count_include_pad)
        divide_by = <floating>divisor
        for c in range(channels):
            shares[ow * channels + c] = grad_pixel[ow * channels + c] / divide_by
    return shares


cdef inline void avg_backward_row_cl(const floating* grad_image, floating* grad_row,
                                     floating* cache, Py_ssize_t* tags, Py_ssize_t n_slots,
                                     const Window* w, Py_ssize_t channels, Py_ssize_t image,
                                     Py_ssize_t id, Py_ssize_t ih, bint count_include_pad,
                                     Py_ssize_t divisor_override) noexcept nogil:
    """Input row (id, ih) of `image`; `cache` and `tags` are the thread's output_row_shares_cl
    cache. Each pixel's channels are summed over its covering outputs, rows then columns in
    ascending order (PyTorch's scatter order), from +0, and stored once: no zeroing pass, and
    the row is written once instead of once per covering window. With fewer than
    CHANNEL_BLOCK channels the per-pixel loops cost more than that saves (3x3/2, 1 thread: 8
    channels 0.86x, 16 0.97x, 32 1.13x, 64 1.26x, 512 1.48x), and when the cache has fewer
    slots than the covering rows (rows too long for it) their shares cannot be held at once:
    then the windows are spread through the row instead (zeroed first)."""
    cdef const floating* rows[GATHER_ROWS]
    cdef Py_ssize_t od_first, od_stop, oh_first, oh_stop, od, oh, ow, iw, c, r, n_rows = 0
    cdef Py_ssize_t w_start, w_first, w_stop, ow_first, ow_stop
    cdef Py_ssize_t stride = w.stride[2], kernel = w.kernel[2]
    cdef const floating* shares
    cdef const floating* share
    cdef floating* target
    cdef floating zero = 0
    covering_outputs(id, w.kernel[0], w.stride[0], w.padding[0], w.out_size[0],
                     &od_first, &od_stop)
    covering_outputs(ih, w.kernel[1], w.stride[1], w.padding[1], w.out_size[1],
                     &oh_first, &oh_stop)
    if (channels < CHANNEL_BLOCK or n_slots < w.kernel[0] * w.kernel[1]
            or (od_stop - od_first) * (oh_stop - oh_first) > GATHER_ROWS):
        for c in range(w.in_size[2] * channels):
            grad_row[c] = 0
        for od in range(od_first, od_stop):
            for oh in range(oh_first, oh_stop):
                shares = output_row_shares_cl(grad_image, cache, tags, n_slots, w, channels,
                                              image, od, oh, count_include_pad,
                                              divisor_override)
                for ow in range(w.out_size[2]):
                    w_start = ow * stride - w.padding[2]
                    valid_taps(w_start, w.in_size[2], kernel, 1, &w_first, &w_stop)
                    share = shares + ow * channels
                    for iw in range(w_start + w_first, w_start + w_stop):
                        target = grad_row + iw * channels
                        for c in range(channels):
                            target[c] = target[c] + share[c]
        return
    # The covering rows' shares have distinct cache slots (see output_row_shares_cl).
    for od in range(od_first, od_stop):
        for oh in range(oh_first, oh_stop):
            rows[n_rows] = output_row_shares_cl(grad_image, cache, tags, n_slots, w, channels,
                                                image, od, oh, count_include_pad,
                                                divisor_override)
            n_rows = n_rows + 1
    for iw in range(w.in_size[2]):
        covering_outputs(iw, kernel, stride, w.padding[2], w.out_size[2], &ow_first, &ow_stop)
        target = grad_row + iw * channels
        if n_rows == 0 or ow_first >= ow_stop:
            for c in range(channels):
                target[c] = 0
        else:
            share = rows[0] + ow_first * channels
            for c in range(channels):
                target[c] = zero + share[c]
            for r in range(n_rows):
                for ow in range(ow_first + 1 if r == 0 else ow_first, ow_stop):
                    share = rows[r] + ow * channels
                    for c in range(channels):
                        target[c] = target[c] + share[c]


cdef inline void avg_tile_backward_row_cl(const floating* grad_image, floating* grad_row,
                                          floating* cache, Py_ssize_t* tags,
                                          Py_ssize_t n_slots, const Window* w,
                                          Py_ssize_t channels, Py_ssize_t image,
                                          Py_ssize_t id, Py_ssize_t ih, bint count_include_pad,
                                          Py_ssize_t divisor_override) noexcept nogil:
    """Input row (id, ih) of `image` when the windows tile the input (windows_tile): each
    pixel under a window takes that output's share, written once, with no zeroing pass; the
    pixels past the last window take 0."""
    cdef Py_ssize_t od = id // w.kernel[0], oh = ih // w.kernel[1], ow, iw, c
    cdef Py_ssize_t row_size = w.in_size[2] * channels
    cdef Py_ssize_t covered = w.out_size[2] * w.kernel[2] * channels
    cdef const floating* shares
    cdef const floating* share
    cdef floating* target
    cdef floating zero = 0
    if od >= w.out_size[0] or oh >= w.out_size[1]:
        memset(grad_row, 0, row_size * sizeof(floating))
        return
    shares = output_row_shares_cl(grad_image, cache, tags, n_slots, w, channels, image, od,
                                  oh, count_include_pad, divisor_override)
    for ow in range(w.out_size[2]):
        share = shares + ow * channels
        for iw in range(ow * w.kernel[2], (ow + 1) * w.kernel[2]):
            target = grad_row + iw * channels
            # +0 + share, as the gather's sum from +0 gives: a -0.0 share becomes +0.0.
            for c in range(channels):
                target[c] = zero + share[c]
    memset(grad_row + covered, 0, (row_size - covered) * sizeof(floating))


def avg_pool_backward_cl(const floating[:, :, :, :, ::1] grad_output,
                         floating[:, :, :, :, ::1] grad_input, floating[:, ::1] shares,
                         Py_ssize_t[:, ::1] tags, Py_ssize_t n_slots, tuple kernel,
                         tuple stride, tuple padding, bint count_include_pad,
                         Py_ssize_t divisor_override, int n_threads):
    """Gradient of channels-last average pooling: (images, OD, OH, OW, C) ->
    (images, D, H, W, C). `shares` and `tags` are each thread's cache of output rows' shares
    (a row each, n_threads rows; n_slots slots of OW * C shares, tags all -1)."""
    cdef Window w = make_window(&grad_input.shape[1], &grad_output.shape[1],
                                kernel, stride, padding, (1, 1, 1))
    cdef Py_ssize_t channels = grad_input.shape[4]
    cdef Py_ssize_t out_image_size = (w.out_size[0] * w.out_size[1] * w.out_size[2]
                                      * channels)
    cdef Py_ssize_t n_rows = grad_input.shape[0] * w.in_size[0] * w.in_size[1]
    cdef Py_ssize_t row, image, id, ih
    cdef const floating* grad_output_start = &grad_output[0, 0, 0, 0, 0]
    cdef floating* grad_input_start = &grad_input[0, 0, 0, 0, 0]
    cdef floating* shares_start = &shares[0, 0]
    cdef Py_ssize_t* tags_start = &tags[0, 0]
    cdef bint tiles = windows_tile(&w)
    with nogil, parallel(num_threads=n_threads):
        for row in prange(n_rows, schedule="static"):
            ih = row % w.in_size[1]
            id = (row // w.in_size[1]) % w.in_size[0]
            image = row // (w.in_size[1] * w.in_size[0])
            if tiles:
                avg_tile_backward_row_cl(grad_output_start + image * out_image_size,
                                         grad_input_start + row * w.in_size[2] * channels,
                                         shares_start + threadid() * shares.shape[1],
                                         tags_start + threadid() * tags.shape[1], n_slots, &w,
                                         channels, image, id, ih, count_include_pad,
                                         divisor_override)
            else:
                avg_backward_row_cl(grad_output_start + image * out_image_size,
                                    grad_input_start + row * w.in_size[2] * channels,
                                    shares_start + threadid() * shares.shape[1],
                                    tags_start + threadid() * tags.shape[1], n_slots, &w,
                                    channels, image, id, ih, count_include_pad,
                                    divisor_override)
