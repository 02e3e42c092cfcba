"""The evaluation loop: benchmark items → requests → samples in `eval_samples` → grades → metrics.

Two resumable phases, like generate and verify: generation writes each finished sample ungraded (resume by
fingerprint, batched commits through `ded.backends.run_requests`); grading then fills `correct`, `extracted` and
`status` of every sample of the run not graded by the current verifier version. A crash in either phase
keeps what was committed; a rerun with nothing missing only recomputes the metrics.

`run_id` hashes what determines the samples' distribution: model name and id (for a local directory, the path
plus a digest of its contents: `ded.evaluation.model_identity`), benchmark, temperature, top_p, max_tokens and
the base seed. `n` is not in it, so raising n from 8 to 16 adds samples 8-15 to the same run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ded.backends.base import GenRequest, GenResult, Sampling, fingerprint
from ded.benchmarks import BenchmarkError, gpqa, load_benchmarks
from ded.evaluation import livecodebench as lcb
from ded.evaluation.model_identity import model_identity
from ded.ids import stable_hash
from ded.progress import progress
from ded.prompts import render_messages
from ded.text import split_reasoning
from ded.verifiers import VERIFIER_VERSIONS, choice, grade_many, verifier_for
from ded.verifiers.math import MathPool

if TYPE_CHECKING:  # the lake (Lance) is imported by callers only: the GPU bench runs this module without it
    from ded.lake import Lake


def now() -> datetime:
    return datetime.now(UTC)

GRADE_CHUNK = 1024  # samples graded per commit
GRADE_COLUMNS = ("extracted", "correct", "status", "detail", "verifier", "verifier_version", "tests_passed",
                 "tests_total", "graded_at")


@dataclass
class EvalPlan:
    model: str  # params name (eval_samples.model)
    model_id: str  # hub id or path actually evaluated
    benchmark: str
    run_id: str
    sampling: dict[str, Any]
    n: int
    seed: int
    items: list[dict]
    golds: dict[str, dict]  # item_id -> what grading needs (domain, answer, tests, starter_code, entry_point)
    requests: list[GenRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    public_tests_only: bool | None = None


def run_id_for(model: str, model_id: str, benchmark: str, temperature: float, top_p: float, max_tokens: int,
               seed: int) -> str:
    return "ev_" + stable_hash({"model": model, "model_id": model_id, "benchmark": benchmark,
                                "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
                                "seed": seed})


def prompt_and_gold(item: dict, seed: int) -> tuple[dict, dict]:
    """(question row for the shared prompt templates, grading info). GPQA-style items (with `choices`) are
    shown with their options shuffled by `seed`; their gold becomes the correct letter."""
    domain = item.get("domain") or "math"
    meta = lcb.metadata(item)
    entry_point = item.get("entry_point") or meta.get("entry_point")
    row = {"problem": item["problem"], "domain": domain, "starter_code": item.get("starter_code"),
           "entry_point": entry_point}
    gold = {"domain": domain, "answer": item.get("answer"), "tests": item.get("tests"),
            "starter_code": item.get("starter_code"), "entry_point": entry_point}
    if item.get("choices"):
        choices = json.loads(item["choices"])
        options, letter = gpqa.shuffled(item["item_id"], choices, item["answer"], seed)
        # options go into the problem text; the shared template adds the answer-format instruction
        row["problem"] = item["problem"] + "\n\n" + "\n".join(f"{choice.LETTERS[i]}) {o}" for i, o in enumerate(options))
        gold.update(answer=letter, options=options)
    return row, gold


def sampling_of(spec: Any, ep: Any) -> dict[str, Any]:
    s = spec.sampling
    return {"temperature": s.temperature if ep.temperature is None else ep.temperature,
            "top_p": s.top_p if ep.top_p is None else ep.top_p,
            "max_tokens": s.max_tokens if ep.max_tokens is None else ep.max_tokens}


def select_items(lake: Lake, params: Any, benchmark: str) -> tuple[list[dict], Counter, list[str]]:
    """The benchmark's items, LCB-filtered and limited.

    The shared loader runs first so benchmark_items matches the benchmark's params (an edited path or date
    window takes effect; merging unchanged items writes nothing new). When the source cannot be read (a hub
    dataset while offline) and items are already in the lake, those are used and a note says so.
    """
    ep, spec = params.evaluate, params.benchmarks[benchmark]
    flt = "benchmark = '" + benchmark.replace("'", "''") + "'"
    stale_note = None
    try:
        load_benchmarks(lake, params, [benchmark])
    except BenchmarkError as e:
        if lake.count("benchmark_items", flt) == 0:
            raise
        stale_note = f"items from the lake's benchmark_items: the source could not be reread ({str(e)[:160]})"
    items = sorted(lake.read("benchmark_items", filter=flt).to_pylist(), key=lambda r: r["item_id"])
    dropped, notes = Counter(), []
    if lcb.is_livecodebench(benchmark, spec):
        items, dropped = lcb.filter_items(items, ep.lcb_start, ep.lcb_end, ep.lcb_difficulties)
        notes = lcb.notes(items, spec)
    if stale_note:
        notes.append(stale_note)
    if ep.limit:
        dropped["over evaluate.limit"] += max(0, len(items) - ep.limit)
        items = items[: ep.limit]
    if not items:
        raise ValueError(f"benchmark {benchmark!r} has no items left to evaluate (dropped: {dict(dropped)}); "
                         "check evaluate.lcb_start/lcb_end/lcb_difficulties and the benchmark's options")
    return items, dropped, notes


def build_plan(params: Any, spec: Any, benchmark: str, items: list[dict]) -> EvalPlan:
    ep = params.evaluate
    samp = sampling_of(spec, ep)
    # a local directory's id includes a digest of its contents: `ded sft` rewrites models/student in place,
    # and the retrained weights must neither resume nor be scored with the old weights' samples
    ident = model_identity(spec.model)
    rid = run_id_for(spec.name, ident, benchmark, samp["temperature"], samp["top_p"], samp["max_tokens"], ep.seed)
    plan = EvalPlan(spec.name, spec.model, benchmark, rid, samp, ep.n, ep.seed, items, {})
    for item in items:
        row, gold = prompt_and_gold(item, ep.seed)
        plan.golds[item["item_id"]] = gold
        messages = render_messages(row, params)
        for i in range(ep.n):
            sampling = Sampling(temperature=samp["temperature"], top_p=samp["top_p"],
                                max_tokens=samp["max_tokens"], seed=ep.seed + i)
            fp = fingerprint(f"{spec.name}|{ident}", messages, sampling, i)
            plan.requests.append(GenRequest(key=fp, messages=messages, sampling=sampling, sample_idx=i,
                                            meta={"item_id": item["item_id"]}))
    return plan


def sample_row(plan: EvalPlan, item_id: str, sample_idx: int, response: str, *, n_tokens: int | None = None,
               finish_reason: str = "stop", fp: str | None = None, gen_params: dict | None = None) -> dict:
    """An ungraded eval_samples row."""
    _reasoning, _final, closed = split_reasoning(response)
    return {"run_id": plan.run_id, "benchmark": plan.benchmark, "item_id": item_id, "sample_idx": sample_idx,
            "model": plan.model, "response": response, "extracted": None, "correct": None, "n_tokens": n_tokens,
            "fingerprint": fp, "finish_reason": finish_reason, "closed": closed, "model_id": plan.model_id,
            "gen_params": json.dumps(gen_params or plan.sampling, sort_keys=True), "status": None,
            "detail": None, "verifier": None, "verifier_version": None, "tests_passed": None,
            "tests_total": None, "created_at": now(), "graded_at": None}


def row_maker(plan: EvalPlan):
    def to_row(req: GenRequest, res: GenResult) -> dict:
        return sample_row(plan, req.meta["item_id"], req.sample_idx, res.text, n_tokens=res.completion_tokens,
                          finish_reason=res.finish_reason, fp=req.key, gen_params=req.sampling.as_dict())
    return to_row


def run_filter(run_id: str) -> str:
    return "run_id = '" + run_id.replace("'", "''") + "'"


def grade_run(lake: Lake, plan: EvalPlan, workers: int | None = None, force: bool = False) -> int:
    """Grade the run's samples that lack a grade from the current verifier versions; returns how many."""
    if not lake.exists("eval_samples"):
        return 0
    rows = lake.read("eval_samples", filter=run_filter(plan.run_id)).to_pylist()
    todo = []
    for r in rows:
        gold = plan.golds.get(r["item_id"])
        if gold is None:
            continue  # an item no longer in the benchmark's selection: kept, not graded again
        current = VERIFIER_VERSIONS[verifier_for(gold["domain"])]
        if force or r.get("graded_at") is None or r.get("verifier_version") != current:
            todo.append((r, gold))
    if not todo:
        return 0
    # chunks commit as they finish (an interrupted grading keeps what it graded); one math-verify pool for all
    with MathPool(workers) as pool, progress(total=len(todo), desc=f"grade {plan.benchmark}", unit="samples") as bar:
        for start in range(0, len(todo), GRADE_CHUNK):
            chunk = todo[start:start + GRADE_CHUNK]
            results = grade_many([{**{k: v for k, v in g.items() if k != "options"}, "response": r["response"]}
                                  for r, g in chunk], workers=workers, show_progress=False, math_pool=pool)
            out = []
            for (r, gold), v in zip(chunk, results):
                if gold.get("options") and v.get("status") in ("no_answer", "parse_error"):
                    v = {**v, **(choice.option_text_fallback(r["response"], gold["options"], gold["answer"]) or {})}
                r.update({k: v.get(k) for k in GRADE_COLUMNS if k in v})
                if v.get("extracted") is not None:
                    r["extracted"] = str(v["extracted"])
                r["graded_at"] = now()
                out.append(r)
            lake.merge("eval_samples", out, update=True)
            bar.advance(len(out))
    return len(todo)
