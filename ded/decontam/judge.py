"""An LLM judge for candidate contamination pairs (`decontam.judge`: a model name from `models`, null = off).

The question is LMSYS llm-decontaminator's ("are these the same problem, up to rewording?"), as a versioned
Jinja template (prompts/decontam_judge.jinja, `decontam.judge_template`). The judge runs through ded's
generation backends (`ded.backends.get_backend`: an OpenAI-compatible endpoint, vLLM, transformers), greedy,
on the candidate pairs of `ded.decontam.decontaminate` only. Its verdict is read from the last
"VERDICT: SAME|DIFFERENT" line.

Every answer is cached in the lake table `decontam_judgements` under a fingerprint of (judge model, template
text, item text, question text): a rerun, or a run after new questions arrive, asks the judge only about
pairs it has not seen, and changing the judge model or the prompt asks again. A failed request or an answer
without a verdict line is not cached and leaves the pair to the offline verdict (`verdict` None, `error` set):
never a silent "different".
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ded.backends import GenRequest, Sampling, get_backend
from ded.ids import stable_hash

TABLE = "decontam_judgements"
_VERDICT = re.compile(r"VERDICT:\s*\**\s*(SAME|DIFFERENT)\b", re.IGNORECASE)
_REPO = Path(__file__).resolve().parents[2]


def template_path(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else _REPO / p


def fingerprint(spec: Any, template_text: str, item: str, question: str) -> str:
    return stable_hash({"judge": spec.name, "model": spec.model, "template": template_text, "item": item,
                        "question": question}, n=24)


def parse(text: str | None) -> str | None:
    found = _VERDICT.findall(text or "")
    return found[-1].lower() if found else None


def _schema() -> pa.Schema:
    s = pa.string()
    return pa.schema([("fingerprint", s), ("judge", s), ("judge_model", s), ("template_hash", s),
                      ("benchmark", s), ("item_id", s), ("question_id", s), ("verdict", s), ("raw", s),
                      ("judged_at", pa.timestamp("us", tz="UTC"))])


def cached(lake, prints: set[str]) -> dict[str, dict]:
    if not prints or not lake.exists(TABLE):
        return {}
    import pyarrow.compute as pc

    want = pa.array(sorted(prints), pa.string())
    out = {}
    for b in lake.scan(TABLE, columns=["fingerprint", "verdict", "judge"]):
        b = b.filter(pc.is_in(b.column("fingerprint"), want))
        for f, v, j in zip(*(b.column(c).to_pylist() for c in ("fingerprint", "verdict", "judge"))):
            out[f] = {"verdict": v, "judge": j}
    return out


def judge_pairs(lake, pairs: list[tuple[str, int]], q_texts: dict[str, str], items: list[dict], *, spec: Any,
                template: str = "prompts/decontam_judge.jinja", max_tokens: int = 512, backend: Any = None
                ) -> dict[tuple[str, int], dict]:
    """{pair: {verdict: same|different|None, judge, fingerprint, called, error}} for each (question_id, item
    index) pair; only pairs without a cached verdict are sent to the judge, and their verdicts are stored."""
    import jinja2


    text = template_path(template).read_text()
    tmpl = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text)
    prints = {p: fingerprint(spec, text, items[p[1]]["problem"] or "", q_texts.get(p[0], "")) for p in pairs}
    have = cached(lake, set(prints.values()))
    out: dict[tuple[str, int], dict] = {}
    todo: dict[str, tuple[str, int]] = {}
    for p, f in prints.items():
        if f in have:
            out[p] = {"verdict": have[f]["verdict"], "judge": have[f]["judge"], "fingerprint": f, "called": False}
        else:
            todo.setdefault(f, p)
    if not todo:
        return out
    reqs = [GenRequest(key=f, messages=[{"role": "user", "content": tmpl.render(
                item=items[p[1]]["problem"] or "", question=q_texts.get(p[0], "")).strip()}],
                       sampling=Sampling(temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0))
            for f, p in todo.items()]
    answers: dict[str, tuple[str | None, str | None]] = {}
    own = backend is None
    try:
        backend = backend or get_backend(spec)
        for res in backend.generate(reqs):
            if res.key not in todo:
                continue
            if not res.ok:
                answers[res.key] = (None, f"judge request failed: {str(res.error)[:300]}")
            else:
                v = parse(res.text if isinstance(res.text, str) else None)
                answers[res.key] = (v, res.text) if v else (
                    None, f"no 'VERDICT: SAME|DIFFERENT' line in the judge's answer: {str(res.text)[:300]!r}")
    finally:
        if own and backend is not None and hasattr(backend, "close"):
            backend.close()
    now = datetime.now(UTC)
    rows = []
    thash = stable_hash(text, n=12)
    for f, p in todo.items():
        v, detail = answers.get(f, (None, "the judge returned no result for this pair"))
        out[p] = {"verdict": v, "judge": spec.name, "fingerprint": f, "called": True,
                  "error": None if v else detail}
        if v:
            rows.append({"fingerprint": f, "judge": spec.name, "judge_model": spec.model, "template_hash": thash,
                         "benchmark": items[p[1]]["benchmark"], "item_id": items[p[1]]["item_id"],
                         "question_id": p[0], "verdict": v, "raw": json.dumps({"raw": detail})[:4000],
                         "judged_at": now})
    # pairs that share a fingerprint (the same texts under two ids) reuse the one answer
    for p, f in prints.items():
        if p not in out:
            out[p] = {**out[todo[f]], "called": False}
    if rows:
        lake.merge(TABLE, pa.Table.from_pylist(rows, schema=_schema()), on=["fingerprint"])
    return out
