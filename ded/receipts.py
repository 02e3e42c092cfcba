"""Stage receipts: the small files DVC tracks instead of the lake.

Lance keeps the lake's history; DVC only needs to know that a stage ran and against what.
A receipt records the tables a stage wrote with their Lance versions and row counts, and the
params hash, so `dvc repro` can chain stages without copying gigabytes of tables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ded.lake import Lake, now

RECEIPTS_DIR = "receipts"


def receipt_path(stage: str, directory: str | os.PathLike = RECEIPTS_DIR) -> Path:
    return Path(directory) / f"{stage}.json"


def build_receipt(stage: str, lake: Lake, tables: list[str], params: Any = None,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    info = {}
    for t in tables:
        info[t] = {"version": lake.version(t), "rows": lake.count(t)}
    rec = {"stage": stage, "lake": lake.root, "tables": info, "written_at": now().isoformat()}
    if params is not None:
        rec["params_hash"] = params.hash() if hasattr(params, "hash") else str(params)
    if extra:
        rec.update(extra)
    return rec


def write_receipt(stage: str, lake: Lake, tables: list[str], params: Any = None,
                  extra: dict[str, Any] | None = None, directory: str | os.PathLike = RECEIPTS_DIR) -> Path:
    """Write `receipts/<stage>.json` atomically (write then rename) and return its path."""
    rec = build_receipt(stage, lake, tables, params, extra)
    p = receipt_path(stage, directory)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, p)
    return p


def read_receipt(stage: str, directory: str | os.PathLike = RECEIPTS_DIR) -> dict[str, Any] | None:
    p = receipt_path(stage, directory)
    return json.loads(p.read_text()) if p.exists() else None


def current_selection_run(lake: Lake, directory: str | os.PathLike = RECEIPTS_DIR) -> str | None:
    """The selection run that made the corpus on disk: `receipts/select.json`'s run_id, if that run is in
    this lake. DVC can restore `select` from its run cache without rerunning it, so "the newest run in the
    lake" may not be the corpus's run; report and explain default to this one."""
    rec = read_receipt("select", directory)
    run = (rec or {}).get("run_id")
    if not run or not lake.exists("selection"):
        return None
    if os.path.abspath(str(rec.get("lake", lake.root))) != os.path.abspath(lake.root):
        return None
    return run if lake.count("selection", f"run_id = '{run.replace(chr(39), '')}'") else None
