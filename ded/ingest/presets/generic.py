"""generic: any JSON/JSONL/Parquet rows with the common field names (problem/question/prompt, answer, solution, tests, response(s), messages)."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    ANSWER_KEYS,
    ID_KEYS,
    PROBLEM_KEYS,
    SOLUTION_KEYS,
    Parsed,
    Preset,
    Reject,
    _answer,
    _first,
    _generic_trajs,
    _metadata,
    _str,
    _text,
    gsm8k_split,
    normalize_tests,
)


def generic(rec: dict[str, Any], kind: str) -> Parsed:
    pk, problem = _first(rec, PROBLEM_KEYS)
    qid = rec.get("question_id") if kind == "trajectories" and not problem else None
    if problem is None and qid is None:
        raise Reject(f"missing required field: problem (looked for {', '.join(PROBLEM_KEYS)})")
    if isinstance(problem, list) and problem and all(isinstance(m, dict) and "role" in m for m in problem):
        users = [m.get("content") for m in problem if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            raise Reject("prompt is a list without a user message")
        problem = users[-1]
    ak, answer = _first(rec, ANSWER_KEYS)
    sk, solution = _first(rec, SOLUTION_KEYS)
    ik, sid = _first(rec, ID_KEYS)
    tests = normalize_tests(rec.get("tests") or rec.get("public_tests") or rec.get("test") or rec.get("input_output")
                            or rec.get("test_list"))
    p = Parsed(problem=_text(problem, pk or "problem"), question_id=_str(qid, "question_id"),
               domain=_str(rec.get("domain"), "domain"), source_id=_str(sid, ik or "id"),
               answer=_answer(answer), solution=_str(solution, sk or "solution"), tests=tests,
               starter_code=_str(rec.get("starter_code"), "starter_code"),
               entry_point=_str(rec.get("entry_point"), "entry_point"),
               license=_str(rec.get("license"), "license"))
    if p.domain is None and (tests or p.starter_code):
        p.domain = "code"
    p.metadata = _metadata(rec, {k for k in (pk, ak, sk, ik) if k})
    split = gsm8k_split(answer)
    if split:  # GSM8K: `answer` is the solution and its `#### 72` line the final answer
        p.answer = split[1]
        p.solution = p.solution or split[0]
        p.metadata["answer_field"] = f"{ak}:gsm8k_final_line"
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="generic", parse=generic, doc="rows with the common field names: problem/question/prompt, answer, solution, tests, response(s) or messages")
