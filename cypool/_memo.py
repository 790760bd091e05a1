"""Bounded caches for the per-call work of the Python layer.

A training loop calls each op with the same shapes and arguments every step, and working out
window geometries, memory layouts and view shapes again costs as much as pooling a small array
does. The caches are plain dicts keyed by hashable arguments (stubtest reads ``lru_cache``
wrappers as bad stubs, and a dict lookup is cheaper).
"""

from __future__ import annotations

from typing import TypeVar

Value = TypeVar("Value")

# Entries per cache: far more shapes than one program's layers use, and a bound on the memory
# of a program that sees ever new shapes (a full cache is emptied and starts again).
CACHE_SIZE = 256


def remember(cache: dict, key, value: Value) -> Value:
    """Store ``value`` under ``key`` in ``cache`` (emptying it first when it is full) and
    return ``value``."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value
