"""Diversity blocks: farthest-P over a distance matrix, and k-center over embeddings.

Both are greedy max-min (farthest-first) traversals, the classic 2-approximations: farthest-P
is max-min dispersion (Ravi, Rosenkrantz & Tayi 1994: start from the farthest pair, then add
the point whose nearest chosen point is farthest), k-center is Gonzalez (1985). Ties break on
the lowest index, so with inputs in a stable order the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Picks:
    """Chosen indices in pick order, and each one's distance to the nearest earlier pick.

    `duplicate_of` maps each item left out because it lies within `min_sep` of a pick (an exact
    copy when min_sep is 0) to that pick (its nearest one), so a caller can say why it was dropped.
    """

    order: list[int]
    min_dist: list[float]
    duplicate_of: dict[int, int] = field(default_factory=dict)


def _duplicates(d: np.ndarray, order: list[int], min_sep: float) -> dict[int, int]:
    """Unpicked items within `min_sep` of a pick -> their nearest pick (ties: the earliest pick)."""
    if not order:
        return {}
    rest = [i for i in range(d.shape[0]) if i not in set(order)]
    out: dict[int, int] = {}
    for i in rest:
        row = d[i, order]
        k = int(np.argmin(row))
        if row[k] <= min_sep:
            out[i] = order[k]
    return out


def farthest_p(dist: np.ndarray, p: int, min_sep: float = 0.0) -> Picks:
    """Greedy max-min choice of at most `p` items from a symmetric distance matrix.

    An item is never picked at distance <= `min_sep` from an earlier pick (0: exact duplicates are
    never both kept), so a group of copies yields fewer than `p` picks and the caller's budget
    fills from elsewhere. With n <= p every item is kept in index order, minus such duplicates.
    Otherwise the farthest pair comes first, then each step adds the item whose nearest chosen item
    is farthest, stopping early when that distance is <= min_sep.
    """
    d = np.asarray(dist, dtype=np.float64)
    n = d.shape[0]
    if d.shape != (n, n):
        raise ValueError(f"distance matrix must be square, got {d.shape}")
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    if min_sep < 0:
        raise ValueError(f"min_sep must be >= 0, got {min_sep}")
    if n == 0:
        return Picks([], [])
    if n <= p:
        order, near = [0], [float("nan")]
        for i in range(1, n):
            m = float(d[i, order].min())
            if m > min_sep:
                order.append(i)
                near.append(m)
        return Picks(order, near, _duplicates(d, order, min_sep))
    if p == 1:
        # One survivor: keep the item farthest from the others on average (ties: lowest index).
        i = int(np.argmax(d.sum(axis=1)))
        return Picks([i], [float("nan")], _duplicates(d, [i], min_sep))
    # The farthest pair over the strict upper triangle only: argmax over np.triu(d, 1) returned the
    # diagonal cell (0, 0) when every distance is 0 (identical traces), so item 0 was picked twice.
    # triu_indices is row-major, so ties still go to the lowest (i, j).
    rows, cols = np.triu_indices(n, 1)
    flat = int(np.argmax(d[rows, cols]))
    i, j = int(rows[flat]), int(cols[flat])
    if d[i, j] <= min_sep:  # every pair is within min_sep (e.g. all copies): one item stands for all
        return Picks([i], [float("nan")], _duplicates(d, [i], min_sep))
    order, near = [i, j], [float("nan"), float(d[i, j])]
    mind = np.minimum(d[i], d[j])
    mind[[i, j]] = -np.inf
    while len(order) < p:
        k = int(np.argmax(mind))
        if mind[k] <= min_sep:  # the best remaining item copies a pick: picking it adds no diversity
            break
        order.append(k)
        near.append(float(mind[k]))
        mind = np.minimum(mind, d[k])
        mind[order] = -np.inf
    return Picks(order, near, _duplicates(d, order, min_sep))


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


def kcenter_iter(vectors: np.ndarray, first: int = 0) -> Iterator[tuple[int, float]]:
    """Farthest-first traversal under cosine distance, lazily: yields (index, distance to the
    nearest earlier center) until every point is a center. `first` is the seed (callers pass their
    most preferred item, e.g. the hardest question). Each step costs O(n·d)."""
    v = normalize_rows(vectors)
    n = v.shape[0]
    if n == 0:
        return
    yield first, float("nan")
    mind = 1.0 - v @ v[first]
    mind[first] = -np.inf
    for _ in range(n - 1):
        c = int(np.argmax(mind))
        yield c, float(mind[c])
        mind = np.minimum(mind, 1.0 - v @ v[c])
        mind[c] = -np.inf


def kcenter(vectors: np.ndarray, k: int, first: int = 0) -> Picks:
    """The first `k` centers of the farthest-first traversal (800 picks over 100k × 384: seconds)."""
    order, near = [], []
    if k <= 0:
        return Picks(order, near)
    for i, d in kcenter_iter(vectors, first):
        order.append(i)
        near.append(d)
        if len(order) >= k:
            break
    return Picks(order, near)
