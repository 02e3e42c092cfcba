"""apps: APPS (codeparrot/apps) rows; TACO shares the shape (taco.py)."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    _generic_trajs,
    _literal,
    _metadata,
    _str,
    _text,
    normalize_tests,
)


def apps(rec: dict[str, Any], kind: str) -> Parsed:
    """APPS (codeparrot/apps) and TACO (BAAI/TACO): question, solutions (JSON list), starter_code, input_output
    (JSON {inputs, outputs[, fn_name]}: stdin tests, or call-based tests of `fn_name` with argument lists)."""
    problem = rec.get("question")
    if not problem:
        raise Reject("missing required field: question")
    tests = normalize_tests(rec.get("input_output"))
    starter = _str(rec.get("starter_code"), "starter_code") or None
    sols = _literal(rec.get("solutions"))
    p = Parsed(problem=_text(problem, "question"), domain="code",
               source_id=_str(rec.get("problem_id") if rec.get("problem_id") is not None else rec.get("id"), "problem_id"),
               tests=tests, starter_code=starter,
               entry_point=next((t["fn_name"] for t in tests or [] if t.get("fn_name")), None),
               solution=_str(sols[0], "solutions") if isinstance(sols, list) and sols else _str(sols or None, "solutions"),
               license=_str(rec.get("license"), "license"))
    p.metadata = _metadata(rec, {"question", "problem_id", "id"})
    if isinstance(sols, list):
        p.metadata["n_solutions"] = len(sols)
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="apps", parse=apps, problem_keys=("question",),
                doc="APPS: question, solutions, starter_code, input_output (stdin or call-based tests)")
