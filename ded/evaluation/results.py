"""Metrics of an evaluation run and the `metrics/<benchmark>.json` files.

One file per benchmark holds every evaluated model under `models.<name>` (DVC flattens the nesting), each
with avg@n, pass@k and their bootstrap intervals over items, per-difficulty scores where items have a
difficulty (LiveCodeBench), the grading profile (statuses, truncated, unclosed), the caveats, and the protocol:
model id, sampling, n, seed and the library versions that produced the numbers.
"""

from __future__ import annotations

import json
import math
import os
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from ded.evaluation import livecodebench as lcb
from ded.evaluation.metrics import group_verdicts, summarize
from ded.lake import Lake, now
from ded.sql import connect, run_sql_file

LIBRARIES = ("ded", "torch", "transformers", "vllm", "math-verify", "pylance", "duckdb", "numpy")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib_metadata.version(lib)
        except importlib_metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def run_entry(lake: Lake, plan: Any, params: Any) -> dict[str, Any]:
    """The metrics of one run (one model on one benchmark), from its graded samples in the lake."""
    ep = params.evaluate
    con = connect(lake)
    try:
        rows = run_sql_file(con, "evaluate/run_verdicts", run_id=plan.run_id, n=plan.n).to_pylist()
        profile = run_sql_file(con, "evaluate/run_profile", run_id=plan.run_id, n=plan.n).to_pylist()
    finally:
        con.close()
    wanted = {it["item_id"] for it in plan.items}
    rows = [r for r in rows if r["item_id"] in wanted]
    verdicts = group_verdicts(rows)
    summary = summarize(verdicts, ks=ep.ks, level=ep.ci_level, n_boot=ep.bootstrap, seed=ep.seed)
    entry: dict[str, Any] = {
        "run_id": plan.run_id, "model_id": plan.model_id, "n": plan.n, "seed": plan.seed,
        "sampling": plan.sampling, "metrics": summary.as_dict(),
        "missing_samples": len(plan.items) * plan.n - len(rows),
        "grading": {p["status"]: {k: p[k] for k in ("samples", "truncated", "unclosed_reasoning")} for p in profile},
        "mean_tokens": _mean_tokens(profile),
        "notes": list(plan.notes), "dropped_items": dict(plan.dropped),
        "versions": library_versions(), "evaluated_at": now().isoformat(),
    }
    diffs = {it["item_id"]: lcb.difficulty_of(it) for it in plan.items}
    if any(diffs.values()):
        entry["by_difficulty"] = {}
        for d in sorted({d for d in diffs.values() if d}):
            sub = {k: v for k, v in verdicts.items() if diffs.get(k) == d}
            s = summarize(sub, ks=[1], level=ep.ci_level, n_boot=ep.bootstrap, seed=ep.seed)
            entry["by_difficulty"][d] = {"items": s.items, "avg_at_n": s.avg_at_n, "avg_at_n_ci": s.avg_at_n_ci}
    if entry["missing_samples"]:
        entry["notes"].append(f"{entry['missing_samples']} of {len(plan.items) * plan.n} samples missing "
                              "(generation errors or an interrupted run): rerun `ded evaluate` to fill them")
    return entry


def _mean_tokens(profile: list[dict]) -> float | None:
    num = sum((p["mean_tokens"] or 0) * p["samples"] for p in profile if p["mean_tokens"] is not None)
    den = sum(p["samples"] for p in profile if p["mean_tokens"] is not None)
    return num / den if den else None


def write_metrics(metrics_dir: str | Path, benchmark: str, model: str, entry: dict[str, Any]) -> Path:
    """Merge `entry` under models.<model> of metrics/<benchmark>.json (written atomically)."""
    path = Path(metrics_dir) / f"{benchmark}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc.setdefault("benchmark", benchmark)
    doc.setdefault("models", {})[model] = entry
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_finite(doc), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def _finite(o: Any) -> Any:
    """NaN (no decided sample) becomes null: JSON has no NaN, and DVC and browsers reject it."""
    if isinstance(o, float) and math.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o
