"""qwen-math-eval: the Qwen2.5-Math evaluation harness's rows (question, gt, answer, code[] responses, pred[], score[])."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    _LETTER_ANSWER,
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
    gsm8k_split,
)


def harness_reference(rec: dict[str, Any]) -> tuple[Any, str]:
    """(reference answer, where it came from) for a Qwen2.5-Math harness row.

    The harness stores `gt`, its own normal form of the reference (`strip_string` in its parser.py), and
    copies the source example's `answer` when the source has one. `gt` is lossy: it deletes any unit word
    of its list that stands alone, `a` among them (`(a+5)(b+2)` → `(+5)(b+2)`), all spaces (`\\cot x` →
    `\\cotx`), and `\\\\` in some matrices; so the source's `answer` wins when it is the final answer.
    Two sources' `answer` is not: GSM8K's is the whole solution ending `#### 72` (its last line is the
    answer) and MMLU-STEM's an option index (0–3) whose letter is `gt`; there, and when `answer` is
    absent, `gt` is what there is."""
    gt, ans = rec.get("gt"), rec.get("answer")
    if ans is None or ans == "" or isinstance(ans, (list, dict)):
        return gt, "gt:no_answer_field" if gt not in (None, "") else "none"
    split = gsm8k_split(ans)
    if split:
        return split[1], "answer:gsm8k_final_line"
    if isinstance(ans, (int, float)) and not isinstance(ans, bool) and isinstance(gt, str) and _LETTER_ANSWER.match(gt.strip()):
        return gt, "gt:answer_is_option_index"
    return ans, "answer"


def qwen_math_eval(rec: dict[str, Any], kind: str) -> Parsed:
    """Qwen2.5-Math evaluation-harness rows: question, gt, answer, code[] (responses), pred[], score[].

    The reference is the source's `answer` (see `harness_reference`); the harness's `gt` is kept in
    metadata as `harness_gt`, and `answer_field` says which field the answer came from."""
    problem = rec.get("question") or rec.get("problem")
    if not problem:
        raise Reject("missing required field: question")
    codes = _list(rec, "code")
    preds = _list(rec, "pred")
    scores = _list(rec, "score")
    if kind == "trajectories" and not codes:
        raise Reject("missing required field: code (the list of responses)")
    ref, where = harness_reference(rec)
    p = Parsed(problem=_text(problem, "question"), domain="math", source_id=_str(rec.get("idx"), "idx"),
               answer=_answer(ref), solution=_str(rec.get("solution"), "solution"))
    p.metadata = _metadata(rec, {"question", "gt", "idx"})
    if rec.get("gt") not in (None, ""):
        p.metadata["harness_gt"] = _answer(rec["gt"])
    p.metadata["answer_field"] = where
    if kind == "trajectories":
        for i, c in enumerate(codes):
            p.trajectories.append(Traj(_text(c, "code"), i, None, correct=_bool(scores[i]) if i < len(scores) else None,
                                       extracted=_str(preds[i], "pred") if i < len(preds) else None))
    return p


PRESET = Preset(name="qwen-math-eval", parse=qwen_math_eval, trajectories=True, problem_keys=("question", "problem"),
                response_field=lambda rec: "code" if _filled(rec.get("code")) else None,
                doc="Qwen2.5-Math evaluation harness dumps (SkyThought evals): question, gt, answer, code[] responses, score[]")
