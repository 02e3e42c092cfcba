"""`ded evaluate`: sample each model n times per benchmark item, grade, and write metrics with intervals.

    from ded.stages.evaluate import main
    main(params, lake)                       # every evaluate.models × evaluate.benchmarks
    evaluate_responses(lake, params, "aime24", "my-model", records)   # grade outputs made elsewhere

Protocol and choices: docs/evaluation.md. Outputs: `eval_samples` (one row per sample, graded),
`metrics/<benchmark>.json`, `receipts/evaluate.json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ded.backends import get_backend
from ded.backends.run_requests import done_fingerprints, run_requests
from ded.evaluation.results import run_entry, write_metrics
from ded.evaluation.runner import (
    EvalPlan,
    build_plan,
    grade_run,
    prompt_and_gold,
    row_maker,
    run_filter,
    sample_row,
    select_items,
)
from ded.ids import normalize_problem, stable_hash
from ded.lake import Lake, open_lake
from ded.receipts import write_receipt


def evaluated_specs(params: Any, models: list[str] | None = None) -> list[Any]:
    """ModelSpecs to evaluate: `models`, else evaluate.models, else the student; model_path overrides the id."""
    ep = params.evaluate
    names = models or ep.models or ([params.student.model] if params.student else [])
    if not names:
        raise ValueError("nothing to evaluate: set evaluate.models (names from `models`) or student.model")
    specs = [params.model(n) for n in names]
    if ep.model_path:
        specs[0] = specs[0].model_copy(update={"model": ep.model_path})
    return specs


def evaluate_model(params: Any, lake: Lake, spec: Any, benchmark: str, backend: Any = None,
                   regrade: bool = False) -> dict[str, Any]:
    """One model on one benchmark: generate what is missing, grade, write metrics; returns the metrics entry."""
    items, dropped, notes = select_items(lake, params, benchmark)
    plan = build_plan(params, spec, benchmark, items)
    plan.dropped, plan.notes = dropped, notes
    done = done_fingerprints(lake, "eval_samples", filter=run_filter(plan.run_id))
    todo = [r for r in plan.requests if r.key not in done]
    stats = None
    if todo:
        own = backend is None
        if own:
            backend = get_backend(spec)
        try:
            stats = run_requests(backend, todo, lake, "eval_samples", row_maker(plan), done=done,
                                 desc=f"evaluate {spec.name} on {benchmark}")
        finally:
            if own:
                backend.close()
    graded = grade_run(lake, plan, workers=params.evaluate.grade_workers, force=regrade)
    entry = run_entry(lake, plan, params)
    entry["this_run"] = {"generated": stats.generated if stats else 0, "skipped": len(plan.requests) - len(todo),
                         "errors": stats.errors if stats else 0, "graded": graded,
                         "tokens_per_s": round(stats.tokens_per_s, 1) if stats else None}
    write_metrics(params.evaluate.metrics_dir, benchmark, spec.name, entry)
    return entry


def main(params: Any, lake: Lake | None = None, models: list[str] | None = None,
         benchmarks: list[str] | None = None, regrade: bool = False, backend: Any = None) -> dict[str, dict]:
    """Evaluate every model on every benchmark; returns {benchmark: {model: metrics entry}}."""
    lake = lake or open_lake(params)
    names = benchmarks or params.evaluate.benchmarks or list(params.benchmarks)
    unknown = [b for b in names if b not in params.benchmarks]
    if unknown:
        raise ValueError(f"unknown benchmarks {unknown}; params.benchmarks has {sorted(params.benchmarks)}")
    if not names:
        raise ValueError("no benchmarks to evaluate: add them under `benchmarks` in params.yaml")
    out: dict[str, dict] = {}
    for spec in evaluated_specs(params, models):
        # one backend per model for all benchmarks: the weights load once (lazily, only if a sample is missing)
        be = backend or get_backend(spec)
        try:
            for b in names:
                out.setdefault(b, {})[spec.name] = evaluate_model(params, lake, spec, b, backend=be,
                                                                  regrade=regrade)
        finally:
            if backend is None:
                be.close()
    write_receipt("evaluate", lake, ["eval_samples", "benchmark_items"], params,
                  extra={"metrics": {b: {m: e["metrics"]["avg_at_n"] for m, e in ms.items()} for b, ms in out.items()}})
    return out


def evaluate_responses(lake: Lake, params: Any, benchmark: str, model: str, records: Iterable[dict],
                       label: str = "imported") -> dict[str, Any]:
    """Grade outputs produced elsewhere as evaluation samples of `model` on `benchmark`.

    Each record has `response` and either `item_id` or `problem` (matched on the normalized problem text),
    and optionally `sample_idx` (default: its position among the item's records). Records whose problem is
    not in the benchmark raise, naming a few. Returns the metrics entry (also written to metrics/).
    """
    items, dropped, notes = select_items(lake, params, benchmark)
    by_text = {normalize_problem(it["problem"]): it["item_id"] for it in items}
    ids = {it["item_id"] for it in items}
    run_id = "ev_" + stable_hash({"model": model, "benchmark": benchmark, "origin": label})
    plan = EvalPlan(model, label, benchmark, run_id, {"origin": label}, 0, params.evaluate.seed, items, {},
                    notes=notes, dropped=dropped)
    plan.golds = {it["item_id"]: prompt_and_gold(it, params.evaluate.seed)[1] for it in items}
    rows, seen, unmatched = [], {}, []
    for rec in records:
        iid = rec.get("item_id")
        iid = str(iid) if iid is not None and str(iid) in ids else by_text.get(normalize_problem(rec.get("problem") or ""))
        if iid is None:
            unmatched.append((rec.get("problem") or str(rec.get("item_id")))[:60])
            continue
        idx = rec.get("sample_idx")
        idx = seen.get(iid, 0) if idx is None else int(idx)
        seen[iid] = max(seen.get(iid, 0), idx + 1)
        rows.append(sample_row(plan, iid, idx, rec["response"], n_tokens=rec.get("n_tokens"),
                               finish_reason=rec.get("finish_reason") or "imported",
                               fp="fp_" + stable_hash({"run": run_id, "item": iid, "i": idx}, n=24)))
    if unmatched:
        raise ValueError(f"{len(unmatched)} records match no item of {benchmark} (e.g. {unmatched[:3]}); "
                         "give item_id or the benchmark's problem text")
    plan.n = max(seen.values(), default=0)
    lake.merge("eval_samples", rows)
    grade_run(lake, plan, workers=params.evaluate.grade_workers)
    entry = run_entry(lake, plan, params)
    write_metrics(params.evaluate.metrics_dir, benchmark, model, entry)
    return entry
