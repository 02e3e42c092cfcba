"""Exporting a lake table (at a version) to Parquet or JSONL, streaming in batches."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from ded.lake import Lake, LakeError


def export_table(lake: Lake, table: str, fmt: str, output: str | Path, version: int | None = None) -> int:
    if fmt not in ("parquet", "jsonl"):
        raise LakeError(f"--format must be parquet or jsonl, got {fmt!r}")
    ds = lake.dataset(table, version)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if fmt == "parquet":
        with pq.ParquetWriter(out, ds.schema) as w:
            for b in ds.to_batches(batch_size=8192):
                w.write_batch(b)
                n += b.num_rows
        return n
    with out.open("w") as f:
        for b in ds.to_batches(batch_size=8192):
            for r in b.to_pylist():
                f.write(json.dumps(r, default=str, ensure_ascii=False) + "\n")
            n += b.num_rows
    return n
