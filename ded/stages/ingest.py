"""The ingest stage: the sources in params `ingest.sources` → the lake, plus receipts/ingest.json.

`ded ingest` with no paths (the dvc.yaml stage) runs `main`; `ded ingest PATH...` is the ad-hoc tool
(ded.ingest.ingest_paths directly, no receipt: the pipeline does not depend on what it added).
"""

from __future__ import annotations

from typing import Any

from ded.errors import DedError
from ded.ingest import ingest_paths
from ded.ingest.core import IngestReport
from ded.lake import Lake, open_lake
from ded.receipts import write_receipt

TABLES = ["questions", "trajectories", "verdicts", "rejects"]


class NoSources(DedError):
    """`ded ingest` with no paths and nothing in `ingest.sources`."""


def main(params: Any, lake: Lake | None = None, strict: bool = False) -> IngestReport:
    """Ingest every source of `params.ingest.sources` (in order) and write the stage's receipt.

    Questions are counted once per run, not per source (a question named by several sources is "inserted"
    once). With `strict` (or `ingest.strict`) the first bad record raises StrictReject and writes nothing
    for that source.
    """
    lake = lake or open_lake(params)
    cfg = params.ingest
    if not cfg.sources:
        raise NoSources("no paths given and params `ingest.sources` is empty; "
                        "e.g. ded ingest data/pool.jsonl --kind questions, or list sources in params.yaml")
    report, touched = IngestReport(), set()
    for s in cfg.sources:
        report.merge(ingest_paths(lake, [s.path], s, strict=strict or cfg.strict, batch_rows=cfg.batch_rows,
                                  max_field_bytes=cfg.max_field_bytes, touched=touched))
    write_receipt("ingest", lake, TABLES, params, extra={"params_hash_ingest": params.hash("ingest")})
    return report
