"""Build cypool's Cython kernels, once per instruction-set level, with OpenMP when available.

The kernel source is ``cypool/_kernels.pxi`` and the ``cypool/_*.pxi`` files that build on it.
Each ``cypool/_kernels_<level>.pyx`` includes them and becomes its own extension module compiled
with that level's flags; at import the package picks the best level the CPU supports
(``cypool/_backend.py``). Without ``-march=native`` the default wheel runs on every CPU of its
architecture.

Environment switches (all optional):

``CYPOOL_DISABLE_OPENMP=1``  build serial kernels even where OpenMP is available.
``CYPOOL_DEBUG_CHECKS=1``    compile with Cython bounds and wraparound checks, at -O1 (for tests).
``CYPOOL_MARCH_NATIVE=1``    add ``-march=native`` to the baseline level (not portable).
``CYPOOL_ISA_LEVELS=a,b``    build only these levels (baseline is always built).
``CYPOOL_SANITIZE=1``        compile and link with AddressSanitizer and UndefinedBehaviorSanitizer
                             (gcc/clang; for tests: load ``libasan.so`` first with ``LD_PRELOAD``,
                             as ``.ci/sanitizers`` does).
"""

import os
import platform
import shutil
import sys
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""

# Per compiler family: compile flags and link flags for each ISA level. Levels that a compiler
# family cannot target are absent. AVX2 goes with FMA (every AVX2 CPU has it); AVX-512 means the
# Skylake-X subset (F, BW, VL, DQ) that the dispatcher checks at import.
ISA_FLAGS = {
    "unix": {
        "baseline": [],
        "avx2": ["-mavx2", "-mfma"],
        "avx512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"],
    },
    "msvc": {
        "baseline": [],
        "avx2": ["/arch:AVX2"],
        "avx512": ["/arch:AVX512"],
    },
}

OPTIMISE_FLAGS = {"unix": ["-O3"], "msvc": ["/O2"]}

# CYPOOL_DEBUG_CHECKS=1 builds exist to run the tests with Cython's indexing checks; the checks
# are in the generated C whatever the optimisation. -O1 compiles a level in 16 s where -O3 with
# the inlining limits below takes 100 s, and the checked tests run as fast (57 s either way:
# their time is in the Python calls).
DEBUG_OPTIMISE_FLAGS = {"unix": ["-O1"], "msvc": ["/O1"]}
debug_checks = os.environ.get("CYPOOL_DEBUG_CHECKS") == "1"

# GCC's inliner stops inlining past set limits: on how much a translation unit, or one
# function, may grow, and on the size of a function inlined. Each kernel module is one large
# unit of row helpers specialised by their literal arguments; past those limits GCC leaves some
# out of line, their literals unfolded, and which ones changes whenever code is added anywhere
# in the module. Measured: max pooling's phase path with indices ran 1.2-1.45x slower with the
# default limits, and adaptive max pooling's uniform rows 2-4x slower with only the unit limit
# raised. These limits keep every helper inlined. Used when the compiler accepts them (clang
# has no such parameters).
INLINING_FLAGS = [
    "--param", "inline-unit-growth=4000", "--param", "large-function-growth=4000",
    "--param", "max-inline-insns-single=4000", "--param", "large-function-insns=100000",
]

# CYPOOL_SANITIZE=1: compile and link flags (the frame pointers give readable stack traces).
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]


def is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64", "x86-64")


def requested_levels():
    if not is_x86_64():
        return ["baseline"]
    wanted = os.environ.get("CYPOOL_ISA_LEVELS")
    if not wanted:
        return ["baseline", "avx2", "avx512"]
    levels = [level.strip() for level in wanted.split(",") if level.strip()]
    unknown = set(levels) - set(ISA_FLAGS["unix"])
    if unknown:
        sys.exit(f"CYPOOL_ISA_LEVELS names unknown levels {sorted(unknown)}")
    return ["baseline"] + [level for level in levels if level != "baseline"]


def compiler_family(compiler):
    return "msvc" if compiler.compiler_type == "msvc" else "unix"


def openmp_candidates(compiler):
    """(compile flags, link flags) pairs to try, most likely first."""
    if compiler_family(compiler) == "msvc":
        return [(["/openmp"], [])]
    candidates = [(["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp driver flag; Homebrew's libomp provides the runtime.
        prefix = os.environ.get("LIBOMP_PREFIX", "/opt/homebrew/opt/libomp")
        candidates.append(
            (
                ["-Xpreprocessor", "-fopenmp", f"-I{prefix}/include"],
                [f"-L{prefix}/lib", "-lomp"],
            )
        )
    return candidates


def builds(compiler, source_text, compile_flags, link_flags=None):
    """Whether the compiler compiles `source_text` with these flags (and, given link flags,
    links it into a program): a probe in a scratch directory."""
    workdir = tempfile.mkdtemp(prefix="cypool-probe-")
    try:
        source = os.path.join(workdir, "probe.c")
        with open(source, "w") as handle:
            handle.write(source_text)
        try:
            objects = compiler.compile([source], output_dir=workdir, extra_postargs=compile_flags)
            if link_flags is not None:
                compiler.link_executable(
                    objects, "probe", output_dir=workdir, extra_postargs=link_flags
                )
        except Exception:  # any compiler or linker failure means: not these flags
            return False
        return True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def probe_openmp(compiler):
    """Return the first OpenMP flag pair that compiles and links a test program, else None."""
    for compile_flags, link_flags in openmp_candidates(compiler):
        if builds(compiler, OPENMP_PROBE, compile_flags, link_flags):
            return compile_flags, link_flags
    return None


class BuildExtWithOpenMP(build_ext):
    """Adds per-level ISA flags and the OpenMP flags found by a probe to every kernel module."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            # The ISA levels are independent modules: compile them side by side.
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        family = compiler_family(self.compiler)
        openmp = None
        if os.environ.get("CYPOOL_DISABLE_OPENMP") != "1":
            openmp = probe_openmp(self.compiler)
            if openmp is None:
                warnings.warn(
                    "cypool: no working OpenMP flag found for this compiler; "
                    "building serial kernels (they will use one thread).",
                    stacklevel=1,
                )
        optimise = list((DEBUG_OPTIMISE_FLAGS if debug_checks else OPTIMISE_FLAGS)[family])
        if family == "unix" and not debug_checks and builds(
            self.compiler, "int main(void) { return 0; }\n", ["-Werror"] + INLINING_FLAGS
        ):
            optimise += INLINING_FLAGS
        for extension in self.extensions:
            level = extension.name.rsplit("_", 1)[-1]
            flags = optimise + list(ISA_FLAGS[family].get(level, []))
            if level == "baseline" and os.environ.get("CYPOOL_MARCH_NATIVE") == "1":
                flags.append("-march=native")
            link_flags = []
            if openmp is not None:
                flags += openmp[0]
                link_flags += openmp[1]
            if os.environ.get("CYPOOL_SANITIZE") == "1" and family == "unix":
                flags += SANITIZE_FLAGS
                link_flags += SANITIZE_FLAGS
            extension.extra_compile_args = flags + list(extension.extra_compile_args)
            extension.extra_link_args = link_flags + list(extension.extra_link_args)
        super().build_extensions()

    def run(self):
        super().run()
        if not self.inplace:
            # Also place the compiled modules beside the sources. Run from a checkout's root,
            # `python -m cypool` (or any import) finds the source package before the installed
            # one; with its compiled modules present it works instead of failing to import.
            self.copy_extensions_to_source()


def kernel_extensions():
    extensions = []
    for level in requested_levels():
        extensions.append(
            Extension(
                f"cypool._kernels_{level}",
                [f"cypool/_kernels_{level}.pyx"],
                include_dirs=[np.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            )
        )
    return extensions


compiler_directives = {
    "language_level": 3,
    "boundscheck": debug_checks,
    "wraparound": debug_checks,
    "initializedcheck": debug_checks,
    "nonecheck": False,
    "cdivision": True,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        kernel_extensions(),
        compiler_directives=compiler_directives,
        nthreads=os.cpu_count() or 1,
        # Checked and unchecked builds keep their generated C apart, so switching never reuses
        # the other's output.
        build_dir="build/cython-debug" if debug_checks else None,
    ),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
