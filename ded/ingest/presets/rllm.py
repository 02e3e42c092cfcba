"""rllm: the rllm math and code pools (and their verl parquet form)."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    _answer,
    _chat_user,
    _func_name,
    _generic_trajs,
    _literal,
    _metadata,
    _starter_method,
    _str,
    _text,
    normalize_tests,
)


def rllm(rec: dict[str, Any], kind: str) -> Parsed:
    """rllm math and code pools: problem, answer (OlympiadBench: a list), tests in every shape of its code splits
    (codeforces `[{input, output}]`, code_contests/taco/apps `{inputs, outputs[, fn_name]}`, primeintellect
    `[{type, input, output, fn_name}]`, livecodebench `[{input, output, testtype, metadata}]` with `starter_code`,
    leetcode `{functional: script}`, humanevalplus test code); the verl parquet form (`prompt` chat,
    `reward_model.ground_truth`) too."""
    problem = rec.get("problem") or _chat_user(rec.get("prompt"))
    if not problem:
        raise Reject("missing required field: problem")
    raw_tests = rec.get("tests")
    rm = rec.get("reward_model")
    if raw_tests is None and isinstance(rm, dict) and rec.get("ability") == "code":
        raw_tests = rm.get("ground_truth")
    fn = _func_name(rec.get("metadata"))
    tests = normalize_tests(raw_tests, fn)
    starter = _str(rec.get("starter_code"), "starter_code") or None
    p = Parsed(problem=_text(problem, "problem"), domain="code" if tests else "math",
               source_id=_str(rec.get("id") or rec.get("unique_id"), "id"), answer=_answer(rec.get("answer")),
               tests=tests, starter_code=starter,
               entry_point=fn or next((t["fn_name"] for t in tests or [] if t.get("fn_name")), None) or _starter_method(starter))
    sol = _literal(rec.get("solution") if rec.get("solution") is not None else rec.get("solutions"))
    p.solution = "\n\n".join(map(str, sol)) if isinstance(sol, list) else _str(sol, "solution")
    p.metadata = _metadata(rec, {"problem", "answer", "id", "unique_id"})
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="rllm", parse=rllm, problem_keys=("problem", "prompt"),
                doc="rllm math and code pools: problem, answer, tests in each code split's shape; the verl parquet form too")
