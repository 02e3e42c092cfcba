"""`ded generate`: teacher samples and student rollouts into `trajectories`.

For every model named in `generate.models` and every question matching `generate.questions`,
sample_idx 0..n-1 (n from the model's sampling, or `generate.samples`) is one request: the
shared prompt templates render the chat messages (`ded.prompts.render_messages`), the request
fingerprint hashes (model name and id, messages, sampling with the sample's own seed
`seed + sample_idx`, sample_idx), and a trajectory with that fingerprint is never generated again.

A trajectory generated earlier with other settings (another template, temperature, max_tokens)
has the same trajectory_id but another fingerprint: it is "stale". It is kept and reported
unless `generate.replace_stale` is set, because verdicts and scores keyed by its trajectory_id
would silently describe a response that no longer exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ded.backends.base import GenRequest, GenResult, Sampling, fingerprint
from ded.errors import DedError
from ded.ids import trajectory_id
from ded.lake import Lake, now
from ded.stages.run_requests import RunStats, done_fingerprints, run_requests
from ded.text import split_reasoning

ORIGIN = "generated"
# Rough size of a token in characters for dry-run estimates (OpenAI's rule of thumb for English
# text is ~4 characters per token; math and code tokenize denser, so this errs low on cost).
CHARS_PER_TOKEN = 4.0

__all__ = ["ModelPlan", "RunStats", "dry_run", "generate_model", "main", "plan", "run_requests"]


@dataclass
class ModelPlan:
    spec: Any
    requests: list[GenRequest]  # every request, done or not
    questions: int = 0
    done: int = 0
    stale: list[GenRequest] = field(default_factory=list)
    missing: list[GenRequest] = field(default_factory=list)


def load_questions(lake: Lake, where: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Question rows (all, or those matching a SQL predicate), ordered by question_id."""
    from ded.sql import check_predicate, connect, query

    if not lake.exists("questions"):
        raise DedError(f"no questions in lake {lake.root!r}: run `ded ingest` first")
    sql = "SELECT * EXCLUDE (ingested_at) FROM questions"
    if where:
        sql += f" WHERE {check_predicate(where)}"
    sql += " ORDER BY question_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return query(connect(lake), sql).to_pylist()


def build_requests(spec: Any, questions: list[dict[str, Any]], params: Any, samples: int | None = None) -> list[GenRequest]:
    from ded.prompts import render_messages

    s = spec.sampling
    n = samples or s.n
    out = []
    for q in questions:
        messages = render_messages(q, params)
        for i in range(n):
            sampling = Sampling(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                seed=s.seed + i, top_k=s.top_k)
            fp = fingerprint(f"{spec.name}|{spec.model}", messages, sampling, i)
            out.append(GenRequest(key=fp, messages=messages, sampling=sampling, sample_idx=i, meta={
                "question_id": q["question_id"],
                "trajectory_id": trajectory_id(q["question_id"], spec.name, ORIGIN, i)}))
    return out


def plan(params: Any, lake: Lake, models: list[str] | None = None, where: str | None = None,
         limit: int | None = None) -> list[ModelPlan]:
    g = params.generate
    names = list(models or g.models)
    if not names:
        raise DedError("generate.models is empty: name the models to run, e.g. `generate: {models: [qwq-32b]}` "
                       "in params.yaml or `ded generate --model qwq-32b`")
    questions = load_questions(lake, where if where is not None else g.questions, limit if limit is not None else g.limit)
    plans = []
    for name in names:
        spec = params.model(name)
        reqs = build_requests(spec, questions, params, g.samples)
        have = _existing(lake, spec.name)
        p = ModelPlan(spec, reqs, questions=len(questions))
        for r in reqs:
            fp = have.get(r.meta["trajectory_id"])
            if fp == r.key:
                p.done += 1
            elif fp is not None:
                p.stale.append(r)
            else:
                p.missing.append(r)
        plans.append(p)
    return plans


def _existing(lake: Lake, model: str) -> dict[str, str]:
    """trajectory_id → fingerprint of this model's generated trajectories."""
    if not lake.exists("trajectories"):
        return {}
    quoted = model.replace("'", "''")
    t = lake.read("trajectories", columns=["trajectory_id", "fingerprint"],
                  filter=f"model = '{quoted}' AND origin = '{ORIGIN}'")
    return dict(zip(t.column("trajectory_id").to_pylist(), t.column("fingerprint").to_pylist()))


def to_row(spec: Any):
    def row(req: GenRequest, res: GenResult) -> dict[str, Any]:
        reasoning, final, _closed = split_reasoning(res.text)
        gen = {"backend": spec.backend, "model_id": spec.model, **req.sampling.as_dict(),
               "prompt_tokens": res.prompt_tokens, "completion_tokens": res.completion_tokens}
        if res.tokens_estimated:
            gen["tokens_estimated"] = True
        if len(req.messages) > 1:
            gen["system"] = req.messages[0]["content"]
        return {"trajectory_id": req.meta["trajectory_id"], "question_id": req.meta["question_id"],
                "model": spec.name, "sample_idx": req.sample_idx, "prompt": req.messages[-1]["content"],
                "response": res.text, "reasoning": reasoning, "final": final,
                "finish_reason": res.finish_reason, "n_tokens": res.completion_tokens,
                "gen_params": json.dumps(gen, sort_keys=True), "fingerprint": req.key,
                "origin": ORIGIN, "created_at": now()}
    return row


def dry_run(plans: list[ModelPlan], lake: Lake, replace_stale: bool = False) -> list[dict[str, Any]]:
    """Per model: requests missing, estimated prompt and output tokens, and cost where priced."""
    rows = []
    for p in plans:
        todo = p.missing + (p.stale if replace_stale else [])
        prompt_tok = sum(sum(len(m["content"]) for m in r.messages) for r in todo) / CHARS_PER_TOKEN
        mean_out = _mean_tokens(lake, p.spec.name)
        out_tok = len(todo) * (mean_out if mean_out is not None else p.spec.sampling.max_tokens)
        cost = None
        if p.spec.price_in is not None or p.spec.price_out is not None:
            cost = (prompt_tok * (p.spec.price_in or 0) + out_tok * (p.spec.price_out or 0)) / 1e6
        rows.append({"model": p.spec.name, "backend": p.spec.backend, "questions": p.questions,
                     "requests": len(p.requests), "done": p.done, "stale": len(p.stale), "missing": len(todo),
                     "est_prompt_tokens": int(prompt_tok), "est_output_tokens": int(out_tok),
                     "output_basis": "observed mean" if mean_out is not None else "max_tokens (upper bound)",
                     "est_cost": cost})
    return rows


def _mean_tokens(lake: Lake, model: str) -> float | None:
    if not lake.exists("trajectories"):
        return None
    quoted = model.replace("'", "''")
    t = lake.read("trajectories", columns=["n_tokens"], filter=f"model = '{quoted}' AND n_tokens IS NOT NULL")
    vals = t.column("n_tokens").to_pylist()
    return sum(vals) / len(vals) if vals else None


def generate_model(p: ModelPlan, lake: Lake, params: Any, backend=None) -> RunStats:
    from ded.backends import get_backend

    g = params.generate
    todo = p.missing + (p.stale if g.replace_stale else [])
    if not todo:
        return RunStats(requested=len(p.requests), skipped=len(p.requests))
    backend = backend or get_backend(p.spec)
    try:
        stats = run_requests(backend, todo, lake, "trajectories", to_row(p.spec),
                             done=set(), commit_rows=g.commit_rows, commit_seconds=g.commit_seconds,
                             update=bool(g.replace_stale and p.stale), desc=f"generate {p.spec.name}")
    finally:
        backend.close()
    stats.requested, stats.skipped = len(p.requests), len(p.requests) - len(todo)
    return stats


def main(params: Any, lake: Lake | None = None, models: list[str] | None = None, where: str | None = None,
         limit: int | None = None, dry: bool = False, echo=print) -> dict[str, Any]:
    """Plan, then generate (or with `dry`, only report) per model; raises if any request failed."""
    from ded.receipts import write_receipt

    lake = lake or Lake(params.lake.root)
    plans = plan(params, lake, models, where, limit)
    if dry:
        return {"dry_run": dry_run(plans, lake, params.generate.replace_stale)}
    results, failed = {}, []
    for p in plans:
        if p.stale and not params.generate.replace_stale:
            echo(f"{p.spec.name}: {len(p.stale)} samples were generated with other prompts or sampling; kept "
                 f"(set generate.replace_stale: true to regenerate them; their verdicts become outdated)")
        stats = generate_model(p, lake, params)
        results[p.spec.name] = stats.as_dict()
        echo(f"{p.spec.name}: {stats.generated} generated, {stats.skipped} already done, {stats.errors} failed"
             f" ({stats.requests_per_s:.1f} req/s, {stats.tokens_per_s:.0f} tok/s)")
        if stats.errors:
            failed.append(f"{p.spec.name}: {stats.errors} failed, e.g. {stats.error_samples[0]}")
    if failed:
        raise DedError("some requests failed and were not saved; rerun `ded generate` to retry them:\n  "
                       + "\n  ".join(failed))
    write_receipt("generate", lake, ["trajectories"], params, extra={"models": results})
    return {"models": results}


__all__ += ["build_requests", "done_fingerprints", "load_questions", "to_row"]
