"""openr1-math: open-r1/OpenR1-Math-220k rows."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    Traj,
    _answer,
    _bool,
    _filled,
    _list,
    _metadata,
    _str,
    _text,
)


def openr1_math(rec: dict[str, Any], kind: str) -> Parsed:
    """open-r1/OpenR1-Math-220k: problem, answer, solution, generations[], correctness_math_verify[]."""
    if not rec.get("problem"):
        raise Reject("missing required field: problem")
    p = Parsed(problem=_text(rec["problem"], "problem"), domain="math", source_id=_str(rec.get("uuid"), "uuid"),
               answer=_answer(rec.get("answer")), solution=_str(rec.get("solution"), "solution"))
    p.metadata = _metadata(rec, {"problem", "answer", "solution", "uuid"})
    if kind == "trajectories":
        gens = _list(rec, "generations")
        if not gens:
            raise Reject("missing required field: generations")
        ok = _list(rec, "correctness_math_verify")
        fr = _list(rec, "finish_reasons")
        for i, g in enumerate(gens):
            p.trajectories.append(Traj(_text(g, "generations"), i, rec.get("model"),
                                       finish_reason=_str(fr[i], "finish_reasons") if i < len(fr) else None,
                                       correct=_bool(ok[i]) if i < len(ok) else None))
    return p


PRESET = Preset(name="openr1-math", parse=openr1_math, trajectories=True, problem_keys=("problem",),
                response_field=lambda rec: "generations" if _filled(rec.get("generations")) else None,
                doc="OpenR1-Math-220k: problem, answer, solution, generations[], correctness_math_verify[]")
