"""Verifiers: math answers (math-verify in worker processes), code (sandboxed), format, LLM judge.

The one entry point other stages call is `grade_many` (see docs/verification.md):

    from ded.verifiers import grade_many
    results = grade_many([{"domain": "math", "response": "... \\\\boxed{25}", "answer": "025"}])
    # [{"status": "correct", "correct": True, "extracted": "25", "verifier": "math", ...}]

Routing by item: `domain == "code"` → code verifier (extract the program, run the tests); anything
else → math verifier; a gold that is one letter A–J is graded as multiple choice (the letter is
read with `ded.verifiers.choice.extract_letter`). Heavy parts (math-verify, the sandbox server)
start only when an item needs them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from ded.progress import progress
from ded.verifiers.code import VERSION as CODE_VERSION
from ded.verifiers.extract import extract_code, extract_math, final_text
from ded.verifiers.infra import is_failure
from ded.verifiers.math import DEFAULT_TIMEOUT_S
from ded.verifiers.math import VERSION as MATH_VERSION

VERIFIER_VERSIONS = {"math": MATH_VERSION, "code": CODE_VERSION}
NO_QUESTION_VERSION = "none-1"  # verifier 'none': the trajectory's question is missing (sql/verify/pending.sql)
_LETTER_GOLD = re.compile(r"^\s*\(?([A-J])\)?\s*$")


def verifier_for(domain: str | None) -> str:
    return "code" if domain == "code" else "math"


def _ungradable(item: dict) -> dict | None:
    """The verdict of an item there is nothing to grade against, or None: its question is missing
    (`question_missing`, from the stage's query) → verifier `none`, status `no_question`; a question with
    no reference (math: no answer; code: no tests) → status `no_reference`. `correct` is None: not a
    wrong answer, and not a failure of the verifier either."""
    base = {"correct": None, "extracted": None, "tests_passed": None, "tests_total": None}
    if item.get("question_missing"):
        return {**base, "status": "no_question", "verifier": "none", "verifier_version": NO_QUESTION_VERSION,
                "detail": f"question {item.get('question_id')!r} is not in `questions` (an interrupted ingest, or a "
                          "deleted question): rerun `ded ingest` of its source, then `ded verify`"}
    v = verifier_for(item.get("domain"))
    if v == "math" and not str(item.get("answer") or "").strip():
        why = "the question has no reference answer (nor tests): nothing to grade against"
        extracted = _math_extract(item)[0]  # still extracted: answer agreement needs no gold
    elif v == "code" and str(item.get("tests") or "").strip() in ("", "[]", "{}"):
        why = "the code question has no tests: nothing to run"
        extracted = extract_code(item.get("response"))
    else:
        return None
    return {**base, "status": "no_reference", "extracted": extracted, "detail": why, "verifier": v,
            "verifier_version": VERIFIER_VERSIONS[v]}


def _math_extract(item: dict) -> tuple[str | None, str]:
    m = _LETTER_GOLD.match(str(item.get("answer") or ""))
    if m:
        from ded.verifiers.choice import extract_letter

        final, closed = final_text(item.get("response"))
        letter = extract_letter(final) if closed else None
        return letter, "letter" if letter else ("unclosed_reasoning" if not closed else "no_letter")
    return extract_math(item.get("response"))


def grade_many(items: Iterable[dict], workers: int | None = None, timeout_s: float | None = None,
               show_progress: bool = True, code_timeout_s: float | None = None, float_tol: float = 0.0,
               stop_at_first_failure: bool = True, limits=None, uid_base: int = 61000,
               math_pool=None, on_done: Callable[[int], None] | None = None) -> list[dict]:
    """Grade items; one result dict per item, in order.

    item: domain, response, answer, tests, starter_code, entry_point (choices optional, unused: the
    gold letter is the answer). result: status, correct, extracted, tests_passed, tests_total,
    detail, verifier, verifier_version, infra (True when the verifier's machinery failed, not the item:
    then status is error and correct None). `timeout_s` is the math per-item limit (default 10 s);
    `code_timeout_s` the per-test wall limit (default 6 s, LiveCodeBench's). `on_done(n)` reports
    progress to a caller's bar instead of showing one here; `math_pool` reuses a caller's MathPool.
    """
    from ded.verifiers.code import grade_code, sandbox_failure
    from ded.verifiers.math import grade_math_pairs
    from ded.verifiers.sandbox import Limits, SandboxError, SandboxPool

    items = list(items)
    n_workers = max(1, workers or os.cpu_count() or 1)
    out: list[dict | None] = [_ungradable(it) for it in items]
    math_idx = [i for i, it in enumerate(items) if out[i] is None and verifier_for(it.get("domain")) == "math"]
    code_idx = [i for i, it in enumerate(items) if out[i] is None and verifier_for(it.get("domain")) == "code"]
    own_bar = show_progress and on_done is None
    with (progress(total=len(items), desc="verify", unit="items") if own_bar else nullcontext()) as bar:
        adv = bar.advance if own_bar else on_done
        if adv and len(items) > len(math_idx) + len(code_idx):
            adv(len(items) - len(math_idx) - len(code_idx))
        if math_idx:
            extracted = [_math_extract(items[i]) for i in math_idx]
            pairs = [(items[i].get("answer"), ex) for i, (ex, _how) in zip(math_idx, extracted)]
            res = grade_math_pairs(pairs, pool=math_pool, workers=n_workers,
                                   timeout_s=timeout_s or DEFAULT_TIMEOUT_S, on_done=adv)
            for i, (ex, how), (status, correct, detail) in zip(math_idx, extracted, res):
                if ex is None and how == "unclosed_reasoning":
                    detail = "reasoning never closed (cut off): no answer"
                elif ex is not None:
                    detail = f"{detail}; extracted by {how}"
                out[i] = {"status": status, "correct": correct, "extracted": ex, "tests_passed": None,
                          "tests_total": None, "detail": detail, "verifier": "math",
                          "verifier_version": MATH_VERSION, "infra": is_failure(detail)}
        if code_idx:
            lim = limits or Limits()
            if code_timeout_s:
                lim.timeout_s = code_timeout_s
            try:
                pool = SandboxPool(min(n_workers, len(code_idx)), lim, uid_base)
            except SandboxError as e:  # no sandbox at all (no free uid): every code item is undecided
                for i in code_idx:
                    out[i] = {**sandbox_failure(str(e)), "extracted": extract_code(items[i].get("response")),
                              "verifier": "code", "verifier_version": CODE_VERSION}
                    if adv:
                        adv(1)
                return out  # type: ignore[return-value]
            with pool:
                def one(i: int) -> tuple[int, dict]:
                    it = items[i]
                    program = extract_code(it.get("response"))
                    sb = pool.acquire()
                    try:
                        v = grade_code(sb, program, it.get("tests"), it.get("starter_code"), it.get("entry_point"),
                                       float_tol, stop_at_first_failure)
                    finally:
                        pool.release(sb)
                    return i, {**v, "extracted": program, "verifier": "code", "verifier_version": CODE_VERSION}

                # threads only wait on sandbox servers' pipes; the programs run in the servers' jails
                with ThreadPoolExecutor(len(pool.all)) as ex:
                    for i, v in ex.map(one, code_idx):
                        out[i] = v
                        if adv:
                            adv(1)
    return out  # type: ignore[return-value]


__all__ = ["VERIFIER_VERSIONS", "grade_many", "verifier_for"]
