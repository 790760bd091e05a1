"""Dask graphs for pooling: each result block computed from exactly the source it needs.

A pooling op maps a source array (the input, or ``grad_output`` for a backward) to a result.
Along each axis the result is cut into blocks, and block ``j`` needs the source range
``[lo_j, hi_j)`` (its windows' taps, or the outputs whose windows cover it). Neighbouring
ranges may overlap (a halo) and need not follow the source's chunks: each result task slices
the source chunks that meet its range and joins them. So any source chunking works without a
rechunk, and a task holds only its own block, its halo and its result.
"""

from __future__ import annotations

import itertools
import math
import operator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from dask.array import Array, map_blocks
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph


def check_known_chunks(name: str, array: Array) -> None:
    """Graphs are planned from the chunk sizes: they must be known."""
    if any(math.isnan(size) for sizes in array.chunks for size in sizes):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first"
        )


def bounds_of(chunks) -> tuple[int, ...]:
    """Chunk sizes -> block boundaries ``(0, c0, c0 + c1, ..., length)``."""
    return tuple(itertools.accumulate(chunks, initial=0))


@dataclass(frozen=True)
class AxisPlan:
    """One axis: result block ``j`` is ``[bounds[j], bounds[j + 1])`` and needs the source
    range ``needs[j]`` (empty when ``lo == hi``)."""

    bounds: tuple[int, ...]
    needs: tuple[tuple[int, int], ...]

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(stop - start for start, stop in zip(self.bounds, self.bounds[1:]))


def cut_plan(length: int, cuts, need) -> AxisPlan:
    """Result blocks of an axis of ``length`` cut at ``cuts`` (cuts outside ``(0, length)`` and
    repeats are dropped, so no block is empty); ``need(start, stop)`` is a block's source
    range."""
    inner = sorted({cut for cut in cuts if 0 < cut < length})
    bounds = (0, *inner, length)
    return AxisPlan(bounds, tuple(need(start, stop) for start, stop in zip(bounds, bounds[1:])))


def same_plan(chunks) -> AxisPlan:
    """An axis the op maps one to one (batch and channels): the source's own blocks."""
    bounds = bounds_of(chunks)
    return AxisPlan(bounds, tuple(zip(bounds, bounds[1:])))


def _pieces(source_bounds, lo: int, hi: int) -> list[tuple[int, slice]]:
    """(source chunk, slice inside it) covering ``[lo, hi)`` of one axis, in order."""
    first = int(np.searchsorted(source_bounds, lo, side="right")) - 1
    pieces = []
    for chunk in range(first, len(source_bounds) - 1):
        start, stop = source_bounds[chunk], source_bounds[chunk + 1]
        if start >= hi:
            break
        pieces.append((chunk, slice(max(lo, start) - start, min(hi, stop) - start)))
    return pieces


def _join(nested):
    """The pieces of one source box (nested lists, one level per axis) as one array."""
    return np.block(nested)


def _gather_task(source: Array, box):
    """A task giving ``source[box]`` (``box``: one ``(lo, hi)`` per axis)."""
    if any(lo >= hi for lo, hi in box):  # no chunk to read
        return (partial(np.empty, tuple(hi - lo for lo, hi in box), source.dtype),)
    per_axis = [_pieces(bounds_of(chunks), lo, hi)
                for chunks, (lo, hi) in zip(source.chunks, box)]

    if all(len(pieces) == 1 for pieces in per_axis):  # one chunk holds it all: a view
        return (operator.getitem, (source.name, *(pieces[0][0] for pieces in per_axis)),
                tuple(pieces[0][1] for pieces in per_axis))

    def nest(axis, index, slices):
        if axis == len(per_axis):
            return (operator.getitem, (source.name, *index), slices)
        return [nest(axis + 1, index + (chunk,), slices + (where,))
                for chunk, where in per_axis[axis]]

    return (_join, nest(0, (), ()))


def gather_map(name: str, block_function, sources, plans, meta) -> Array:
    """The array whose block at result position ``(j0, j1, ...)`` (one plan per axis) is
    ``block_function(ranges, *parts)``: ``ranges`` holds ``(start, stop, lo, hi)`` per axis
    (the block and its source range), and ``parts`` the sources' boxes as NumPy arrays."""
    token = tokenize(name, block_function, [source.name for source in sources], plans)
    out_name = f"{name}-{token}"
    graph: dict[Any, Any] = {}
    for position in itertools.product(*(range(len(plan.needs)) for plan in plans)):
        ranges = tuple((plan.bounds[j], plan.bounds[j + 1], *plan.needs[j])
                       for plan, j in zip(plans, position))
        box = [(lo, hi) for _, _, lo, hi in ranges]
        graph[(out_name, *position)] = (partial(block_function, ranges),
                                        *(_gather_task(source, box) for source in sources))
    layers = HighLevelGraph.from_collections(out_name, graph, dependencies=sources)
    return Array(layers, out_name, tuple(plan.chunks for plan in plans), meta=meta)


def split(combined: Array, metas) -> tuple[Array, ...]:
    """The arrays of a graph whose blocks are tuples of arrays (one ``meta`` per item)."""
    return tuple(map_blocks(operator.getitem, combined, item, meta=meta)
                 for item, meta in enumerate(metas))
