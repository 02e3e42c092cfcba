"""lcb: LiveCodeBench rows (question_content, starter_code, public/private tests, metadata.func_name)."""

from __future__ import annotations

from typing import Any

from ded.ingest import code_tests
from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    _func_name,
    _generic_trajs,
    _metadata,
    _starter_method,
    _str,
    _text,
    normalize_tests,
)


def lcb(rec: dict[str, Any], kind: str) -> Parsed:
    """LiveCodeBench rows: question_content, starter_code, tests (stdin and functional) as the joined files
    (`public_tests`) or the release (`public_test_cases` JSON, `private_test_cases` base64+zlib+pickle, decoded
    without running pickled code) name them; `metadata.func_name` names the functional tests' method."""
    problem = rec.get("question_content")
    if not problem:
        raise Reject("missing required field: question_content")
    fn = _func_name(rec.get("metadata"))
    tests = normalize_tests(rec.get("public_tests") if rec.get("public_tests") is not None else rec.get("public_test_cases"), fn) or []
    private = rec.get("private_tests") if rec.get("private_tests") is not None else rec.get("private_test_cases")
    if private:
        try:
            private = code_tests.decode_lcb_private(private)
        except code_tests.TestShapeError as e:
            raise Reject(str(e)) from None
        tests += normalize_tests(private, fn) or []
    starter = rec.get("starter_code") or None
    p = Parsed(problem=_text(problem, "question_content"), domain="code", source_id=_str(rec.get("question_id"), "question_id"),
               tests=tests or None, starter_code=starter, entry_point=fn or _starter_method(starter))
    p.metadata = _metadata(rec, {"question_content", "question_id"})
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


PRESET = Preset(name="lcb", parse=lcb, problem_keys=("question_content",),
                doc="LiveCodeBench: question_content, starter_code, public and private tests, metadata.func_name")
