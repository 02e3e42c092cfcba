"""What a verifier declares: one file per verifier in ded/verifiers/ defines `VERIFIER = Verifier(...)`.

`ded.verifiers` finds them (any module of the package with a VERIFIER), routes each item to the verifier that
names its question's domain (or to the one default verifier, which names none), and `ded verify`'s pending
query (sql/verify/pending.sql) gets the same routes and versions as parameters: adding a verifier is its file
(plus its test); bumping `version` regrades what the older version graded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class GradeOptions:
    """The knobs of one `grade_many` call, handed to every verifier (each reads its own)."""

    workers: int = 1
    timeout_s: float | None = None  # math: per item (default DEFAULT_TIMEOUT_S)
    code_timeout_s: float | None = None  # code: per test wall limit
    float_tol: float = 0.0
    stop_at_first_failure: bool = True
    limits: Any = None  # code: sandbox Limits
    uid_base: int = 61000  # code: the sandbox uids
    math_pool: Any = None  # math: a caller's MathPool to reuse


@dataclass(frozen=True)
class Verifier:
    """`grade(items, options, on_done)` returns one verdict dict per item, in order (status, correct, extracted,
    tests_passed, tests_total, detail, verifier, verifier_version, infra); `on_done(n)` reports progress."""

    name: str
    version: str  # bump when a change can alter a verdict: `ded verify` then regrades the older ones
    domains: tuple[str, ...]  # the question domains it grades; () = every domain no other verifier names
    doc: str
    grade: Callable[[list[dict], GradeOptions, Callable[[int], None] | None], list[dict]]
