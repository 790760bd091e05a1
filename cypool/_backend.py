"""Choose the compiled kernel module for this CPU.

setup.py builds the same kernels for several ISA levels. At import the best level that was
built and that the CPU supports is chosen, in ``PREFERENCE`` order; ``CYPOOL_ISA=<level>``
forces one (the test suite uses it to check every level the machine can run).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

# Built everywhere and safe on every CPU of its architecture; it answers the CPU-feature query.
_kernels_baseline = importlib.import_module(f"{__package__}._kernels_baseline")

# AVX2 before AVX-512: the project's design notes measured an AVX-512 build of this kind of
# kernel slower than the AVX2 one (7.3 ms against 4.5 ms for a (32,128,56,56) 2x2 max pool).
# Re-measured on an AVX-512 AMD EPYC on 2026-11-30, the same kernels built for both levels, 1
# thread: AVX-512 took 0.96-1.14x the AVX2 time on eight NCHW and channels-last cases (the
# stem's 3x3/2 max forward 1.11x, its average backward 1.14x; medians of 5 alternating runs).
# Force it with CYPOOL_ISA=avx512.
PREFERENCE = ("avx2", "avx512", "baseline")
ENVIRONMENT_VARIABLE = "CYPOOL_ISA"


def built_levels() -> list[str]:
    """Levels whose extension module exists in this installation, in preference order.

    Only looks for the files: importing a level's module can already execute its instructions,
    which kills the process on a CPU without them.
    """
    return [
        level
        for level in PREFERENCE
        if importlib.util.find_spec(f"{__package__}._kernels_{level}") is not None
    ]


def supported_levels() -> list[str]:
    """Built levels this CPU can run, in preference order."""
    features = _kernels_baseline.cpu_features()
    return [level for level in built_levels() if level == "baseline" or features.get(level)]


def choose_level() -> tuple[str, str]:
    """(level, reason) for this process."""
    forced = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    supported = supported_levels()
    if forced:
        if forced not in PREFERENCE:
            raise ImportError(
                f"{ENVIRONMENT_VARIABLE}={forced!r} is not a cypool ISA level; "
                f"choose one of {list(PREFERENCE)}"
            )
        if forced not in supported:
            raise ImportError(
                f"{ENVIRONMENT_VARIABLE}={forced!r}: that level is not built or this CPU "
                f"cannot run it (available here: {supported})"
            )
        return forced, f"forced by {ENVIRONMENT_VARIABLE}"
    return supported[0], f"best of the levels this CPU supports: {supported}"


ISA_LEVEL, ISA_REASON = choose_level()
kernels = importlib.import_module(f"{__package__}._kernels_{ISA_LEVEL}")
