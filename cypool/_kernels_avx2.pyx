# The pooling kernels compiled for the "avx2" ISA level (flags in setup.py); the body is
# shared by every level.
ISA_LEVEL = "avx2"

include "_kernels.pxi"

include "_padded_planes.pxi"

include "_adaptive.pxi"

include "_unpool.pxi"

include "_channels_last.pxi"

include "_fractional.pxi"
