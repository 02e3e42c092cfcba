"""Verifiers: math answers (math-verify in worker processes), code (sandboxed), format, LLM judge.

The one entry point other stages call is `grade_many` (see docs/verification.md):

    from ded.verifiers import grade_many
    results = grade_many([{"domain": "math", "response": "... \\\\boxed{25}", "answer": "025"}])
    # [{"status": "correct", "correct": True, "extracted": "25", "verifier": "math", ...}]

Routing by item: each verifier is a file here that declares itself (`VERIFIER = Verifier(...)`,
ded/verifiers/base.py) with the question domains it grades: `code.py` the code domain (extract the program,
run the tests), `math.py` every other domain (a gold that is one letter A–J is graded as multiple choice,
the letter read by `ded.verifiers.choice`). The same routes and versions parameterize `ded verify`'s pending
query (`routes()`). Heavy parts (math-verify workers, the sandbox servers) start only when an item needs them.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterable
from contextlib import nullcontext

from ded.progress import progress
from ded.verifiers.base import GradeOptions, Verifier
from ded.verifiers.extract import extract_code
from ded.verifiers.math import extract_answer

NO_QUESTION_VERSION = "none-1"  # verifier 'none': the trajectory's question is missing (sql/verify/pending.sql)


def _load() -> dict[str, Verifier]:
    """Every module of this package that defines VERIFIER, by name; exactly one names no domain (the default)."""
    found: dict[str, Verifier] = {}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        v = getattr(importlib.import_module(f"{__name__}.{m.name}"), "VERIFIER", None)
        if isinstance(v, Verifier):
            if v.name in found or v.name == "none":
                raise ValueError(f"verifier name {v.name!r} in ded/verifiers/{m.name}.py is taken")
            found[v.name] = v
    defaults = [v.name for v in found.values() if not v.domains]
    if len(defaults) != 1:
        raise ValueError(f"exactly one verifier must name no domain (the default); these do: {defaults}")
    claimed = [d for v in found.values() for d in v.domains]
    if len(claimed) != len(set(claimed)):
        raise ValueError(f"a domain is named by two verifiers: {sorted(claimed)}")
    return found


VERIFIERS: dict[str, Verifier] = _load()
VERIFIER_VERSIONS = {name: v.version for name, v in VERIFIERS.items()}
DEFAULT_VERIFIER = next(v.name for v in VERIFIERS.values() if not v.domains)
_BY_DOMAIN = {d: v.name for v in VERIFIERS.values() for d in v.domains}


def verifier_for(domain: str | None) -> str:
    return _BY_DOMAIN.get(domain or "", DEFAULT_VERIFIER)


def routes() -> dict[str, object]:
    """The routing as parameters of sql/verify/pending.sql: parallel lists of the named domains, their
    verifiers and versions, then the default verifier and its version."""
    doms = sorted(_BY_DOMAIN)
    return {"route_domains": doms, "route_verifiers": [_BY_DOMAIN[d] for d in doms],
            "route_versions": [VERIFIER_VERSIONS[_BY_DOMAIN[d]] for d in doms],
            "default_verifier": DEFAULT_VERIFIER, "default_version": VERIFIER_VERSIONS[DEFAULT_VERIFIER]}


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
        extracted = extract_answer(item)[0]  # still extracted: answer agreement needs no gold
    elif v == "code" and str(item.get("tests") or "").strip() in ("", "[]", "{}"):
        why = "the code question has no tests: nothing to run"
        extracted = extract_code(item.get("response"))
    else:
        return None
    return {**base, "status": "no_reference", "extracted": extracted, "detail": why, "verifier": v,
            "verifier_version": VERIFIER_VERSIONS[v]}


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
    items = list(items)
    opts = GradeOptions(max(1, workers or os.cpu_count() or 1), timeout_s, code_timeout_s, float_tol,
                        stop_at_first_failure, limits, uid_base, math_pool)
    out: list[dict | None] = [_ungradable(it) for it in items]
    todo: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if out[i] is None:
            todo.setdefault(verifier_for(it.get("domain")), []).append(i)
    own_bar = show_progress and on_done is None
    with (progress(total=len(items), desc="verify", unit="items") if own_bar else nullcontext()) as bar:
        adv = bar.advance if own_bar else on_done
        n_todo = sum(len(ix) for ix in todo.values())
        if adv and len(items) > n_todo:
            adv(len(items) - n_todo)
        for name in sorted(todo, key=lambda n: n != DEFAULT_VERIFIER):  # the default (math) first, as before
            idx = todo[name]
            for i, v in zip(idx, VERIFIERS[name].grade([items[i] for i in idx], opts, adv)):
                out[i] = v
    return out  # type: ignore[return-value]


__all__ = ["VERIFIERS", "VERIFIER_VERSIONS", "grade_many", "routes", "verifier_for"]
