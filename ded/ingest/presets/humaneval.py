"""humaneval: HumanEval rows (prompt, entry_point, canonical_solution, test)."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    _generic_trajs,
    _str,
    _text,
)


def humaneval(rec: dict[str, Any], kind: str) -> Parsed:
    """HumanEval: prompt (signature + docstring), entry_point, canonical_solution, test (check(candidate))."""
    for k in ("prompt", "entry_point", "test"):
        if not rec.get(k):
            raise Reject(f"missing required field: {k}")
    p = Parsed(problem=_text(rec["prompt"], "prompt"), domain="code", source_id=_str(rec.get("task_id"), "task_id"),
               solution=_str(rec.get("canonical_solution"), "canonical_solution"),
               tests=[{"script": _str(rec["test"], "test"), "testtype": "script"}],
               starter_code=rec["prompt"], entry_point=_str(rec["entry_point"], "entry_point"))
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="humaneval", parse=humaneval, problem_keys=("prompt",),
                doc="HumanEval: prompt, entry_point, canonical_solution, test (check(candidate))")
