"""`ded smoke`: DED's teacher smoke tests (arXiv 2508.09883, Sec. 3.1).

Benchmark scores do not pick the best teacher; fine-tuning the student on each teacher's answers does.
For one candidate teacher: its trajectory (one per question, `smoke.sample_idx`) for every question of
the smoke set (`sql/smoke/smoke_set.sql`: the questions all candidates answered) → a short SFT of the
student (`sft` settings with `smoke.sft` on top) → `ded evaluate` on the smoke benchmarks →
`smoke_results` (model, benchmark, score = avg@n with its 95% interval score_ci_low/score_ci_high: evaluate's
item bootstrap, n, corpus_size, plus the run's loss and the student's
token entropy on the corpus, the paper's explanation of the winner). Everything of a teacher is under
`smoke/<teacher>/`: train.jsonl, model/, metrics/, receipt.json.

`student_entropy` is DED's measure: the mean token entropy (bits) of the student, before the smoke SFT,
over the response tokens of the teacher's smoke corpus (`ded.scorers.student.StudentScorer`, the scorer of
`ded score`'s student scores), token-weighted over the corpus; `student_surprisal` (nats) and
`student_rsr` (arXiv 2601.14249) come from the same pass; `trained_entropy` is the same entropy under the
smoke-trained student (how well it learned to predict this teacher; on the demo, whose student starts
random and so is uniform, log2(vocab) bits, on every teacher's text, only this one separates them). Two
forward passes over the corpus, a fraction of the SFT. (It is not the trainer's logged entropy: at step 1 that is the untrained model's
on one batch, ~log2(vocab) and the same for every teacher.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ded.errors import DedError
from ded.lake import open_lake
from ded.progress import progress
from ded.prompts import render_assistant, render_messages
from ded.receipts import write_receipt
from ded.scorers.student import StudentScorer, dataset_rsr, summarize_sums
from ded.sql import check_predicate, connect, run_sql_file
from ded.stages.evaluate import evaluate_model, evaluated_specs
from ded.stages.sft import sft_params
from ded.text import split_reasoning
from ded.training.base import base_model


def smoke_rows(lake, smoke, teacher: str) -> list[dict[str, Any]]:
    """The teacher's smoke-set trajectories joined to their questions (sql/smoke/smoke_set.sql)."""
    teachers = list(dict.fromkeys(smoke.teachers or [teacher]))
    if teacher not in teachers:
        raise DedError(f"{teacher!r} is not in smoke.teachers {teachers}")
    if not lake.exists("trajectories"):
        raise DedError(f"no trajectories in lake {lake.root!r}: run `ded ingest` / `ded generate` first")
    con = connect(lake)
    ids = None
    if smoke.questions:
        # smoke.questions is an SQL predicate by design: checked, then applied through the relation API
        ids = con.table("questions").filter(check_predicate(smoke.questions)).select("question_id") \
            .to_arrow_table().column("question_id").to_pylist()
    rows = run_sql_file(con, "smoke/smoke_set", teachers=teachers, sample_idx=smoke.sample_idx,
                        limit=smoke.limit or 2**62, require_finished=smoke.require_finished,
                        question_ids=ids).to_pylist()
    mine = [r for r in rows if r["model"] == teacher]
    if not mine:
        have = sorted(set(con.table("trajectories").select("model").to_arrow_table().column("model").to_pylist()))
        raise DedError(f"no smoke set for {teacher!r}: the teachers {teachers} share no question at sample "
                       f"{smoke.sample_idx} (models in the lake: {have})")
    return mine


def corpus_rows(rows: list[dict[str, Any]], params) -> list[dict[str, Any]]:
    """Chat rows as `ded select` writes them; a cut-off response is kept verbatim (no invented `</think>`)."""
    out = []
    for r in rows:
        reasoning, final, closed = split_reasoning(r["response"])
        content = render_assistant(reasoning, final) if closed else r["response"]
        out.append({"messages": render_messages(r, params) + [{"role": "assistant", "content": content}],
                    "question_id": r["question_id"], "trajectory_id": r["trajectory_id"]})
    return out


def student_corpus_stats(model: str, rows: list[dict[str, Any]], max_tokens: int | None = None,
                         device: str = "auto", desc: str = "smoke: student entropy") -> dict[str, float | int | None]:
    """The student's token statistics on a chat corpus (the teacher's smoke set), token-weighted over it.

    Each row's assistant turn is scored given its prompt turns under `model` (hub id or path), as
    `ded score` scores trajectories; `max_tokens` caps the response tokens scored per row (the SFT's
    max_length: the student never trains on more). Returns student_tokens, student_entropy (bits),
    student_surprisal (nats) and student_rsr, the RSR paper's dataset RSR over the corpus (Σ_i mean
    clipped rank_i / Σ_i mean surprisal_i over its rows, `ded.scorers.student.dataset_rsr`), the quantity
    model_scores.mean_student_rsr gives for a teacher's scored trajectories.
    """
    scorer = StudentScorer(model, device=device, max_tokens=max_tokens)
    n, ent, rank, surp = 0, 0.0, 0.0, 0.0
    per_row: list[dict[str, Any]] = []
    try:
        with progress(total=len(rows), desc=desc, unit="rows") as bar:
            for r in rows:
                msgs = r["messages"]
                st = scorer.score(msgs[:-1], msgs[-1]["content"])
                per_row.append(st)
                k = st["student_tokens"] or 0
                if k:
                    n += k
                    ent += st["student_entropy"] * k
                    s_sum = st["student_surprisal"] * k
                    surp += s_sum
                    # token-pooled sums (per-token means over the corpus); the RSR returned is the paper's
                    # dataset RSR over the rows, not rank sum / surprisal sum; a certain row ranks every token 1st
                    rank += st["student_rsr"] * s_sum if st["student_rsr"] is not None else k
                bar.advance(1)
    finally:
        _release(scorer)
    return {**summarize_sums(n, ent, rank, surp), "student_rsr": dataset_rsr(per_row)}


def _release(scorer) -> None:
    """Free the scoring model before the SFT loads its own copy (a 32B student twice does not fit)."""
    import gc

    scorer._lm = scorer._tok = None
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass


def evaluate_student(params, lake, model_dir: Path, metrics_dir: Path, label: str) -> dict[str, dict]:
    """Evaluate the smoke student through the evaluate stage's per-benchmark path; {benchmark: metrics entry}.

    The student is evaluated under the name `label` (e.g. `smoke:qwq-32b:<run key>`): eval_samples of smoke
    runs stay apart from the final student's, and a retrained model never reuses a stale run's samples
    (evaluate's run_id hashes the model name and path, not the weights).
    """
    s, ev = params.smoke, params.evaluate
    eparams = params.model_copy(deep=True)
    eparams.evaluate = ev.model_copy(update={
        "model_path": str(model_dir), "n": s.n, "limit": s.eval_limit,
        "max_tokens": s.max_tokens or ev.max_tokens, "metrics_dir": str(metrics_dir)})
    spec = evaluated_specs(eparams)[0].model_copy(update={"name": label})
    names = s.benchmarks or ev.benchmarks or list(params.benchmarks)
    if not names:
        raise DedError("no smoke benchmarks: set smoke.benchmarks (or evaluate.benchmarks) to names in `benchmarks`")
    return {b: evaluate_model(eparams, lake, spec, b) for b in names}


def _score(entry: dict) -> tuple[float | None, int | None, float | None, float | None]:
    """(avg@n, items, interval low, interval high) of an evaluate metrics entry; None when no sample was decided.

    The interval is evaluate's: a percentile bootstrap over items of each item's fraction correct
    (`evaluate.ci_level`, `evaluate.bootstrap` resamples; docs/evaluation.md), so it counts items × samples
    the way avg@n does. Two teachers whose intervals do not overlap differ by more than the smoke set's noise.
    """
    m = entry.get("metrics") or {}
    v = m.get("avg_at_n")
    if v is None or math.isnan(v):
        return None, m.get("items"), None, None
    lo, hi = (m.get("avg_at_n_ci") or (None, None))[:2]
    ok = lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi))
    return float(v), m.get("items"), (float(lo) if ok else None), (float(hi) if ok else None)


def main(params, lake=None, teacher: str | None = None, evaluate: bool = True) -> dict[str, Any]:
    """Smoke-test one teacher (or, with teacher=None, each of smoke.teachers in turn)."""
    # lazy: torch and transformers (ded.training.run imports ded.training.callbacks)
    from ded.training.run import train

    lake = lake or open_lake(params)
    s = params.smoke
    if teacher is None:
        if not s.teachers:
            raise DedError("smoke.teachers is empty: list the candidate teachers (trajectories.model names)")
        return {t: main(params, lake, t, evaluate) for t in s.teachers}
    out = Path(s.out_dir) / teacher
    rows = corpus_rows(smoke_rows(lake, s, teacher), params)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "train.jsonl"
    corpus.write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows))
    sft = sft_params(params, **{**s.sft, "corpus": str(corpus), "output_dir": str(out / "model"),
                                "metrics_dir": str(out / "metrics"), "checkpoint_dir": "checkpoints/smoke"})
    base = base_model(params, sft)
    # how surprising the teacher's text is to the student, measured before the student trains on it
    stats = student_corpus_stats(base, rows, max_tokens=sft.max_length, desc=f"smoke {teacher}: student entropy")
    entropy = stats["student_entropy"]
    train_metrics = train(sft, base, desc=f"smoke {teacher}")
    # the same after the smoke SFT: how well the student learned to predict this teacher (a random demo
    # student is uniform before training, log2(vocab) bits for every teacher; this still separates them)
    after = student_corpus_stats(str(out / "model"), rows, max_tokens=sft.max_length,
                                 desc=f"smoke {teacher}: trained student entropy")
    results = []
    if evaluate:
        label = f"smoke:{teacher}:{train_metrics['run_key'][:8]}"
        for bench, entry in evaluate_student(params, lake, out / "model", out / "metrics", label).items():
            score, items, lo, hi = _score(entry)
            results.append({"model": teacher, "benchmark": bench, "score": score, "score_ci_low": lo,
                            "score_ci_high": hi, "ci_level": params.evaluate.ci_level, "n": items,
                            "corpus_size": len(rows), "train_loss": train_metrics.get("final_loss"),
                            "student_entropy": entropy, "student_surprisal": stats["student_surprisal"],
                            "student_rsr": stats["student_rsr"], "trained_entropy": after["student_entropy"]})
        lake.merge("smoke_results", results, update=True)
    receipt = write_receipt("receipt", lake, ["smoke_results"] if results else [], params, directory=out,
                            extra={"teacher": teacher, "corpus_size": len(rows), "results": results,
                                   "student": {"model": base, **stats}, "trained_student": after,
                                   "train": {k: train_metrics.get(k) for k in ("final_loss", "steps", "run_key")}})
    return {"teacher": teacher, "corpus_size": len(rows), "results": results, "receipt": str(receipt),
            "final_loss": train_metrics.get("final_loss"), "student_entropy": entropy,
            "student_rsr": stats["student_rsr"], "trained_entropy": after["student_entropy"]}
