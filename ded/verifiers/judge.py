"""LLM-as-judge: a model compares a response's final answer with the reference (DED uses one beside rules).

Off by default (`verify.judge.enabled`). The judge is any model in `models`, called through the
generation backends (`ded.backends.get_backend`), greedy (temperature 0); its prompt is the Jinja
template `verify.judge.template` (prompts/judge.jinja). Its raw answer is stored in `detail`
(verifier 'judge'); the verdict is read from the last "VERDICT: CORRECT|INCORRECT" line. An answer
without that line (garbage), a failed request, a backend that cannot start or raises, or no answer at
all is an infrastructure failure: `status=error`, `correct=None`, `detail` starts "infrastructure
failure: " and says why (`infra=True` in the result, so `ded verify` stops past
`verify.max_infra_failure_share` and regrades it next run), never a silent False. The version hashes
the judge model and the template, so changing either re-judges.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ded.backends import GenRequest, Sampling, get_backend
from ded.ids import stable_hash
from ded.verifiers.extract import final_text
from ded.verifiers.infra import failure

_VERDICT = re.compile(r"VERDICT:\s*\**\s*(CORRECT|INCORRECT)\b", re.IGNORECASE)


def _template_path(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else Path(__file__).resolve().parents[2] / p


def judge_version(cfg: Any, spec: Any) -> str:
    text = _template_path(cfg.template).read_text()
    return "judge-1:" + stable_hash({"model": spec.model, "name": spec.name, "template": text}, n=12)


def render(cfg: Any, row: dict) -> str | None:
    """The judge's user turn for one trajectory, or None when there is nothing to judge."""
    import jinja2

    final, closed = final_text(row.get("response"))
    if not closed or not final.strip():
        return None
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    tmpl = env.from_string(_template_path(cfg.template).read_text())
    return tmpl.render(problem=row.get("problem") or "", reference=row.get("answer") or "",
                       response=final[-cfg.max_response_chars:])


def parse_judgement(text: str | None) -> tuple[str, bool | None]:
    found = _VERDICT.findall(text or "")
    if not found:
        return "error", None
    ok = found[-1].upper() == "CORRECT"
    return ("correct" if ok else "wrong"), ok


def judge_rows(rows: list[dict], params: Any, backend: Any = None) -> list[dict]:
    """Judge verdict fields for each row (trajectory_id, response, problem, answer), in order."""
    cfg = params.verify.judge
    if not cfg.model:
        raise ValueError("verify.judge.enabled is true but verify.judge.model is not set; name a model from `models`")
    spec = params.model(cfg.model)
    version = judge_version(cfg, spec)
    out: list[dict | None] = [None] * len(rows)
    reqs = []
    for i, row in enumerate(rows):
        prompt = render(cfg, row)
        if prompt is None:
            out[i] = {"status": "no_answer", "correct": False, "detail": "no final answer to judge"}
            continue
        reqs.append(GenRequest(key=str(i), messages=[{"role": "user", "content": prompt}],
                               sampling=Sampling(temperature=0.0, top_p=1.0, max_tokens=cfg.max_tokens, seed=0)))
    def infra(why: str) -> dict:
        return {"status": "error", "correct": None, "detail": failure(why), "infra": True}

    if reqs:
        own = backend is None
        try:
            backend = backend or get_backend(spec)
        except Exception as e:  # noqa: BLE001 - any backend failure is the judge's, not the trajectory's
            backend, why = None, f"judge backend {spec.name!r} could not start ({type(e).__name__}: {str(e)[:300]}); fix models.{spec.name}"
            for r in reqs:
                out[int(r.key)] = infra(why)
        try:
            for res in backend.generate(reqs) if backend is not None else ():
                try:
                    i = int(res.key)
                    if not 0 <= i < len(out) or out[i] is not None:
                        continue
                except (TypeError, ValueError, IndexError):
                    continue  # a result for no request of ours: ignored (the request stays unanswered)
                if not res.ok:
                    out[i] = infra(f"judge request failed: {str(res.error)[:300]}")
                    continue
                status, ok = parse_judgement(res.text if isinstance(res.text, str) else None)
                raw = json.dumps({"judge": spec.name, "raw": res.text if isinstance(res.text, str) else repr(res.text)})
                if status == "error":
                    out[i] = infra(f"the judge's answer has no 'VERDICT: CORRECT|INCORRECT' line; {raw}")
                else:
                    out[i] = {"status": status, "correct": ok, "detail": raw, "infra": False}
        except Exception as e:  # noqa: BLE001 - the backend raised: the rows it did not answer are undecided
            why = f"judge backend {spec.name!r} failed ({type(e).__name__}: {str(e)[:300]})"
            for r in reqs:
                if out[int(r.key)] is None:
                    out[int(r.key)] = infra(why)
        finally:
            if own and backend is not None and hasattr(backend, "close"):
                backend.close()
    return [{"infra": False, **(o or infra("the judge backend returned no result for this request")),
             "extracted": None, "tests_passed": None, "tests_total": None, "verifier": "judge",
             "verifier_version": version} for o in out]
