"""s1k: simplescaling/s1K and s1K-1.1 rows."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    Traj,
    _bool,
    _filled,
    _metadata,
    _str,
    _text,
)
from ded.text import last_boxed


def reference_from_solution(solution: str | None) -> tuple[str | None, str | None]:
    """s1K has no answer field: its `solution` is the reference, a worked solution ending in `\\boxed{}`
    (NuminaMath, MATH) or the bare answer (AIME's "128"). (answer, where) from it: the last `\\boxed{}`, else
    the whole solution when it is one short line; else (None, None), and the math verifier calls it
    undecidable (a judge can still grade it)."""
    if not solution or not solution.strip():
        return None, None
    boxed = last_boxed(solution)
    if boxed:
        return boxed, "solution:boxed"
    s = solution.strip()
    if len(s) <= 64 and "\n" not in s:
        return s, "solution:short"
    return None, None


S1K_TEACHERS = (  # (reasoning field, answer field, model name, grade field)
    ("thinking_trajectories", "attempt", "gemini-2.0-flash-thinking", None),
    ("gemini_thinking_trajectory", "gemini_attempt", "gemini-2.0-flash-thinking", "gemini_grade"),
    ("deepseek_thinking_trajectory", "deepseek_attempt", "deepseek-r1", "deepseek_grade"),
)


def s1k(rec: dict[str, Any], kind: str) -> Parsed:
    """simplescaling/s1K and s1K-1.1: question, solution, thinking trajectories and attempts per teacher."""
    if not rec.get("question"):
        raise Reject("missing required field: question")
    cot = rec.get("cot_type")
    domain = {"math": "math", "science": "science", "crossword": "other"}.get(str(cot), "math" if cot is None else "other")
    p = Parsed(problem=_text(rec["question"], "question"), domain=domain, solution=_str(rec.get("solution"), "solution"))
    p.metadata = _metadata(rec, {"question", "solution"})
    p.answer, where = reference_from_solution(p.solution)
    if where:
        p.metadata["answer_field"] = where
    if kind == "trajectories":
        seen = set()
        for rk, ak, model, gk in S1K_TEACHERS:
            if rec.get(rk) is None or model in seen:
                continue
            seen.add(model)
            thinking = rec[rk]
            thinking = "\n".join(map(str, thinking)) if isinstance(thinking, list) else _text(thinking, rk)
            final = _str(rec.get(ak), ak) or ""
            grade = rec.get(gk) if gk else None
            p.trajectories.append(Traj(f"<think>\n{thinking}\n</think>\n\n{final}", 0, model, reasoning=thinking,
                                       final=final, correct=_bool(grade) if isinstance(grade, (bool, str)) and str(grade).lower() in ("yes", "no", "true", "false") else None))
        if not p.trajectories:
            raise Reject("missing required field: thinking_trajectories (or gemini_/deepseek_thinking_trajectory)")
    return p


PRESET = Preset(name="s1k", parse=s1k, trajectories=True, problem_keys=("question",),
                response_field=lambda rec: next((rk for rk, *_ in S1K_TEACHERS if _filled(rec.get(rk))), None),
                doc="s1K and s1K-1.1: question, solution, thinking trajectories and attempts per teacher")
