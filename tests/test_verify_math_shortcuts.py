"""The worker-side shortcut (`_clearly_unequal`) only decides pairs math-verify calls unequal.

It skips math-verify's set comparison (an interval against a number) and its `simplify(a - b)` (an
expression with free symbols against a number); identities such as sin²x + cos²x = 1 must fall through.
"""

from __future__ import annotations

import json
import logging
import random
from functools import lru_cache

import pytest

from ded.verifiers.math import (
    _clearly_unequal,
    _parse,
    _plain,
    _verify_pair,
    normalize_math,
    quick_check,
)


@pytest.fixture(scope="module")
def mv():
    logging.disable(logging.WARNING)  # math-verify warns on every call with its timeouts off
    from math_verify import parse, verify

    yield lru_cache(maxsize=4096)(parse), verify
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("gold,pred,expect", [
    (r"(3,4]", "7", True),                                    # interval vs a number
    (r"(0,9) \cup (9,36)", r"\frac{1}{2}", True),             # union vs a fraction
    ("5", r"[1, 2]", True),                                   # either side
    ("x^2 + 1", "5", True),                                   # polynomial vs a number
    ("(a+5)(b+2)", "501", True),
    (r"\sin^2 x + \cos^2 x", "1", False),                     # an identity: math-verify says equal
    ("(x+1)^2 - x^2 - 2x", "1", False),
    ("x = 5", "5", False),                                    # relations have their own path
    ("x", "5", False),                                        # a bare symbol too
    (r"\sqrt{2}", "3", False),                                # numbers: _far_apart's job, not this one
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "3", False),
])
def test_clearly_unequal_cases(mv, gold, pred, expect):
    parse, verify = mv
    g, p = _parse(parse, gold), _parse(parse, pred)
    assert _clearly_unequal(g[0], p[0]) is expect
    if expect:
        assert verify(g, p, timeout_seconds=None, raise_on_error=True) is False
        assert _verify_pair(parse, verify, gold, pred) == ("wrong", False, "set or symbolic expression against a number")


def test_integer_symbols_are_left_to_math_verify():
    from sympy import Integer, Symbol, cos, pi

    n = Symbol("n", integer=True)
    assert not _clearly_unequal(cos(2 * pi * n), Integer(1))  # 1 for every integer n, not at 0.618
    x = Symbol("x", real=True)
    assert _clearly_unequal(cos(2 * pi * x), Integer(1))


def test_agrees_with_math_verify_on_math500_pairs(mv, shared_data):
    """Every MATH-500 pair (gold, another item's answer or an integer) the shortcut decides, math-verify
    (raising on error) calls unequal."""
    parse, verify = mv
    answers = [json.loads(line)["answer"] for line in (shared_data / "math500" / "math500_test.jsonl").open()]
    rng = random.Random(0)
    seen, fired = set(), 0
    while len(seen) < 400:
        g = rng.choice(answers)
        p = rng.choice(answers) if rng.random() < 0.5 else str(rng.randint(0, 999))
        key = (normalize_math(g), normalize_math(p))
        if key in seen or quick_check(g, p) is not None:
            continue
        seen.add(key)
        gp, pp = _parse(parse, g), _parse(parse, p)
        if not (gp and pp and _plain(gp) and _plain(pp)) or gp[1].strip() == pp[1].strip():
            continue
        if _clearly_unequal(gp[0], pp[0]):
            fired += 1
            assert verify(gp, pp, timeout_seconds=None, raise_on_error=True) is False, (g, p)
    assert fired >= 40  # the shortcut is exercised, not vacuous
