"""codeforces: open-r1/codeforces rows (and codeforces-cots rows, which repeat its fields)."""

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
    normalize_tests,
)


def codeforces_problem(rec: dict[str, Any]) -> str | None:
    """open-r1/codeforces: the statement from its parts (title, description, input/output format, examples,
    note), the same for its codeforces-cots rows, so both map onto one question."""
    if not rec.get("description"):
        return None
    parts = [f"# {rec['title']}" if rec.get("title") else None, rec["description"],
             f"## Input Format\n{rec['input_format']}" if rec.get("input_format") else None,
             f"## Output Format\n{rec['output_format']}" if rec.get("output_format") else None,
             f"## Interaction Format\n{rec['interaction_format']}" if rec.get("interaction_format") else None]
    ex = _literal(rec.get("examples"))
    for i, e in enumerate(ex if isinstance(ex, list) else []):
        if isinstance(e, dict):
            parts.append(f"## Example {i + 1}\nInput:\n{e.get('input', '')}\nOutput:\n{e.get('output', '')}")
    if rec.get("note"):
        parts.append(f"## Note\n{rec['note']}")
    return "\n\n".join(str(x).strip() for x in parts if x)


def codeforces(rec: dict[str, Any], kind: str) -> Parsed:
    """open-r1/codeforces (and codeforces-cots rows, which repeat its fields): `official_tests` [{input, output}]
    (the `examples` when there are none) as stdin tests. Refused, with the reason: problems graded by their
    `generated_checker` (several outputs are right; checkers are not run, and an exact comparison would grade
    right programs wrong), interactive problems, and `input_mode` file (the sandbox feeds stdin)."""
    problem = codeforces_problem(rec)
    if not problem:
        raise Reject("missing required field: description")
    if rec.get("interaction_format"):
        raise Reject("interactive problem (interaction_format): interactive judging is not supported")
    if rec.get("input_mode") not in (None, "", "stdio"):
        raise Reject(f"input_mode {rec.get('input_mode')!r}: the program reads/writes files; only stdio is supported")
    if rec.get("generated_checker"):
        raise Reject("graded by a checker (generated_checker): several outputs can be right and checkers are not "
                     "run, so an exact-output comparison would grade right programs wrong")
    official = rec.get("official_tests")
    tests = normalize_tests(official) or normalize_tests(rec.get("examples"))
    p = Parsed(problem=problem, domain="code", source_id=_str(rec.get("id"), "id"), tests=tests,
               solution=_str(rec.get("editorial") or None, "editorial"))
    p.metadata = _metadata(rec, {"id", "description", "title", "input_format", "output_format", "note", "editorial",
                                 "prompt", "generation"})
    p.metadata["tests_from"] = "official_tests" if normalize_tests(official) else ("examples" if tests else None)
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="codeforces", parse=codeforces, problem=codeforces_problem,
                looks_like=lambda rec: bool(rec.get("description")) and "official_tests" in rec,
                doc="open-r1/codeforces: statement parts, official_tests as stdin tests (checker and interactive problems refused)")
