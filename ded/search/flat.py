"""Exact search in NumPy: the whole vector table (or the rows a filter allows) times the query.

Below the index threshold this is the search, and it is exact: one float32 matrix-vector product over the
table, held in memory per process and reloaded when the table's Lance version changes (so a long-lived
process such as a notebook pays the read once; a `ded search` process pays it once). For a filtered search
over an indexed table whose over-fetched index results leave fewer than k allowed ids, it runs on the
allowed rows only: read with Lance's `take` by row position when they are few, else from the table held in
memory (loaded on first need; bench/search.py measures both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ded.lake import Lake


@dataclass
class Rows:
    """A vector table's id and chunk per row position (what `take` and a filter mask need)."""

    version: int
    ids: pa.Array
    chunks: np.ndarray
    vectors: np.ndarray | None = None  # (rows, dim) float32 once loaded


_CACHE: dict[tuple[str, str], Rows] = {}
# Lance `take` of 50k scattered rows of 1M took 506 ms here; past this many rows, hold the table in memory
TAKE_MAX_ROWS = 5_000


def table_rows(lake: Lake, vt: str, with_vectors: bool = False) -> Rows:
    """The cached ids/chunks (and vectors) of `vt` at its current version."""
    from ded.embeddings.store import vectors_numpy

    key = (lake.root, vt)
    version = lake.version(vt)
    hit = _CACHE.get(key)
    if hit is None or hit.version != version:
        cols = ["id", "chunk", "vector"] if with_vectors else ["id", "chunk"]
        t = lake.dataset(vt).to_table(columns=cols)
        hit = Rows(version, t.column("id").combine_chunks(), t.column("chunk").to_numpy())
        if with_vectors:
            hit.vectors = np.ascontiguousarray(vectors_numpy(t.column("vector")), np.float32)
        _CACHE[key] = hit
    elif with_vectors and hit.vectors is None:
        t = lake.dataset(vt).to_table(columns=["vector"])
        hit.vectors = np.ascontiguousarray(vectors_numpy(t.column("vector")), np.float32)
    return hit


def allowed_rows(rows: Rows, allowed: list[str] | set[str]) -> np.ndarray:
    """Row positions whose id is in `allowed` (an Arrow hash lookup, not an SQL IN list)."""
    mask = pc.is_in(rows.ids, value_set=pa.array(list(allowed), pa.string()))
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def top_per_id(ids: pa.Array, chunks: np.ndarray, sims: np.ndarray, positions: np.ndarray | None, k: int,
               exclude: set[str]) -> list[tuple[str, int, float]]:
    """The k best ids by their best chunk, from similarities `sims` of rows `positions` (all when None)."""
    want = min(len(sims), (k + len(exclude)) * 4)  # chunks of one id compete for slots: over-fetch, then group
    if want == 0:
        return []
    top = np.argpartition(-sims, want - 1)[:want] if want < len(sims) else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    rows = top if positions is None else positions[top]
    got = ids.take(pa.array(rows)).to_pylist()
    best: dict[str, tuple[int, float]] = {}
    for i, r, s in zip(got, rows.tolist(), sims[top].tolist()):
        if i not in exclude and i not in best:
            best[i] = (int(chunks[r]), float(s))
    return [(i, c, s) for i, (c, s) in list(best.items())[:k]]


def flat_search(lake: Lake, vt: str, vector: np.ndarray, k: int, allowed=None,
                exclude: set[str] | None = None) -> list[tuple[str, int, float]]:
    """Exact k nearest ids over the in-memory table (restricted to `allowed` ids when given)."""
    rows = table_rows(lake, vt, with_vectors=True)
    q = np.asarray(vector, np.float32)
    if allowed is None:
        return top_per_id(rows.ids, rows.chunks, rows.vectors @ q, None, k, exclude or set())
    pos = allowed_rows(rows, allowed)
    return top_per_id(rows.ids, rows.chunks, rows.vectors[pos] @ q, pos, k, exclude or set())


def subset_search(lake: Lake, vt: str, vector: np.ndarray, k: int, allowed,
                  exclude: set[str] | None = None) -> list[tuple[str, int, float]]:
    """Exact k nearest among the `allowed` ids, reading only their rows (`take`), for an indexed table."""
    from ded.embeddings.store import vectors_numpy

    rows = table_rows(lake, vt)
    pos = allowed_rows(rows, allowed)
    if rows.vectors is None and len(pos) > TAKE_MAX_ROWS:
        rows = table_rows(lake, vt, with_vectors=True)  # once per process and version: 1.5 GB at 1M x 384
    if rows.vectors is not None:
        v = rows.vectors[pos]
    else:
        v = vectors_numpy(lake.dataset(vt).take(pos, columns=["vector"]).column("vector"))
    return top_per_id(rows.ids, rows.chunks, v @ np.asarray(vector, np.float32), pos, k, exclude or set())
