"""`ded ablate`: does a selection train the student better than random, and by how much? (docs/ablation.md)

An arm is (recipe, budget, seed, teacher). `run_arm` runs one through the pipeline's own stages:
`ded select` (ded/stages/select.py, the arm's own run_id in `selection`, its corpus under
`ablate/<arm>/corpus`, its receipt in its folder: the pipeline's corpus/ and receipts/ are untouched) →
`ded sft` machinery (ded.training, `sft` with `ablate.sft` on top, the model under `ablate/<arm>/model`) →
`ded evaluate` machinery (evaluate_model, `evaluate` with `ablate.evaluate` on top, under the label
`ablate:<arm>:<sft run key>` so its eval_samples stay apart) → `ablate/<arm>/result.json` with the
per-item scores. The stage ablations `ded-teacher`, `ded-correct`, `ded-compression` are the ded recipe cut
after that step (`select.stage`), at the same budget.

`aggregate` reads every arm of the params' matrix and writes the lake table `ablations` (one row per arm x
benchmark), `metrics/ablate.json` (arms, per-recipe curves, and for every recipe and budget the paired
bootstrap difference against the baseline `random` at the same budget, teacher and seeds: per item the
difference of the two arms' scores averaged over the shared seeds, items resampled with replacement) and
an SVG of accuracy against corpus size per recipe with interval bands.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ded.backends import get_backend
from ded.errors import DedError
from ded.evaluation.metrics import group_verdicts
from ded.ids import stable_hash
from ded.lake import now, open_lake
from ded.report.svg import ablation_svg
from ded.sql import connect
from ded.stages import select as select_stage
from ded.stages.evaluate import evaluate_model, evaluated_specs
from ded.stages.select import INPUTS
from ded.stages.sft import sft_params
from ded.stages.smoke import _score
from ded.training.base import base_model

log = logging.getLogger(__name__)

STAGE_ARMS = {"ded-teacher": "teacher", "ded-correct": "correct", "ded-compression": "compression", "ded": "diverse"}
# the paper's Table 3 order: each row adds one step to the one before
STAGE_ORDER = ["ded-teacher", "ded-correct", "ded-compression", "ded"]


class AblateError(DedError):
    """The ablation cannot run or aggregate; the message says what to run or set."""


def arm_name(recipe: str, budget: int, seed: int, teacher: str, objective: str = "plain") -> str:
    """The arm's name: its folder and DVC stage suffix (pipelines/ablate/dvc.yaml builds the same string), plus
    `-<objective>` for a non-plain SFT objective (run by the same DVC stage, in a subfolder: `arm_dir`)."""
    base = f"{recipe}-{int(budget)}-{int(seed)}-{teacher}"
    return base if objective in ("plain", "sft") else f"{base}-{objective}"


def arm_dir(params: Any, recipe: str, budget: int, seed: int, teacher: str, objective: str = "plain") -> Path:
    """`<out_dir>/<recipe-budget-seed-teacher>/`, and its `<objective>/` subfolder for a non-plain objective."""
    out = Path(params.ablate.out_dir) / arm_name(recipe, budget, seed, teacher)
    return out if objective in ("plain", "sft") else out / objective


def arms(params: Any) -> list[dict[str, Any]]:
    """Every arm of the matrix ablate.recipes x budgets x seeds x teachers x objectives, in that order."""
    ab = params.ablate
    out = []
    for r in ab.recipes:
        for b in ab.budgets:
            for s in ab.seeds:
                for t in ab.teachers:
                    for o in ab.objectives:
                        out.append({"arm": arm_name(r, b, s, t, o), "recipe": r, "budget": int(b), "seed": int(s),
                                    "teacher": t, "objective": o})
    names = [a["arm"] for a in out]
    if len(set(names)) != len(names):
        raise AblateError("ablate.recipes, budgets, seeds and teachers repeat a value: every arm must be unique")
    return out


def arm_params(params: Any, recipe: str, budget: int, seed: int, teacher: str, out: Path,
               objective: str = "plain") -> Any:
    """The arm's params: the profile's, with the arm's selection, its folders, the ablate overrides and its SFT
    objective."""
    ab = params.ablate
    base, stage = ("ded", STAGE_ARMS[recipe]) if recipe in STAGE_ARMS else (recipe, "diverse")
    for name, over, section in (("select", ab.select, params.select), ("evaluate", ab.evaluate, params.evaluate)):
        unknown = set(over) - set(type(section).model_fields)
        if unknown:
            raise AblateError(f"unknown {name} setting(s) {sorted(unknown)} in ablate.{name}; see ded/params.py "
                              f"{type(section).__name__}")
    export = params.select.export.model_copy(update={"out_dir": str(out / "corpus"), "hf_dataset": False})
    sel = params.select.model_validate({**params.select.model_dump(), **ab.select, "recipe": base, "stage": stage, "budget": budget,
                                        "seed": seed, "teacher": teacher, "export": export.model_dump()})
    p = params.model_copy(update={"select": sel})
    sft = sft_params(p, **{**ab.sft, "corpus": str(out / "corpus" / "train.jsonl"), "output_dir": str(out / "model"),
                           "metrics_dir": str(out / "metrics" / "sft"),
                           "checkpoint_dir": str(Path("checkpoints") / "ablate" /
                                                 arm_name(recipe, budget, seed, teacher, objective)),
                           "seed": seed, "objective": "plain" if objective == "sft" else objective})
    ev = params.evaluate.model_validate({**params.evaluate.model_dump(), **ab.evaluate,
                                         "model_path": str(out / "model"),
                                         "metrics_dir": str(out / "metrics" / "eval"),
                                         "seed": int(ab.evaluate.get("seed", params.evaluate.seed)) + seed})
    return p.model_copy(update={"sft": sft, "evaluate": ev}), base, stage


def arm_hash(p: Any, lake: Any) -> str:
    """What determines an arm's result (not where it is written): its settings and the versions of the tables
    its selection reads. `ded ablate` reruns an arm when it changes (DVC decides by the stage's deps)."""
    return stable_hash({"params": p.hash("select", "score", "student", "models", "benchmarks", "prompts", "sft",
                                         "evaluate"), "inputs": lake.versions(INPUTS)})


def _corpus_stats(lake: Any, run_id: str) -> dict[str, Any]:
    """Rows, questions and response tokens of the run's kept rows (trajectories.n_tokens, else the score stage's
    count or estimate, trajectory_scores.n_tokens, which select's max_tokens filter reads)."""
    con = connect(lake)
    try:
        r = con.execute(
            "SELECT count(*), count(DISTINCT s.question_id), sum(coalesce(t.n_tokens, ts.n_tokens)) FROM selection s "
            "JOIN trajectories t USING (trajectory_id) LEFT JOIN trajectory_scores ts USING (trajectory_id) "
            "WHERE s.run_id = $run AND s.kept", {"run": run_id}).fetchone()
    finally:
        con.close()
    return {"rows": int(r[0]), "questions": int(r[1]), "tokens": int(r[2]) if r[2] is not None else None}


def _item_scores(lake: Any, run_id: str) -> dict[str, list[int]]:
    """{item_id: [correct, decided]} of an evaluation run (undecided samples left out, as avg@n does)."""
    t = lake.read("eval_samples", columns=["item_id", "sample_idx", "correct"], filter=f"run_id = '{run_id}'")
    out = {}
    for item, vs in group_verdicts(t.to_pylist()).items():
        decided = [v for v in vs if v is not None]
        out[item] = [int(sum(decided)), len(decided)]
    return out


def run_arm(params: Any, lake: Any, recipe: str, budget: int, seed: int, teacher: str = "auto",
            train: bool | None = None, objective: str = "plain") -> dict[str, Any]:
    """Select, fine-tune (with `objective`) and evaluate one arm; writes and returns its result.json."""
    ab = params.ablate
    train = ab.train if train is None else train
    name = arm_name(recipe, budget, seed, teacher, objective)
    out = arm_dir(params, recipe, budget, seed, teacher, objective)
    if out.exists():
        shutil.rmtree(out)  # a rerun replaces the arm (DVC deletes it too): no stale model or metrics
    out.mkdir(parents=True)
    p, base, stage = arm_params(params, recipe, budget, seed, teacher, out, objective)
    t0 = time.perf_counter()
    man = select_stage.main(p, lake, receipt_dir=str(out))
    select_s = time.perf_counter() - t0
    result: dict[str, Any] = {
        "arm": name, "recipe": recipe, "base_recipe": base, "stage": stage if base == "ded" else None,
        "budget": budget, "seed": seed, "teacher": teacher, "teachers_chosen": man["teacher"]["chosen"],
        "teacher_metric": man["teacher"]["metric"], "objective": p.sft.objective,
        "corpus": {**_corpus_stats(lake, man["run_id"]), "run_id": man["run_id"], "shortfall": man.get("shortfall"),
                   "train_jsonl_sha256": man["train_jsonl_sha256"], "by_domain": man["by_domain"],
                   "dir": str(out / "corpus")},
        "steps": man["steps"], "trained": bool(train), "benchmarks": {}, "params_hash": arm_hash(p, lake),
        "seconds": {"select": round(select_s, 3)},
    }
    if train:
        # lazy: torch and transformers (ded.training.run imports ded.training.callbacks)
        from ded.training.run import train_objective

        basem = base_model(p, p.sft)
        t1 = time.perf_counter()
        tm = train_objective(p, p.sft, basem, lake=lake, desc=f"ablate {name}")
        result["sft"] = {k: tm.get(k) for k in ("steps", "final_loss", "first_loss", "tokens", "seconds",
                                                   "tokens_per_second", "run_key", "rows")}
        if "t3s" in tm:  # the pilot curve, bottleneck, anchor share and the objective's cost
            result["t3s"] = tm["t3s"]
        result["seconds"]["sft"] = round(time.perf_counter() - t1, 3)
        label = f"ablate:{name}:{tm['run_key'][:8]}"
        spec = evaluated_specs(p)[0].model_copy(update={"name": label})
        names = p.evaluate.benchmarks or list(p.benchmarks)
        t2 = time.perf_counter()
        be = get_backend(spec)
        try:
            for b in names:
                entry = evaluate_model(p, lake, spec, b, backend=be)
                score, items, _, _ = _score(entry)  # the interval is read from the metrics below
                ci = (entry.get("metrics") or {}).get("avg_at_n_ci") or [None, None]
                result["benchmarks"][b] = {
                    "avg_at_n": score, "ci": [_num(ci[0]), _num(ci[1])], "items": items,
                    "samples_per_item": (entry.get("metrics") or {}).get("samples_per_item"),
                    "eval_run": entry["run_id"], "label": label, "per_item": _item_scores(lake, entry["run_id"])}
        finally:
            be.close()
        result["seconds"]["evaluate"] = round(time.perf_counter() - t2, 3)
        if not ab.keep_models:
            shutil.rmtree(out / "model", ignore_errors=True)
    result["seconds"]["total"] = round(time.perf_counter() - t0, 3)
    _write_json(out / "result.json", result)
    return result


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")
    os.replace(tmp, path)


# -- aggregate -------------------------------------------------------------------------------------------
def load_results(params: Any, allow_missing: bool = False) -> list[dict[str, Any]]:
    """Every arm's result.json of the params' matrix; a missing arm is an error naming how to run it."""
    got, missing = [], []
    for a in arms(params):
        f = arm_dir(params, a["recipe"], a["budget"], a["seed"], a["teacher"], a["objective"]) / "result.json"
        if f.exists():
            got.append(json.loads(f.read_text()))
        else:
            missing.append(a)
    if missing and not allow_missing:
        eg = missing[0]
        raise AblateError(f"{len(missing)} of {len(got) + len(missing)} arms have no result yet (e.g. {eg['arm']}): run "
                          f"`dvc repro pipelines/ablate/dvc.yaml`, `ded ablate`, or `ded ablate arm --recipe {eg['recipe']} "
                          f"--budget {eg['budget']} --seed {eg['seed']} --teacher {eg['teacher']} --objective {eg['objective']}`")
    return got


def table_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `ablations` rows: one per arm x benchmark (one with benchmark null for an arm not trained)."""
    at = now()
    rows = []
    for r in results:
        c, sft, sec = r["corpus"], r.get("sft") or {}, r.get("seconds") or {}
        common = {"arm": r["arm"], "recipe": r["recipe"], "stage": r.get("stage"), "budget": r["budget"],
                  "seed": r["seed"], "teacher": r["teacher"], "objective": _objective(r),
                  "corpus_rows": c["rows"], "corpus_questions": c["questions"], "corpus_tokens": c["tokens"],
                  "sft_tokens_per_s": sft.get("tokens_per_second"), "sft_wall_s": sec.get("sft"),
                  "eval_wall_s": sec.get("evaluate"), "wall_s": sec.get("total"), "selection_run": c["run_id"],
                  "teachers_chosen": ",".join(r.get("teachers_chosen") or []), "ablated_at": at}
        if not r["benchmarks"]:
            rows.append({**common, "benchmark": None})
        for b, m in sorted(r["benchmarks"].items()):
            rows.append({**common, "benchmark": b, "avg_at_n": m["avg_at_n"], "ci_low": m["ci"][0],
                         "ci_high": m["ci"][1], "items": m["items"], "samples_per_item": m.get("samples_per_item"),
                         "eval_run": m["eval_run"]})
    return rows


def _objective(r: dict[str, Any]) -> str:
    o = r.get("objective") or "plain"
    return "plain" if o == "sft" else o  # results written before objectives existed say "sft"


def _matrix(results: list[dict[str, Any]], bench: str) -> tuple[list[str], dict[int, np.ndarray]]:
    """(items shared by every arm, {seed: per-item score vector}) of a group of arms (one per seed)."""
    per = {r["seed"]: r["benchmarks"][bench]["per_item"] for r in results if bench in r["benchmarks"]}
    items = sorted(set.intersection(*[{i for i, (c, n) in v.items() if n} for v in per.values()])) if per else []
    return items, {s: np.array([v[i][0] / v[i][1] for i in items], dtype=float) for s, v in per.items()}


def paired_diff(a: list[dict[str, Any]], b: list[dict[str, Any]], bench: str, n_boot: int, level: float,
                seed: int = 0) -> dict[str, Any] | None:
    """Arms `a` minus arms `b` on `bench`, paired by seed and by item: d_i = mean over shared seeds of
    (score_a[s, i] - score_b[s, i]); diff = mean_i d_i; the interval is the percentile bootstrap of that
    mean, resampling items with replacement (seed-averaging first, so every resample keeps the pairing)."""
    ia, ma = _matrix(a, bench)
    ib, mb = _matrix(b, bench)
    seeds = sorted(set(ma) & set(mb))
    items = sorted(set(ia) & set(ib))
    if not seeds or not items:
        return None
    pa_, pb_ = {i: k for k, i in enumerate(ia)}, {i: k for k, i in enumerate(ib)}
    xa = np.array([[ma[s][pa_[i]] for i in items] for s in seeds])
    xb = np.array([[mb[s][pb_[i]] for i in items] for s in seeds])
    d = (xa - xb).mean(axis=0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return {"diff": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi), "seeds": seeds, "items": len(items),
            "a": float(xa.mean()), "b": float(xb.mean())}


def curve_point(group: list[dict[str, Any]], bench: str, n_boot: int, level: float, seed: int = 0) -> dict | None:
    """A recipe's accuracy at one budget over its seeds: per item the seed mean, its item-bootstrap interval."""
    items, m = _matrix(group, bench)
    if not items or not m:
        return None
    x = np.mean([m[s] for s in sorted(m)], axis=0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return {"avg_at_n": float(x.mean()), "ci_low": float(lo), "ci_high": float(hi), "seeds": sorted(m),
            "items": len(items), "corpus_rows": float(np.mean([r["corpus"]["rows"] for r in group]))}


def summarize(params: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
    """metrics/ablate.json: arms, curves per recipe and the paired comparisons."""
    ab = params.ablate
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["recipe"], r["budget"], r["teacher"], _objective(r)), []).append(r)
    benches = sorted({b for r in results for b in r["benchmarks"]})
    comparisons, curves = [], []
    for (recipe, budget, teacher, objective), g in sorted(groups.items()):
        # a non-plain objective's curve is its own series, `recipe+objective`
        label = recipe if objective == "plain" else f"{recipe}+{objective}"
        for bench in benches:
            pt = curve_point(g, bench, ab.bootstrap, ab.ci_level)
            if pt:
                curves.append({"recipe": label, "budget": budget, "teacher": teacher, "objective": objective,
                               "benchmark": bench, **pt})
            vs = [(ab.baseline, objective)] if recipe != ab.baseline else []
            if recipe in STAGE_ORDER and STAGE_ORDER.index(recipe) > 0:
                vs.append((STAGE_ORDER[STAGE_ORDER.index(recipe) - 1], objective))  # the Table 3 increment
            if objective != "plain":
                vs.append((recipe, "plain"))  # the objective's effect on the same selection
            for other, other_obj in vs:
                og = groups.get((other, budget, teacher, other_obj))
                if not og:
                    continue
                d = paired_diff(g, og, bench, ab.bootstrap, ab.ci_level)
                if d:
                    comparisons.append({"recipe": recipe, "vs": other, "budget": budget, "teacher": teacher,
                                        "objective": objective, "vs_objective": other_obj, "benchmark": bench, **d})
    arms_out = [{k: v for k, v in row.items() if k != "ablated_at"} for row in table_rows(results)]
    epochs = float(params.ablate.sft.get("epochs", params.sft.epochs))
    corpus_tokens = sum(r["corpus"]["tokens"] or 0 for r in results)
    cost = {"sft_runs": len(results), "corpus_tokens": corpus_tokens, "epochs": epochs,
            # what a run without --no-train trains on (response tokens; prompts and template add a little)
            "sft_tokens_estimate": int(corpus_tokens * epochs),
            "sft_tokens_trained": sum((r.get("sft") or {}).get("tokens") or 0 for r in results) or None,
            "sft_seconds": round(sum((r.get("seconds") or {}).get("sft") or 0 for r in results), 1) or None,
            "eval_seconds": round(sum((r.get("seconds") or {}).get("evaluate") or 0 for r in results), 1) or None,
            "by_objective": objective_cost(results)}
    return {"method": "paired bootstrap over benchmark items of seed-averaged per-item differences "
                      "(docs/ablation.md)", "baseline": ab.baseline, "ci_level": ab.ci_level,
            "bootstrap": ab.bootstrap, "cost": cost, "comparisons": comparisons, "curves": curves, "arms": arms_out}


def objective_cost(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per SFT objective, what its arms spent: SFT-stage seconds (for t3s/rrt: pilot run, accuracy sampling on
    the training questions, the two confidence passes, the final run) and the extra work. t3s and rrt arms of
    one selection share the pilot and its curve (ded.training.t3s caches them by run key): the arm that ran
    second reports them as cached (0 s)."""
    out: dict[str, Any] = {}
    for r in results:
        if not r.get("trained"):
            continue
        o = out.setdefault(_objective(r), {"arms": 0, "sft_seconds": 0.0, "pilot_seconds": 0.0,
                                           "accuracy_seconds": 0.0, "mask_seconds": 0.0, "final_seconds": 0.0,
                                           "accuracy_samples": 0, "confidence_forward_tokens": 0,
                                           "anchor_share": []})
        o["arms"] += 1
        o["sft_seconds"] += (r.get("seconds") or {}).get("sft") or 0.0
        t = r.get("t3s") or {}
        o["pilot_seconds"] += t.get("pilot_seconds_this_run") or 0.0
        o["accuracy_seconds"] += t.get("accuracy_seconds_this_run") or 0.0
        o["accuracy_samples"] += t.get("accuracy_samples_generated") or 0
        m = t.get("masks") or {}
        o["mask_seconds"] += m.get("seconds") or 0.0
        o["confidence_forward_tokens"] += m.get("forward_tokens") or 0
        o["final_seconds"] += t.get("final_seconds") or 0.0
        if m.get("anchor_share") is not None:
            o["anchor_share"].append(m["anchor_share"])
    for o in out.values():
        share = o.pop("anchor_share")
        o["anchor_share_mean"] = sum(share) / len(share) if share else None
        o["sft_seconds_per_arm"] = round(o["sft_seconds"] / o["arms"], 2) if o["arms"] else None
        for k in ("sft_seconds", "pilot_seconds", "accuracy_seconds", "mask_seconds", "final_seconds"):
            o[k] = round(o[k], 2)
    return out


def aggregate(params: Any, lake: Any) -> dict[str, Any]:
    """The `ablations` table, metrics/ablate.json and the SVG from every arm's result.json."""
    ab = params.ablate
    results = load_results(params)
    rows = table_rows(results)
    lake.overwrite("ablations", rows)
    summary = summarize(params, results)
    _write_json(Path(ab.metrics), summary)
    svg_path = None
    if summary["curves"]:
        svg_path = Path(ab.svg)
        svg_path.parent.mkdir(parents=True, exist_ok=True)
        svg_path.write_text(ablation_svg(summary), encoding="utf-8")
    return {**summary, "svg": str(svg_path) if svg_path else None, "rows": len(rows)}


def main(params: Any, lake: Any = None, train: bool | None = None, only: list[str] | None = None,
         force: bool = False) -> dict[str, Any]:
    """Run every arm of the matrix that has no result yet (all with `force`), then aggregate."""
    lake = lake or open_lake(params)
    train = params.ablate.train if train is None else train
    if train != params.ablate.train:
        params = params.model_copy(update={"ablate": params.ablate.model_copy(update={"train": train})})
    todo = [a for a in arms(params) if not only or a["arm"] in only]  # plain before the objectives it holds
    if only and len(todo) != len(set(only)):
        raise AblateError(f"unknown arm(s) {sorted(set(only) - {a['arm'] for a in todo})}; arms: "
                          f"{[a['arm'] for a in arms(params)][:8]}…")
    ran, reused = [], []
    for a in todo:
        f = arm_dir(params, a["recipe"], a["budget"], a["seed"], a["teacher"], a["objective"]) / "result.json"
        if f.exists() and not force:
            done = json.loads(f.read_text())
            p, _, _ = arm_params(params, a["recipe"], a["budget"], a["seed"], a["teacher"], f.parent, a["objective"])
            if done.get("trained") == train and done.get("params_hash") == arm_hash(p, lake):
                reused.append(a["arm"])
                continue
        run_arm(params, lake, a["recipe"], a["budget"], a["seed"], a["teacher"], train=train, objective=a["objective"])
        ran.append(a["arm"])
    return {**aggregate(params, lake), "ran": ran, "reused": reused}
