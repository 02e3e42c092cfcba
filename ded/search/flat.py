"""Exact search in NumPy: the whole vector table (or the rows a filter allows) times the query.

Below the index threshold this is the search, and it is exact: one float32 matrix-vector product over the
table, held in memory per process and reloaded when the table's Lance version changes (so a long-lived
process such as a notebook pays the read once; a `ded search` process pays it once).

A filter is a `RowSet`: the row positions of the vector table whose id a `--where` keeps, found once per
filter and table version (`row_set`). A selective filter is searched exactly over its rows, which the
RowSet gathers into one contiguous matrix on its first query (read with Lance's `take` when they are few,
else from the table held in memory) and reuses after: at 1M rows the gather of a 5% filter's scattered rows
costs about as much as the product itself (26 ms against 6 ms here), so a process that runs many queries
under one filter (a notebook, a server, `search()`'s RowSet cache) pays it once (bench/search.py reports
the first query apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ded.embeddings.store import vectors_numpy
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


@dataclass
class RowSet:
    """The rows of vector table `table` (at `version`) whose id is in `ids`: what a filtered search needs.

    `positions` are sorted row positions (every chunk of a kept id), `share` their part of the table;
    `vectors` is the kept rows' matrix, gathered on the first exact search over them and reused."""
    table: str
    version: int
    ids: frozenset
    positions: np.ndarray
    share: float
    vectors: np.ndarray | None = None


def row_set(lake: Lake, vt: str, allowed) -> RowSet:
    """The RowSet of the ids `allowed` in vector table `vt` at its current version (an Arrow hash lookup over
    the table's ids: 22-37 ms for 5-12% of 1M ids here, so build it once per filter, not per query)."""
    rows = table_rows(lake, vt)
    ids = allowed if isinstance(allowed, frozenset) else frozenset(allowed)
    pos = allowed_rows(rows, ids) if ids else np.zeros(0, np.int64)
    return RowSet(vt, rows.version, ids, pos, len(pos) / max(1, len(rows.ids)))


def current(lake: Lake, rs: RowSet) -> RowSet:
    """`rs`, or the same ids' RowSet again when the table has changed since it was built."""
    return rs if lake.version(rs.table) == rs.version else row_set(lake, rs.table, rs.ids)


def rowset_search(lake: Lake, rs: RowSet, vector: np.ndarray, k: int,
                  exclude: set[str] | None = None) -> list[tuple[str, int, float]]:
    """Exact k nearest ids among the RowSet's rows (their matrix gathered once, kept on the RowSet)."""
    rows = table_rows(lake, rs.table)
    if rs.vectors is None:
        pos = rs.positions
        if rows.vectors is None and len(pos) > TAKE_MAX_ROWS:
            rows = table_rows(lake, rs.table, with_vectors=True)  # once per process and version
        if rows.vectors is not None:
            rs.vectors = np.take(rows.vectors, pos, axis=0)
        else:
            rs.vectors = np.ascontiguousarray(
                vectors_numpy(lake.dataset(rs.table).take(pos, columns=["vector"]).column("vector")), np.float32)
    q = np.asarray(vector, np.float32)
    return top_per_id(rows.ids, rows.chunks, rs.vectors @ q, rs.positions, k, exclude or set())


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


def flat_search(lake: Lake, vt: str, vector: np.ndarray, k: int,
                exclude: set[str] | None = None) -> list[tuple[str, int, float]]:
    """Exact k nearest ids over the whole in-memory table (a filter goes through `rowset_search`)."""
    rows = table_rows(lake, vt, with_vectors=True)
    return top_per_id(rows.ids, rows.chunks, rows.vectors @ np.asarray(vector, np.float32), None, k, exclude or set())
