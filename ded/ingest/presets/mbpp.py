"""mbpp: MBPP and MBPP sanitized rows."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    _generic_trajs,
    _list,
    _literal,
    _metadata,
    _str,
    _text,
)


def mbpp_problem(rec: dict[str, Any]) -> str | None:
    """MBPP's prompt as its paper gives it: the task text, then the tests the code must pass (they name the function)."""
    text = rec.get("text") or rec.get("prompt")
    tests = _literal(rec.get("test_list"))
    if not text or not isinstance(tests, list):
        return text
    return f"{text}\nYour code should pass these tests:\n\n" + "\n".join(map(str, tests))


def mbpp(rec: dict[str, Any], kind: str) -> Parsed:
    """MBPP (text, code, test_list, test_setup_code, challenge_test_list) and MBPP sanitized (prompt, code,
    test_imports, test_list): one `script` test of the imports, the setup and the asserts of `test_list`
    (`challenge_test_list` is kept apart, as MBPP's evaluation does: its count goes to metadata)."""
    problem = mbpp_problem(rec)
    if not problem:
        raise Reject("missing required field: text (or prompt)")
    asserts = _list(rec, "test_list")
    if not asserts or not all(isinstance(a, str) for a in asserts):
        raise Reject("missing required field: test_list (a list of assert lines)")
    imports = _list(rec, "test_imports")
    setup = _str(rec.get("test_setup_code"), "test_setup_code") or ""
    script = "\n".join(x for x in [*map(str, imports), setup.strip("\n"), *asserts] if x) + "\n"
    p = Parsed(problem=_text(problem, "text"), domain="code", source_id=_str(rec.get("task_id"), "task_id"),
               solution=_str(rec.get("code"), "code"), tests=[{"script": script, "testtype": "script"}])
    p.metadata = _metadata(rec, {"text", "prompt", "task_id", "code"})
    p.metadata["challenge_tests"] = len(_list(rec, "challenge_test_list"))
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="mbpp", parse=mbpp, problem=mbpp_problem,
                looks_like=lambda rec: "test_list" in rec and ("text" in rec or "prompt" in rec),
                doc="MBPP (and sanitized): text or prompt, code, test_list asserts as one script test")
