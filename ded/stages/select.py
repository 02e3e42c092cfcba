"""`ded select`: run a recipe over the scored lake → `selection` rows and the corpus in `corpus/`.

1. candidates: every non-student trajectory with its trajectory and question scores
   (sql/select/candidates.sql);
2. teacher choice (`select.teacher`: auto | NAME | all), ranked from model_scores;
3. the recipe's chain of named steps (ded/selectors), every row ending kept or dropped_by a step;
4. `selection` gets every candidate (kept, dropped_by, rank, reasons JSON with every filter and
   score, params hash, input table versions) under a `run_id` that hashes the params and the input
   table versions, so a rerun with nothing changed writes nothing new;
5. the corpus export (ded/corpus.py) and `corpus/manifest.json`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ded.corpus import write_corpus
from ded.errors import DedError
from ded.ids import stable_hash
from ded.lake import Lake, now, open_lake
from ded.params import with_overrides
from ded.receipts import write_receipt
from ded.selectors import recipes
from ded.selectors.blocks import (
    ChainResult,
    SelectionContext,
    domain_filter,
    pass_col,
    run_chain,
)
from ded.selectors.budget import quotas
from ded.selectors.teacher import (
    accuracy_fallback_warning,
    choose_teachers,
    rank_teachers,
)
from ded.sql import connect, run_sql_file

log = logging.getLogger(__name__)

INPUTS = ["questions", "trajectories", "trajectory_scores", "question_scores", "model_scores",
          "question_vectors", "smoke_results"]
# a row's reasons.scores in `selection`: the scores every recipe sees, then each recipe's own (its `scores`)
SHARED_SCORE_COLUMNS = ["correct", "verifier", "format_ok", "finished", "n_tokens", "contaminated", "contaminated_by",
                        "benchmark_near_duplicate", "near_duplicate_of",
                        "is_duplicate", "student_pass_rate", "teacher_pass_rate", "n_models_correct", "agreement",
                        "answer_entropy", "band"]
SCORE_COLUMNS = SHARED_SCORE_COLUMNS + [c for c in recipes.score_columns() if c not in SHARED_SCORE_COLUMNS]

# Part of every run_id: bump it when a fix changes what a recipe picks from the same params and
# inputs, so the rerun writes its own rows instead of finding the old run "already in the lake".
# 2: farthest-P no longer picks one trajectory twice when a question's traces are identical.
# 3: farthest-P never keeps two copies (distance <= select.min_lev_dist) of one question's trace,
#    also in questions with <= P survivors; the budget fills from other questions.
# 4: s1k keeps only the domains of select.domain_mix (it kept every domain).
ALGORITHM_VERSION = 4


class SelectError(DedError):
    """Selection cannot proceed; the message says what to run or set."""


@dataclass
class Selection:
    run_id: str
    recipe: str
    result: ChainResult
    teachers: list[str]
    teacher_metric: str
    ranking: list[dict[str, Any]]
    input_versions: dict[str, int | None]
    params_hash: str
    ctx: SelectionContext = field(default_factory=SelectionContext)
    teacher_warning: str | None = None  # auto fell back to accuracy: no student signal


def run_id_for(params: Any, versions: dict[str, int | None]) -> tuple[str, str]:
    """(run_id, params hash): what determines the selection, not where the corpus is written
    (`select.export` only shapes the files, so it stays out of both hashes)."""
    d = params.model_dump(mode="json")
    d["select"].pop("export", None)
    phash = stable_hash({k: d.get(k) for k in ("select", "score", "student", "prompts")})
    return "sel_" + stable_hash({"params": phash, "inputs": versions, "algorithm": ALGORITHM_VERSION}), phash


def load_candidates(con, sp: Any) -> pl.DataFrame:
    ref = list(sp.limo.reference_models)
    solvers = list(sp.s1k.solver_models)
    cand = pl.from_arrow(run_sql_file(con, "select/candidates", ref_models=ref, solver_models=solvers,
                                      weak_models=list(sp.limo.weak_models)))
    for c in ("limo_score", "student_rsr", "student_entropy"):
        if c not in cand.columns:
            cand = cand.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    return cand.with_columns(pl.col("domain").fill_null("other"))


def vectors_loader(lake: Lake):
    """ids → {question_id: vector}; a question embedded in several chunks gets the mean of its chunks."""
    def load(ids: list[str]) -> dict[str, np.ndarray]:
        if not lake.exists("question_vectors"):
            return {}
        import pyarrow.compute as pc

        t = lake.read("question_vectors", columns=["id", "chunk", "vector"])
        t = t.filter(pc.is_in(t.column("id"), value_set=pa.array(ids, pa.string())))
        if t.num_rows == 0:
            return {}
        t = t.sort_by([("id", "ascending"), ("chunk", "ascending")])
        flat = t.column("vector").combine_chunks()
        mat = np.asarray(flat.flatten(), dtype=np.float32).reshape(t.num_rows, -1)
        qids = t.column("id").to_pylist()
        out: dict[str, np.ndarray] = {}
        for i, q in enumerate(qids):  # chunks of one id are adjacent after the sort
            out[q] = mat[i] if q not in out else np.vstack([out[q], mat[i]])
        return {q: (v.mean(axis=0) if v.ndim == 2 else v) for q, v in out.items()}
    return load


def texts_loader(con):
    def load(ids: list[str]) -> dict[str, str]:
        con.register("wanted", pa.table({"trajectory_id": pa.array(ids, pa.string())}))
        t = run_sql_file(con, "select/texts")
        con.unregister("wanted")
        return dict(zip(t.column("trajectory_id").to_pylist(), t.column("text").to_pylist()))
    return load


def select(params: Any, lake: Lake) -> Selection:
    sp = params.select
    for t in ("trajectory_scores", "question_scores", "model_scores"):
        if not lake.exists(t):
            raise SelectError(f"lake {lake.root} has no {t}; run `ded score` first")
    versions = lake.versions(INPUTS)
    run_id, phash = run_id_for(params, versions)
    con = connect(lake, read_only=False)
    con.execute("SET enable_progress_bar = false")  # our own bars report progress
    cand = recipes.prepare(sp, load_candidates(con, sp))
    scores = pl.from_arrow(lake.read("model_scores"))
    metric, ranking = rank_teachers(scores, sp.teacher_metric)
    teachers = choose_teachers(sp.teacher, ranking)
    warning = accuracy_fallback_warning(sp.teacher, sp.teacher_metric, metric, ranking)
    ctx = SelectionContext(texts=texts_loader(con), min_lev_dist=sp.min_lev_dist)
    vectors = vectors_loader(lake) if sp.diversity == "kcenter" else None
    try:
        if sp.mix_mode == "per_domain":
            result, teachers = select_per_domain(sp, cand, scores, ctx, vectors)
        else:
            steps = recipes.build_steps(sp, teachers, cand, vectors)
            if warning:
                log.warning("%s", warning)
                # the step itself says so too (manifest steps, the console table, `selection` counts)
                steps = [dataclasses.replace(s, why=f"{s.why}, chosen by verified accuracy alone: no student "
                                                    f"signal (`ded smoke`, or score.student_scores.enabled)")
                         if s.name == "teacher" else s for s in steps]
            result = run_chain(cand, steps, ctx)
    except LookupError as e:
        raise SelectError(str(e)) from None
    ctx.texts = None  # the connection's loader: not part of the result
    return Selection(run_id, sp.recipe, result, teachers, metric, ranking, versions, phash, ctx, warning)


def select_per_domain(sp: Any, cand: pl.DataFrame, scores: pl.DataFrame, ctx: SelectionContext,
                      vectors: Any) -> tuple[ChainResult, list[str]]:
    """`select.mix_mode: per_domain`, the paper's mix: each domain of the mix is its own run of the recipe
    (its candidates only, its teacher ranked on its own model_scores rows, its quota of the budget as the
    budget, nothing lent across domains), then the domain corpora are concatenated, largest quota first.
    Candidates of domains outside the mix are recorded as dropped by domain_mix. Returns the combined
    result and the teachers chosen (per domain in ctx.per_domain)."""
    want = quotas(sp.budget, sp.domain_mix)
    frames, counts, cols, teachers, per = [], {}, [], [], {}
    rank = 0
    for d in sorted(want, key=lambda d: (-want[d], d)):
        dsp = sp.model_copy(update={"budget": max(1, want[d]), "domain_mix": {d: 1.0}, "mix_mode": "joint"})
        rows = scores.filter(pl.col("domain") == d)
        dscores = rows.with_columns(pl.lit("all").alias("domain")) if rows.height else scores
        metric, ranking = rank_teachers(dscores, sp.teacher_metric)
        dteachers = choose_teachers(sp.teacher, ranking)
        dctx = SelectionContext(texts=ctx.texts, min_lev_dist=ctx.min_lev_dist)
        sub = cand.filter(pl.col("domain") == d)
        res = run_chain(sub, recipes.build_steps(dsp, dteachers, sub, vectors), dctx)
        f = res.frame
        if want[d] == 0:  # a share that rounds to no row: every row is left out by the budget
            f = f.with_columns(pl.lit(False).alias("kept"), pl.lit(None, dtype=pl.Int64).alias("rank"),
                               pl.coalesce(pl.col("dropped_by"), pl.lit("budget")).alias("dropped_by"))
        n_kept = int(f["kept"].sum())
        frames.append(f.with_columns(pl.col("rank") + rank))
        rank += n_kept
        for c in res.counts:
            a = counts.setdefault(c["step"], {"step": c["step"], "why": c["why"], "in": 0, "dropped": 0, "out": 0})
            a["in"] += c["in"]; a["dropped"] += c["dropped"]; a["out"] += c["out"]
            if c["why"] != a["why"] and c["why"] not in a["why"]:
                a["why"] += f"; {c['why']}"
        cols += [c for c in res.filter_columns if c not in cols]
        teachers += [t for t in dteachers if t not in teachers]
        per[d] = {"teachers": dteachers, "metric": metric, "budget": want[d], "rows": n_kept,
                  "steps": res.counts, "allocation": dctx.budget}
        if dctx.farthest_p is not None:
            ctx.farthest_p = {**(ctx.farthest_p or {}), d: dctx.farthest_p}
        if dctx.kcenter:
            ctx.kcenter[d] = dctx.kcenter
    rest = cand.filter(~pl.col("domain").is_in(list(want)))
    if rest.height:
        dm = domain_filter(sp.domain_mix)
        frames.append(rest.with_columns(pl.lit(False).alias(pass_col(dm.name)), pl.lit("domain_mix").alias("dropped_by"),
                                        pl.lit(False).alias("kept"), pl.lit(None, dtype=pl.Int64).alias("rank")))
    frame = pl.concat(frames, how="diagonal_relaxed")
    got = {d: per[d]["rows"] for d in per}
    ctx.budget = {"budget": sp.budget, "quotas": want, "allocated": got, "shortfall": sp.budget - sum(got.values()),
                     "available": {d: (per[d]["allocation"] or {}).get("available", {}).get(d) for d in per},
                     "mode": "per_domain"}
    ctx.per_domain = per
    return ChainResult(frame, list(counts.values()), cols), teachers


def selection_table(sel: Selection) -> pa.Table:
    """Every candidate as a `selection` row, with reasons: every filter and score."""
    df = sel.result.frame
    filters = [pl.col(c).alias(c.removeprefix("pass_")) for c in sel.result.filter_columns]
    scores = [pl.col(c) for c in SCORE_COLUMNS if c in df.columns]
    out = df.select(
        pl.lit(sel.run_id).alias("run_id"), "trajectory_id", pl.lit(sel.recipe).alias("recipe"), "question_id",
        "kept", "dropped_by", "rank",
        pl.struct(pl.struct(filters).alias("filters"), pl.struct(scores).alias("scores"),
                  pl.struct(pl.lit(sel.teacher_metric).alias("metric"),
                            pl.lit(sel.teacher_warning is not None).alias("no_student_signal")).alias("teacher"),
                  ).struct.json_encode().alias("reasons"),
        pl.lit(sel.params_hash).alias("params_hash"),
        pl.lit(json.dumps(sel.input_versions, sort_keys=True)).alias("input_versions"),
        "model", "domain",
    )
    return out.to_arrow().append_column("selected_at", pa.array([now()] * df.height, pa.timestamp("us", tz="UTC")))


def manifest(sel: Selection, params: Any, kept: pl.DataFrame) -> dict[str, Any]:
    budget = sel.ctx.budget or {}
    by = lambda col: dict(sorted(kept.group_by(col).len().iter_rows())) if kept.height else {}
    sources = []
    if kept.height:
        s = kept.group_by(["source", "license"]).len().sort(["source", "license"], nulls_last=True)
        sources = [{"source": a, "license": b, "rows": n} for a, b, n in s.iter_rows()]
    return {
        "run_id": sel.run_id, "recipe": sel.recipe, "params_hash": sel.params_hash,
        "budget": params.select.budget, "shortfall": budget.get("shortfall"), "allocation": budget,
        "steps": sel.result.counts, "by_domain": by("domain"), "by_model": by("model"),
        "questions": kept["question_id"].n_unique() if kept.height else 0,
        # kept although the student's pass rate is unknown (no decided student rollout): compression
        # could not judge them (select.missing_student: keep)
        "kept_without_student_pass_rate": kept.filter(pl.col("student_pass_rate").is_null())["question_id"].n_unique()
        if kept.height else 0,
        "teacher": {"setting": params.select.teacher, "metric": sel.teacher_metric, "chosen": sel.teachers,
                    "ranking": sel.ranking, "warning": sel.teacher_warning},
        "input_versions": sel.input_versions, "sources": sources,
        "params": {"select": params.select.model_dump(mode="json"), "score": params.score.model_dump(mode="json"),
                   "student": params.student.model_dump(mode="json") if params.student else None},
        "diversity": sel.ctx.manifest_diversity(),
        "mix_mode": params.select.mix_mode,
        **({"per_domain": sel.ctx.per_domain} if sel.ctx.per_domain is not None else {}),
    }


def empty_message(sel: Selection, params: Any) -> str:
    """A selection with no row: which step emptied it, why, how to fix; the old corpus stays on disk."""
    counts = sel.result.counts
    last = next((c for c in counts if c["in"] and not c["out"]), None)
    upto = counts[: counts.index(last) + 1] if last else counts  # the steps after it saw nothing
    funnel = ", ".join(f"{c['step']} {c['in']}→{c['out']}" for c in upto)
    if last is None:
        head = f"recipe {sel.recipe} selected nothing: it had no candidates (no scored non-student trajectory)"
        hint = "run `ded ingest`/`ded generate`, `ded verify` and `ded score` first"
    else:
        reached = sel.result.frame.filter(pl.col("dropped_by") == last["step"])
        head = (f"recipe {sel.recipe} selected nothing: step {last['step']} dropped the last {last['in']} "
                f"candidates ({last['why']})")
        hint = recipes.empty_hint(params.select, last["step"], reached)
    return (f"{head}. {hint}. Funnel: {funnel}. Nothing was exported ({params.select.export.out_dir}/ is unchanged); "
            f"every candidate is recorded: `ded select --explain ID --run-id {sel.run_id}`")


def write_selection(lake: Lake, sel: Selection) -> bool:
    """Append the run's rows unless this run_id is already there (same params and inputs)."""
    if lake.exists("selection") and lake.count("selection", f"run_id = '{sel.run_id}'"):
        return False
    lake.append("selection", selection_table(sel))
    return True


def main(params: Any, lake: Lake | None = None, receipt_dir: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Select, record, export. Returns the manifest (plus `written`: whether selection rows were added).

    `receipt_dir`: where select.json goes (default receipts/; `ded ablate` writes each arm's in its folder,
    so an arm never touches the pipeline's receipt)."""
    if overrides:
        params = with_overrides(params, "select", **overrides)
    lake = lake or open_lake(params)
    sel = select(params, lake)
    kept = sel.result.kept
    written = write_selection(lake, sel)
    if kept.height == 0:
        raise SelectError(empty_message(sel, params))
    con = connect(lake, read_only=False)
    con.execute("SET enable_progress_bar = false")  # our own bars report progress
    con.register("kept", pa.table({"trajectory_id": kept["trajectory_id"].to_arrow(), "rank": kept["rank"].to_arrow()}))
    rows = run_sql_file(con, "select/corpus_rows").to_pylist()
    ex = params.select.export
    man = write_corpus(rows, params, ex.out_dir, manifest(sel, params, kept), think=ex.think, hf_dataset=ex.hf_dataset)
    write_receipt("select", lake, ["selection"], params, directory=receipt_dir or "receipts",
                  extra={"run_id": sel.run_id, "rows": man["rows"], "train_jsonl_sha256": man["train_jsonl_sha256"]})
    return {**man, "written": written}
