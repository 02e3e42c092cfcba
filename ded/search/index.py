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


def ensure_vector_index(lake: Lake, table: str, threshold: int = 50_000, sub_vector_dim: int = 8,
                        force: bool = False) -> str:
    """Build the IVF-PQ index once `table` has `threshold` rows, else fold new rows in. Returns what it did."""
    from lancedb.index import IvfPq

    if not lake.exists(table):
        return "absent"
    n = lake.count(table)
    if has_vector_index(lake, table) and not force:
        lake.dataset(table).optimize.optimize_indices()
        return "updated"
    if n < threshold and not force:
        return f"flat ({n} rows < threshold {threshold})"
    dim = lake.dataset(table).schema.field(VECTOR_COLUMN).type.list_size
    nsub = dim // sub_vector_dim if dim % sub_vector_dim == 0 else max(1, dim // 16)
    parts = max(1, int(math.sqrt(n)))
    tbl = lake.lancedb().open_table(table)
    tbl.create_index(VECTOR_COLUMN, config=IvfPq(distance_type="cosine", num_partitions=parts,
                                                 num_sub_vectors=nsub), replace=True)
    return f"built IVF_PQ ({parts} partitions, {nsub} sub-vectors, {n} rows)"


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
