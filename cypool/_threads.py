"""How many threads a call uses.

Order of precedence: a call's ``n_threads=``, then :func:`set_num_threads`, then OpenMP's
current maximum read at call time (``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits``),
so cypool obeys the same controls as scikit-learn. Small calls always run on one thread.
"""

from __future__ import annotations

import os

from ._backend import kernels
from ._shape import as_int

# More threads than this never help; a huge n_threads would only spawn a huge team.
_THREAD_CAP = 4 * (os.cpu_count() or 1)

# Below this many elements of work a call runs on one thread: starting a team costs more.
PARALLEL_THRESHOLD = 1 << 15

# Set by set_num_threads; None follows OpenMP.
_process_default: int | None = None


def _as_thread_count(name: str, value) -> int:
    count = as_int(name, value, "a positive int or None")
    if count < 1:
        raise ValueError(f"{name} must be a positive int or None, got {count}")
    return count


def check_n_threads(n_threads) -> int | None:
    """A call's ``n_threads`` as given (None or a positive int). Every op checks it first, so a
    bad value is refused even by a call that turns out to have nothing to compute."""
    return None if n_threads is None else _as_thread_count("n_threads", n_threads)


def set_num_threads(n_threads: int | None) -> None:
    """Set the thread count cypool uses when a call gives no ``n_threads``.

    Parameters
    ----------
    n_threads : int or None
        A positive count for every later call in this process (from any Python thread), or
        None to follow OpenMP again (``OMP_NUM_THREADS``, ``threadpoolctl``), the default.

    Examples
    --------
    >>> import cypool
    >>> cypool.set_num_threads(1)
    >>> cypool.get_num_threads()
    1
    >>> cypool.set_num_threads(None)  # back to OpenMP's setting
    """
    global _process_default
    _process_default = None if n_threads is None else _as_thread_count("n_threads", n_threads)


def get_num_threads() -> int:
    """The thread count a call without ``n_threads`` would use on a large input now.

    That is the value of :func:`set_num_threads` if one was set, else OpenMP's current maximum
    (1 for a build without OpenMP).

    Examples
    --------
    >>> import cypool
    >>> cypool.get_num_threads() >= 1
    True
    """
    if _process_default is not None:
        return _process_default
    return kernels.openmp_max_threads()


def n_threads_for(n_threads: int | None, work: int) -> int:
    """Threads for a call doing ``work`` element operations, given its ``n_threads=`` argument
    (checked by ``check_n_threads``). More than four threads per CPU never helps and is capped.
    """
    if n_threads is None:
        n_threads = get_num_threads()
    if work < PARALLEL_THRESHOLD:
        return 1
    return min(n_threads, _THREAD_CAP)
