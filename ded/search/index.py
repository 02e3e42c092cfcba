"""Indexes for search: IVF-PQ on vector tables past a size threshold, full-text on `questions.problem`.

Below `index_threshold` rows a flat scan is exact and fast (100k × 384 floats is ~150 MB, ~0.1 s), so no
ANN index is built; above it, IVF-PQ with cosine distance: √n partitions (LanceDB's documented default),
dim/8 sub-vectors of 8 bits (48 for MiniLM's 384: finer than the dim/16 default, measured in
bench/search.py for recall) and queries refine the PQ shortlist with exact distances (`refine_factor`).
New rows are folded into existing indexes with Lance's `optimize_indices` (no compaction, no pruning of
old versions: the lake's history stays intact); rows not yet indexed are still searched, flat.
The FTS index is an index on the `questions` table, which ingest owns: it adds no rows and changes none.
"""

from __future__ import annotations

import math

from ded.lake import Lake

VECTOR_COLUMN = "vector"


def _indices(lake: Lake, table: str) -> dict[str, dict]:
    """{column: {"name", "type"}} of a table's indexes."""
    out = {}
    for ix in lake.dataset(table).describe_indices():
        for f in ix.field_names or []:
            out[f] = {"name": ix.name, "type": str(ix.index_type)}
    return out


def has_vector_index(lake: Lake, table: str) -> bool:
    return lake.exists(table) and VECTOR_COLUMN in _indices(lake, table)


INDEX_KINDS = ("ivf_pq", "ivf_hnsw_sq", "ivf_sq", "ivf_rq", "ivf_flat")


def index_config(kind: str, n: int, dim: int, sub_vector_dim: int = 8):
    """The LanceDB index config of `kind` for n vectors of width dim (cosine distance)."""
    from lancedb import index as ix

    parts = max(1, int(math.sqrt(n)))  # √n partitions: LanceDB's documented default
    if kind == "ivf_pq":
        nsub = dim // sub_vector_dim if dim % sub_vector_dim == 0 else max(1, dim // 16)
        return ix.IvfPq(distance_type="cosine", num_partitions=parts, num_sub_vectors=nsub), \
            f"IVF_PQ ({parts} partitions, {nsub} sub-vectors)"
    if kind == "ivf_hnsw_sq":
        parts = max(1, n // 100_000)  # HNSW inside each partition: few, large partitions
        return ix.HnswSq(distance_type="cosine", num_partitions=parts), f"IVF_HNSW_SQ ({parts} partitions)"
    if kind == "ivf_sq":
        return ix.IvfSq(distance_type="cosine", num_partitions=parts), f"IVF_SQ ({parts} partitions)"
    if kind == "ivf_rq":
        return ix.IvfRq(distance_type="cosine", num_partitions=parts), f"IVF_RQ ({parts} partitions)"
    if kind == "ivf_flat":
        return ix.IvfFlat(distance_type="cosine", num_partitions=parts), f"IVF_FLAT ({parts} partitions)"
    raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {kind!r}")


def ensure_vector_index(lake: Lake, table: str, threshold: int = 50_000, sub_vector_dim: int = 8,
                        force: bool = False, kind: str = "ivf_pq") -> str:
    """Build the `kind` index once `table` has `threshold` rows, else fold new rows in. Returns what it did."""
    if not lake.exists(table):
        return "absent"
    n = lake.count(table)
    if has_vector_index(lake, table) and not force:
        lake.dataset(table).optimize.optimize_indices()
        return "updated"
    if n < threshold and not force:
        return f"flat ({n} rows < threshold {threshold})"
    dim = lake.dataset(table).schema.field(VECTOR_COLUMN).type.list_size
    config, what = index_config(kind, n, dim, sub_vector_dim)
    tbl = lake.lancedb().open_table(table)
    tbl.create_index(VECTOR_COLUMN, config=config, replace=True)
    return f"built {what}, {n} rows"


def ensure_fts_index(lake: Lake, table: str = "questions", column: str = "problem") -> str:
    from lancedb.index import FTS

    if not lake.exists(table):
        return "absent"
    if column in _indices(lake, table):
        lake.dataset(table).optimize.optimize_indices()
        return "updated"
    tbl = lake.lancedb().open_table(table)
    # English stemming and stop words: problem statements are English prose around LaTeX
    tbl.create_index(column, config=FTS(with_position=False, stem=True, remove_stop_words=True), replace=True)
    return "built FTS"
