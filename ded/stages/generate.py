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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ded.backends.base import GenRequest, GenResult, Sampling, fingerprint
from ded.backends.run_requests import Meter, RunStats, done_fingerprints, run_requests
from ded.compute.generate_actors import generation_backend
from ded.errors import DedError
from ded.evaluation.model_identity import model_identity
from ded.ids import trajectory_id
from ded.lake import Lake, now, open_lake
from ded.prompts import render_messages
from ded.receipts import write_receipt
from ded.sql import SqlError, check_predicate, connect, stream_sql_file
from ded.text import split_reasoning

ORIGIN = "generated"
# Rough size of a token in characters for dry-run estimates (OpenAI's rule of thumb for English
# text is ~4 characters per token; math and code tokenize denser, so this errs low on cost).
CHARS_PER_TOKEN = 4.0

__all__ = ["ModelPlan", "RunStats", "generate_model", "main", "plan", "run_requests"]


@dataclass
class ModelPlan:
    """One model's requests for a chunk of questions, split by what the lake already has."""

    spec: Any
    requests: list[GenRequest]  # every request, done or not
    questions: int = 0
    done: int = 0
    stale: list[GenRequest] = field(default_factory=list)
    missing: list[GenRequest] = field(default_factory=list)

    def todo(self, replace_stale: bool) -> list[GenRequest]:
        return self.missing + (self.stale if replace_stale else [])


def question_chunks(lake: Lake, where: str | None = None, limit: int | None = None,
                    size: int = 4096) -> Iterator[list[dict[str, Any]]]:
    """Question rows (all, or those matching a SQL predicate) in question_id order, `size` at a time."""
    import duckdb


    if not lake.exists("questions"):
        raise DedError(f"no questions in lake {lake.root!r}: run `ded ingest` first")
    pred = check_predicate(where) if where else None  # parsed before anything runs
    con = connect(lake)
    try:
        scope = con.table("questions")
        if pred:
            # The user's predicate is the one dynamic part: a checked SQL fragment applied through
            # DuckDB's relation API (a $parameter carries values, not expressions); the query is the file.
            scope = scope.filter(pred)
        scope.create_view("scoped_questions")
        _rows, reader = stream_sql_file(con, "generate/questions", size, with_count=False,
                                        limit=None if limit is None else int(limit))
    except (duckdb.Error, SqlError) as e:
        if not pred:
            raise
        raise DedError(f"question filter {where!r} failed: {str(e).splitlines()[0]}") from None
    for batch in reader:
        yield batch.to_pylist()


def load_questions(lake: Lake, where: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    return [q for chunk in question_chunks(lake, where, limit) for q in chunk]


def build_requests(spec: Any, questions: list[dict[str, Any]], params: Any, samples: int | None = None) -> list[GenRequest]:
    s = spec.sampling
    n = samples or s.n
    # A local model directory is identified by its content, so a model retrained in place gets new
    # fingerprints (its old samples show up as stale) instead of silently reusing old samples.
    ident = model_identity(spec.model)
    out = []
    for q in questions:
        messages = render_messages(q, params)
        for i in range(n):
            sampling = Sampling(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                seed=s.seed + i, top_k=s.top_k)
            fp = fingerprint(f"{spec.name}|{ident}", messages, sampling, i)
            out.append(GenRequest(key=fp, messages=messages, sampling=sampling, sample_idx=i, meta={
                "question_id": q["question_id"],
                "trajectory_id": trajectory_id(q["question_id"], spec.name, ORIGIN, i)}))
    return out


def plan_chunk(spec: Any, questions: list[dict[str, Any]], params: Any, have: dict[str, str]) -> ModelPlan:
    reqs = build_requests(spec, questions, params, params.generate.samples)
    p = ModelPlan(spec, reqs, questions=len(questions))
    for r in reqs:
        fp = have.get(r.meta["trajectory_id"])
        if fp == r.key:
            p.done += 1
        elif fp is not None:
            p.stale.append(r)
        else:
            p.missing.append(r)
    return p


def model_specs(params: Any, models: list[str] | None = None) -> list[Any]:
    names = list(models or params.generate.models)
    if not names:
        raise DedError("generate.models is empty: name the models to run, e.g. `generate: {models: [qwq-32b]}` "
                       "in params.yaml or `ded generate --model qwq-32b`")
    return [params.model(n) for n in names]


def plan(params: Any, lake: Lake, models: list[str] | None = None, where: str | None = None,
         limit: int | None = None) -> list[ModelPlan]:
    """Every model's whole plan in memory (small runs, tests); `main` streams question chunks."""
    where, limit = _scope(params, where, limit)
    specs = model_specs(params, models)
    questions = load_questions(lake, where, limit)
    return [plan_chunk(spec, questions, params, _existing(lake, spec.name)) for spec in specs]


def _scope(params: Any, where: str | None, limit: int | None) -> tuple[str | None, int | None]:
    g = params.generate
    return (where if where is not None else g.questions), (limit if limit is not None else g.limit)


def _existing(lake: Lake, model: str) -> dict[str, str]:
    """trajectory_id → fingerprint of this model's generated trajectories."""
    if not lake.exists("trajectories"):
        return {}
    quoted = model.replace("'", "''")
    t = lake.read("trajectories", columns=["trajectory_id", "fingerprint"],
                  filter=f"model = '{quoted}' AND origin = '{ORIGIN}'")
    return dict(zip(t.column("trajectory_id").to_pylist(), t.column("fingerprint").to_pylist()))


def survey(spec: Any, params: Any, lake: Lake, where: str | None, limit: int | None,
           have: dict[str, str]) -> dict[str, Any]:
    """Counts of one model's requests (done, stale, missing) and the prompt characters to send."""
    c = {"questions": 0, "requests": 0, "done": 0, "stale": 0, "missing": 0, "todo_chars": 0}
    for qs in question_chunks(lake, where, limit, params.generate.chunk_questions):
        p = plan_chunk(spec, qs, params, have)
        for k, v in (("questions", p.questions), ("requests", len(p.requests)), ("done", p.done),
                     ("stale", len(p.stale)), ("missing", len(p.missing))):
            c[k] += v
        c["todo_chars"] += sum(sum(len(m["content"]) for m in r.messages) for r in p.todo(params.generate.replace_stale))
    return c


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


def dry_row(spec: Any, c: dict[str, Any], lake: Lake, replace_stale: bool) -> dict[str, Any]:
    """The dry-run line of one model: missing requests, estimated tokens and cost where priced."""
    todo = c["missing"] + (c["stale"] if replace_stale else 0)
    prompt_tok = c["todo_chars"] / CHARS_PER_TOKEN
    mean_out = _mean_tokens(lake, spec.name)
    out_tok = todo * (mean_out if mean_out is not None else spec.sampling.max_tokens)
    cost = None
    if spec.price_in is not None or spec.price_out is not None:
        cost = (prompt_tok * (spec.price_in or 0) + out_tok * (spec.price_out or 0)) / 1e6
    return {"model": spec.name, "backend": spec.backend, "questions": c["questions"], "requests": c["requests"],
            "done": c["done"], "stale": c["stale"], "missing": todo, "est_prompt_tokens": int(prompt_tok),
            "est_output_tokens": int(out_tok),
            "output_basis": "observed mean" if mean_out is not None else "max_tokens (upper bound)",
            "est_cost": cost}


def _mean_tokens(lake: Lake, model: str) -> float | None:
    if not lake.exists("trajectories"):
        return None
    quoted = model.replace("'", "''")
    t = lake.read("trajectories", columns=["n_tokens"], filter=f"model = '{quoted}' AND n_tokens IS NOT NULL")
    vals = t.column("n_tokens").to_pylist()
    return sum(vals) / len(vals) if vals else None


def generate_model(spec: Any, lake: Lake, params: Any, where: str | None = None, limit: int | None = None,
                   backend=None, have: dict[str, str] | None = None, total: int | None = None) -> RunStats:
    """Generate one model's missing samples, question chunk by chunk, under one progress bar."""
    g = params.generate
    where, limit = _scope(params, where, limit)
    have = _existing(lake, spec.name) if have is None else have
    if total is None:
        c = survey(spec, params, lake, where, limit, have)
        total = c["missing"] + (c["stale"] if g.replace_stale else 0)
    stats = RunStats()
    backend = backend or (generation_backend(spec, params) if total else None)  # compute.engine: ray = actors
    meter = Meter(total, f"generate {spec.name}")
    try:
        for qs in question_chunks(lake, where, limit, g.chunk_questions):
            p = plan_chunk(spec, qs, params, have)
            todo = p.todo(g.replace_stale)
            stats.requested += len(p.requests)
            stats.skipped += len(p.requests) - len(todo)
            if todo:
                sub = run_requests(backend, todo, lake, "trajectories", to_row(spec), done=set(),
                                   commit_rows=g.commit_rows, commit_seconds=g.commit_seconds,
                                   update=bool(g.replace_stale and p.stale), meter=meter)
                sub.requested = sub.skipped = 0  # counted above, over the whole chunk
                stats.add(sub)
    finally:
        meter.close()
        if backend is not None:
            backend.close()
    return stats


def main(params: Any, lake: Lake | None = None, models: list[str] | None = None, where: str | None = None,
         limit: int | None = None, dry: bool = False, echo=print) -> dict[str, Any]:
    """Survey, then generate (or with `dry`, only report) per model; raises if any request failed."""
    lake = lake or open_lake(params)
    where, limit = _scope(params, where, limit)
    replace = params.generate.replace_stale
    if not models and not params.generate.models:
        # A profile that imports all its trajectories (the demo) has nothing to sample; `dvc repro` still
        # needs this stage's receipt to chain verify and smoke, so this is a no-op, not an error.
        echo("nothing to generate: generate.models is empty")
        if dry:
            return {"dry_run": []}
        write_receipt("generate", lake, ["trajectories"], params, extra={"models": {}})
        return {"models": {}}
    specs = model_specs(params, models)
    rows, results, failed = [], {}, []
    for spec in specs:
        have = _existing(lake, spec.name)
        c = survey(spec, params, lake, where, limit, have)
        if dry:
            rows.append(dry_row(spec, c, lake, replace))
            continue
        if c["stale"] and not replace:
            echo(f"{spec.name}: {c['stale']} samples were generated with other prompts or sampling; kept "
                 f"(set generate.replace_stale: true to regenerate them; their verdicts become outdated)")
        stats = generate_model(spec, lake, params, where, limit, have=have,
                               total=c["missing"] + (c["stale"] if replace else 0))
        results[spec.name] = stats.as_dict()
        echo(f"{spec.name}: {stats.generated} generated, {stats.skipped} already done, {stats.errors} failed"
             f" ({stats.requests_per_s:.1f} req/s, {stats.tokens_per_s:.0f} tok/s)")
        if stats.errors:
            failed.append(f"{spec.name}: {stats.errors} failed, e.g. {stats.error_samples[0]}")
    if dry:
        return {"dry_run": rows}
    if failed:
        raise DedError("some requests failed and were not saved; rerun `ded generate` to retry them:\n  "
                       + "\n  ".join(failed))
    write_receipt("generate", lake, ["trajectories"], params, extra={"models": results})
    return {"models": results}


__all__ += ["build_requests", "done_fingerprints", "dry_row", "load_questions", "plan_chunk",
            "question_chunks", "survey", "to_row"]
