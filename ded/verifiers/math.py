"""Math answers: fast exact paths in the parent, math-verify in worker processes under a parent-enforced wall limit.

Why processes, never threads: math-verify guards parsing and comparison with `signal.alarm`, which
only works in a main thread; in a thread it raises, and with its timeouts disabled a pathological
expression (`9^{9^{9^{9}}}`) hangs forever. So workers run math-verify with its own timeouts off
(`parsing_timeout=None, timeout_seconds=None`) and the parent kills a worker that overruns the
per-item limit, replaces it, and records `status=timeout, correct=None` for that item only.

Decisions, in order (`grade_math_pairs`):
0. a pair is read several ways (`readings`): as written; with a percent sign dropped (and the percent as a
   fraction, 25\\% = 1/4); each side of an answer's `\\approx`; a whole-answer `\\text{…}` unwrapped. It is
   correct when one reading is (the detail names the reading), undecidable when none is and one is undecidable;
1. no extracted answer → `no_answer`, False; a multiple-choice gold (one letter A–J, also `(E)`,
   `\\text{(E)}`, `\\textbf{E}`) compares letters;
2. integer gold and numeric answer → compared as numbers (AIME `"025"` = `25`), no sympy;
3. identical after `normalize_math`, or after also unwrapping `\\text{}`-like commands → correct, no sympy;
4. otherwise math-verify on `\\boxed{gold}` and `\\boxed{answer}`: gold unparseable → `error`, None
   (undecidable, never a silent False); answer unparseable → `parse_error`, False.
Results are cached on (normalized gold, normalized answer), so each distinct pair is checked once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from fractions import Fraction
from functools import lru_cache
from multiprocessing.connection import wait

from ded.verifiers import infra as _infra
from ded.verifiers.base import GradeOptions, Verifier
from ded.verifiers.choice import extract_letter
from ded.verifiers.extract import extract_math, final_text

VERSION = "math-2"  # bump when a change can alter a verdict; `ded verify` redoes older versions
DEFAULT_TIMEOUT_S = 10.0  # math-verify's own defaults: 5 s parse + 5 s verify (math_verify.parse/verify)

Result = tuple[str, bool | None, str]  # (status, correct, detail)

_WS = re.compile(r"\s+")
_CTRL_WS = re.compile(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])")
_SPACING = re.compile(r"\\[,;:! ]|\\(?:q?quad|left|right|displaystyle)(?![A-Za-z])|\$")
_FRAC = re.compile(r"\\frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+)")
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_LETTER = re.compile(r"^\(?([A-J])\)?$")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox)\{([^{}]*)\}")
_WORDS = re.compile(r"[A-Za-z]+")
_WHOLE_TEXT = re.compile(r"^\\(?:text|textrm|mbox)\{([^{}]*)\}$")
_PERCENT = re.compile(r"(?:\\%|%|\\text\{\s*(?:\\%|%|percent)\s*\}|\s+percent)\s*\.?\s*$")
_APPROX = re.compile(r"\\approx(?![A-Za-z])|≈")
_LETTER_IN = re.compile(r"^(?:\\text\{)?\s*\(?([A-J])\)?\s*\}?(?:[.:)]|\s|$)")


@lru_cache(maxsize=1 << 16)  # golds repeat once per sample, answers within a question
def normalize_math(s: str | None) -> str:
    """A conservative normal form (cache key, exact-match shortcut): spacing, `$`, `\\left`/`\\right`,
    `\\dfrac`/`\\tfrac` and a trailing period go; nothing that could change the value."""
    s = (s or "").strip()
    s = _SPACING.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _CTRL_WS.sub("\\1\x00", s)  # `\sin x` keeps its space: `\sinx` would be another command
    s = _WS.sub("", s).replace("\x00", " ").rstrip(".")
    return s


def _untext(s: str) -> str:
    """`normalize_math` with `\\text{…}`-like commands replaced by their contents (`4:30 \\text{ p.m.}` and
    `\\text{4:30 p.m.}` are both `4:30p.m`): for comparing two texts as texts, never for parsing."""
    prev = None
    while prev != s:
        prev, s = s, _TEXT_CMD.sub(r"\1", s)
    return normalize_math(s)


def _letter(s: str) -> str | None:
    """A gold that is a choice letter: `E`, `(E)`, `\\text{(E)}`, `\\textbf{(E)}`."""
    m = _LETTER.match(_untext(normalize_math(s)))
    return m.group(1) if m else None


def _strip_percent(s: str) -> tuple[str, bool]:
    """(s without a trailing percent sign, whether it had one): `25\\%`, `25%`, `25\\text{ percent}`."""
    t = _PERCENT.sub("", s)
    return (t, True) if t != s and t.strip() else (s, False)


def _as_frac(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{'-' if x < 0 else ''}\\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"


def readings(gold: str, pred: str | None) -> list[tuple[str, str | None, str]]:
    """The ways a (gold, answer) pair is read, principal first: (gold, answer, why). Correct when any is.

    - a percent sign on either side is dropped (`25\\%` = `25`: the sign is the unit the question asks
      in), and when only one side has it, that side is also read as a fraction (`25\\%` = `0.25`);
      `25` against `0.25` with no sign anywhere stays wrong;
    - an answer `A \\approx B` is read as A and as B: the exact value and its rounding both count (gold
      `\\frac{1}{3}` or `0.33` against `\\frac{1}{3} \\approx 0.33`); a bare approximation of an exact gold
      (`\\approx 0.333` against `\\frac{1}{3}`) is still wrong, as 0.333 is;
    - an answer or gold wrapped whole in `\\text{…}` around a number is also read unwrapped
      (`\\text{10 ways}` = `10`)."""
    if pred is None or not str(pred).strip():
        return [(gold, pred, "")]
    g, gp = _strip_percent(gold)
    p, pp = _strip_percent(pred)
    out = [(g, p, "percent sign dropped" if gp or pp else "")]
    if gp != pp:
        gv, pv = _rational(g), _rational(p)
        if gp and gv is not None:
            out.append((_as_frac(gv[0] / 100), p, "percent read as a fraction"))
        if pp and pv is not None:
            out.append((g, _as_frac(pv[0] / 100), "percent read as a fraction"))
    more = []
    for g, p, why in out:
        parts = [x.strip() for x in _APPROX.split(p)]
        if len(parts) > 1:
            more += [(g, x, "one side of \\approx") for x in parts if x]
        # only around a number (`\\text{10 ways}`): unwrapped words would be parsed as products of
        # commuting symbols (`east` = `seat`)
        wg, wp = (_WHOLE_TEXT.sub(r"\1", x.strip()) if re.search(r"\d", x) else x.strip() for x in (g, p))
        if (wg, wp) != (g.strip(), p.strip()) and not _letter(g):
            more.append((wg, wp, "\\text{} unwrapped"))
    return out + more


@lru_cache(maxsize=1 << 16)
def _balanced(s: str) -> bool:
    depth = 0
    for c in re.sub(r"\\[{}]", "", s):
        depth += (c == "{") - (c == "}")
        if depth < 0:
            return False
    return depth == 0


@lru_cache(maxsize=1 << 16)
def quick_check(gold: str, pred: str | None) -> Result | None:
    """Decide without sympy when it is safe; None means 'ask math-verify'."""
    if pred is None or not str(pred).strip():
        return ("no_answer", False, "no answer extracted")
    if not _balanced(gold):  # math-verify would guess at a prefix; a broken reference is undecidable
        return ("error", None, f"unparseable reference answer {gold[:80]!r} (unbalanced braces)")
    if not _balanced(pred):
        return ("parse_error", False, f"unparseable answer {pred[:80]!r} (unbalanced braces)")
    g, p = normalize_math(gold), normalize_math(pred)
    letter = _letter(gold)
    if letter:  # multiple choice (GPQA-style gold 'C', AMC-style `\text{(C)}`)
        pm = _LETTER_IN.match(p) or _LETTER_IN.match(str(pred).strip()) or _LETTER_IN.match(_untext(p))
        if not pm:
            return ("parse_error", False, f"multiple-choice gold {letter}; answer is not a letter")
        ok = pm.group(1) == letter
        return ("correct" if ok else "wrong", ok, "letter compare")
    if g == p:
        return ("correct", True, "exact match")
    if _untext(g) == _untext(p):
        return ("correct", True, "exact match (\\text{} unwrapped)")
    if _WHOLE_TEXT.match(g) and _WORDS.fullmatch(_untext(g)) and _WORDS.fullmatch(_untext(p)):
        # a gold written as text (`\\text{east}`) against words: compared as words, case aside; math-verify
        # would parse both as products of commuting symbols and call `seat` equal to `east`
        ok = _untext(g).casefold() == _untext(p).casefold()
        return ("correct" if ok else "wrong", ok, "text compare")
    gv, pv = _rational(gold), _rational(pred)
    if gv is not None and pv is not None:
        if gv[0] == pv[0]:
            return ("correct", True, "exact rational compare")
        # a decimal may be a rounding (0.333333 for 1/3, math-verify rounds to 6 places): only a gap far
        # beyond any rounding is decided here, the rest goes to math-verify
        gap = abs(gv[0] - pv[0])
        if not (gv[1] or pv[1]) or (gap > Fraction(1, 10**4) and gap > abs(gv[0]) / 10**4):
            return ("wrong", False, "exact rational compare")
    return None


@lru_cache(maxsize=1 << 16)
def _rational(s: str) -> tuple[Fraction, bool] | None:
    """(exact value, written as a decimal?) for integers, decimals, a/b and \\frac{a}{b}; else None.

    So AIME's "025" equals 25 and "\\frac{6}{4}" equals "3/2" without sympy."""
    t = normalize_math(s).replace("{,}", "")
    t = re.sub(r"^\\text\{(.*)\}$", r"\1", t)
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    m = _FRAC.fullmatch(t)
    if m:
        num, den = int(m.group(1) or m.group(3)), int(m.group(2) or m.group(4))
        return (sign * Fraction(num, den), False) if den else None
    if _NUM.fullmatch(t):
        return sign * Fraction(t), "." in t
    return None


# -- worker side -------------------------------------------------------------------------------
def _far_apart(a, b) -> bool:
    """Both constant numbers (no symbols) whose values differ far beyond math-verify's rounding.

    math-verify would reach the same False, but only after sympy simplifies `a - b`, which for
    `-3/8` against `3*sqrt(5)` takes 0.6 s; numeric evaluation at 30 digits takes microseconds."""
    from sympy import Expr

    if not (isinstance(a, Expr) and isinstance(b, Expr) and a.is_number and b.is_number):
        return False
    try:
        x, y = complex(a.evalf(30)), complex(b.evalf(30))
    except (TypeError, ValueError, ArithmeticError):
        return False
    return abs(x - y) > 1e-4 * max(1.0, abs(x), abs(y))


# Points for the free symbols of an expression (irrational-ish positive rationals, so no accidental zero of
# a polynomial with small integer roots); two points, both must show a clear non-zero difference.
_POINTS = ((0.6180339887, 1.3247179572, 0.8414709848, 1.4142135623, 0.7071067811, 1.7320508075),
           (1.2599210498, 0.5772156649, 1.6180339887, 0.9189385332, 1.1892071150, 0.6931471805))


@lru_cache(maxsize=1)
def _free_symbol_assumptions() -> tuple[dict, ...]:
    """Assumptions our points satisfy: none, or real (latex2sympy makes its symbols real)."""
    from sympy import Symbol

    return Symbol("x").assumptions0, Symbol("x", real=True).assumptions0


class _Assumptions:
    def __contains__(self, a: dict) -> bool:
        return a in _free_symbol_assumptions()


_FREE_SYMBOL_ASSUMPTIONS = _Assumptions()


def _clearly_unequal(a, b) -> bool:
    """Cases math-verify can only call unequal, decided without its slow paths (~5-10 ms each).

    1. A set of positive measure (a sympy Interval or Union: degenerate ones become FiniteSets) against
       one finite number: math-verify's set comparison makes the number a singleton and tests the
       symmetric difference for emptiness, which a set with an interval never meets.
    2. An expression with free symbols against one finite number: math-verify's last resort is
       `simplify(a - b).is_zero`, which can only hold if a - b vanishes identically; a - b evaluated
       at two points, clearly non-zero at both, rules that out. Only symbols without assumptions
       (an integer symbol may make an identity hold only on integers), and no relations, sets,
       tuples, matrices or bare symbols (math-verify has other paths for those)."""
    from sympy import Basic, Expr, Interval, Symbol, Union

    for x, y in ((a, b), (b, a)):
        if not (isinstance(y, Basic) and y.is_Number and y.is_finite):
            continue
        if isinstance(x, (Interval, Union)):
            return True
        if not isinstance(x, Expr) or isinstance(x, Symbol) or x.is_Relational or not x.free_symbols:
            continue
        syms = sorted(x.free_symbols, key=str)
        if len(syms) > len(_POINTS[0]) or any(s.assumptions0 not in _FREE_SYMBOL_ASSUMPTIONS for s in syms):
            return False
        try:
            for pts in _POINTS:
                v = complex((x - y).subs(dict(zip(syms, pts))).evalf(30))
                if not abs(v) > 1e-6 * max(1.0, abs(complex(y))):
                    return False
        except (TypeError, ValueError, ArithmeticError, AttributeError):
            return False
        return True
    return False


def _parse(parse, s: str) -> list:
    """math-verify's parse of `\\boxed{s}`; an integer or fraction is built directly as the same
    [sympy value, text] pair, skipping the ANTLR LaTeX parser (~17 ms a string, most of the cost)."""
    r = _rational(s)
    if r is not None and not r[1]:
        from sympy import Rational

        return [Rational(r[0].numerator, r[0].denominator), s.strip()]
    return parse("$\\boxed{" + s + "}$", parsing_timeout=None)


def _plain(parsed: list) -> bool:
    """math-verify's usual [sympy value, source text]: the only shape the shortcuts reason about (it also
    compares the texts, so they must differ too)."""
    return len(parsed) == 2 and isinstance(parsed[1], str)


def _verify_pair(parse, verify, gold: str, pred: str) -> Result:
    g = _parse(parse, gold)
    if not g:
        return ("error", None, f"unparseable reference answer {gold[:80]!r}")
    p = _parse(parse, pred)
    if not p:
        return ("parse_error", False, f"unparseable answer {pred[:80]!r}")
    if _far_apart(g[0], p[0]):
        return ("wrong", False, "numeric compare (sympy values far apart)")
    if _plain(g) and _plain(p) and g[1].strip() != p[1].strip() and _clearly_unequal(g[0], p[0]):
        return ("wrong", False, "set or symbolic expression against a number")
    try:
        ok = bool(verify(g, p, timeout_seconds=None, raise_on_error=True))
    except Exception as e:  # sympy failures on exotic input: undecidable, not wrong  # noqa: BLE001
        return ("error", None, f"math-verify raised {type(e).__name__}: {str(e)[:120]}")
    return ("correct" if ok else "wrong", ok, "math-verify")


def _worker(conn) -> None:
    import logging

    logging.disable(logging.WARNING)  # math-verify warns on every call with timeouts off
    from math_verify import parse, verify

    parse = lru_cache(maxsize=4096)(parse)  # a gold is compared with several answers: parse it once
    _verify_pair(parse, verify, "\\frac{1}{2}", "0.5")  # warm the LaTeX parser before taking work
    conn.send("ready")
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for key, gold, pred in batch:
            try:
                res = _verify_pair(parse, verify, gold, pred)
            except Exception as e:  # noqa: BLE001
                res = ("error", None, f"{type(e).__name__}: {str(e)[:120]}")
            conn.send((key, res))


def _built_directly(s: str) -> bool:
    """An integer or fraction: `_parse` builds it without the LaTeX parser, so it costs nothing to parse."""
    r = _rational(s)
    return r is not None and not r[1]


def _route_key(gold: str, pred: str) -> str:
    """The string a pair is routed by: the gold, unless only the answer needs the LaTeX parser (an integer
    gold against a wrong answer that is an expression). Each costly string then goes to one worker, whose
    parse cache serves every pair of it: on bench/verify.py, 128 parses in the workers instead of 151
    (105 distinct strings)."""
    return pred if _built_directly(gold) and not _built_directly(pred) else gold


class _Slot:
    def __init__(self, ctx):
        self.parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.batch: deque = deque()
        self.started = 0.0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.parent.close()


class MathPoolError(RuntimeError):
    """The worker pool itself failed (workers that cannot start or never get ready), not an answer."""


START_TIMEOUT_S = 180.0  # a worker that is not ready (math-verify imported, parser warm) by then: the pool failed


class MathPool:
    """Worker processes running math-verify; the parent enforces `timeout_s` per item.

    `check(pairs)` takes {key: (gold, pred)} and returns {key: Result}. Use as a context manager.
    A pool failure (workers that die while starting or are not ready within START_TIMEOUT_S) is an
    infrastructure failure: every pair still pending gets `("error", None, "infrastructure failure: …")`,
    never a verdict, and the pool stays failed (later checks answer the same at once).
    """

    def __init__(self, workers: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, batch: int = 4):
        self.n = max(1, workers or os.cpu_count() or 1)
        self.timeout_s, self.batch = timeout_s, batch
        # forkserver: a clean server process (no engine threads or locks to copy, unlike fork) imports
        # math-verify once; each worker, and each replacement of a killed one, is a cheap fork of it
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["math_verify", "ded.verifiers.math"])
        self.slots: list[_Slot] = []
        self.restarts = 0
        self.cache: dict = {}  # (normalized gold, normalized answer) → Result, across check() calls
        self.broken: str | None = None  # why the pool failed, once it has

    def __enter__(self) -> MathPool:  # noqa: PYI034
        return self

    def start(self, n: int | None = None) -> None:
        """Start workers now (they import and warm up while the caller reads and extracts)."""
        while len(self.slots) < min(self.n, n or self.n):
            try:
                self.slots.append(_Slot(self.ctx))
            except (OSError, RuntimeError, ValueError) as e:  # the forkserver or a worker cannot start
                raise MathPoolError(f"a math-verify worker could not start ({type(e).__name__}: {e})") from e

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for s in self.slots:
            try:
                s.parent.send(None)
            except (OSError, ValueError):
                pass
        for s in self.slots:
            s.proc.join(0.5)
            if s.proc.is_alive():  # stateless workers: no need to wait for interpreter teardown
                s.proc.kill()
                s.proc.join()
        self.slots = []

    def check(self, pairs: dict, on_result: Callable[[object], None] | None = None) -> dict:
        """{key: (gold, pred)} → {key: Result}; `on_result(key)` is called as each key is decided."""
        results: dict = {}
        if not pairs:
            return results
        queues: list[deque] = []
        try:
            if self.broken:
                raise MathPoolError(self.broken)
            self.start(len(pairs))
            self._check(pairs, results, queues, on_result)
        except MathPoolError as e:
            self.broken = str(e)
            why = _infra.failure(f"{e}; check that `python -c 'import math_verify'` works in this environment "
                                 "(pip install math-verify) and that processes can be started, then rerun `ded verify`")
            for k in pairs:
                if k not in results:
                    results[k] = ("error", None, why)
                    if on_result:
                        on_result(k)
            self.close()
        return results

    def _check(self, pairs: dict, results: dict, queues: list, on_result) -> None:
        t_start = time.monotonic()
        # one queue per worker, chosen by the gold: a gold (and its question's answers) is parsed by one
        # worker only, whose parse cache then serves every pair of it; an idle worker steals from the tail
        # of the longest queue, so the split stays even
        queues.extend(deque() for _ in self.slots)
        for k, (g, p) in pairs.items():
            queues[zlib.crc32(_route_key(g, p).encode()) % len(queues)].append((k, g, p))
        while any(queues) or any(s.batch for s in self.slots):
            now = time.monotonic()
            for i, s in enumerate(self.slots):
                if s.ready and not s.batch and any(queues):
                    q = queues[i]
                    if q:
                        items = [q.popleft() for _ in range(min(self.batch, len(q)))]
                    else:
                        victim = max(queues, key=len)
                        items = [victim.pop() for _ in range(min(self.batch, len(victim)))]
                    s.batch.extend(items)
                    s.parent.send(items)
                    s.started = now
            timeouts = [s.started + self.timeout_s - now for s in self.slots if s.batch]
            ready = wait([s.parent for s in self.slots], timeout=max(0.0, min(timeouts)) if timeouts else 1.0)
            now = time.monotonic()
            for i, s in enumerate(self.slots):
                if s.parent in ready:
                    try:
                        msg = s.parent.recv()
                    except (EOFError, OSError):  # the worker died (OOM killer, segfault in a C extension)
                        self._replace(i, results, queues[i], ("error", None, _infra.failure(
                            "the math-verify worker died on this item (OOM killer or a crash in a C extension); "
                            "rerun `ded verify` to regrade it")), on_result)
                        continue
                    if msg == "ready":
                        s.ready = True
                        continue
                    key, res = msg
                    results[key] = res
                    s.batch.popleft()
                    s.started = now
                    if on_result:
                        on_result(key)
                elif s.batch and now - s.started > self.timeout_s:
                    self._replace(i, results, queues[i], ("timeout", None, f"math-verify exceeded {self.timeout_s:g} s"),
                                  on_result)
            if not any(s.ready for s in self.slots) and now - t_start > START_TIMEOUT_S:
                raise MathPoolError(f"no math-verify worker became ready within {START_TIMEOUT_S:g} s")

    def _replace(self, i: int, results: dict, todo: deque, res: Result, on_result) -> None:
        """Kill slot i, give its current item `res`, requeue the rest of its batch, start a fresh worker."""
        s = self.slots[i]
        s.kill()
        if not s.ready:  # died while importing: restarting would loop forever
            raise MathPoolError("a math-verify worker died while starting")
        if s.batch:
            key = s.batch.popleft()[0]
            results[key] = res
            if on_result:
                on_result(key)
            todo.extendleft(reversed(s.batch))
        try:
            self.slots[i] = _Slot(self.ctx)
        except (OSError, RuntimeError, ValueError) as e:
            raise MathPoolError(f"a math-verify worker could not be restarted ({type(e).__name__}: {e})") from e
        self.restarts += 1


def grade_math_pairs(pairs: Iterable[tuple[str, str | None]], pool: MathPool | None = None,
                     workers: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                     on_done: Callable[[int], None] | None = None) -> list[Result]:
    """Grade (gold, extracted) pairs; a result per pair, in order. Each pair is graded under each of its
    `readings`: correct when one reading is; else undecidable when one is (a timeout); else the principal
    reading's verdict. Repeated pairs are checked once."""
    pairs = list(pairs)
    plans = [[(gold, pred, "")] if gold is None or not str(gold).strip() else readings(str(gold), pred)
             for gold, pred in pairs]
    flat = [(g, p) for plan in plans for g, p, _why in plan]
    report = None
    if on_done:  # progress in pairs, not readings: forward the share of readings done, rounded down
        n, total, sent = len(pairs), len(flat), [0, 0]

        def report(k: int) -> None:
            sent[0] += k
            due = sent[0] * n // total - sent[1]
            if due > 0:
                sent[1] += due
                on_done(due)
    res = iter(_grade_flat(flat, pool, workers, timeout_s, report))
    out: list[Result] = []
    for plan in plans:
        got = [(next(res), why) for _g, _p, why in plan]
        # an undecided reading (a timeout, a dead worker) makes the pair undecided, unless another reading is
        # correct; a reading whose rewritten gold does not parse says nothing about the pair
        r, why = next(((r, w) for r, w in got if r[1] is True), None) or next(
            ((r, w) for k, (r, w) in enumerate(got) if r[1] is None and (k == 0 or "reference" not in r[2])),
            None) or got[0]
        out.append((r[0], r[1], f"{r[2]} ({why})" if why else r[2]))
    return out


def _grade_flat(pairs: list[tuple[str, str | None]], pool: MathPool | None, workers: int | None,
                timeout_s: float, on_done: Callable[[int], None] | None) -> list[Result]:
    """Grade (gold, extracted) pairs as written; a result per pair, in order. Repeated pairs are checked once."""
    pairs = list(pairs)
    out: list[Result | None] = [None] * len(pairs)
    slow: dict[tuple[str, str], tuple[str, str]] = {}
    where: dict[tuple[str, str], list[int]] = {}
    for i, (gold, pred) in enumerate(pairs):
        if gold is None or not str(gold).strip():
            out[i] = ("error", None, "no reference answer")
            continue
        quick = quick_check(str(gold), pred)
        if quick is not None:
            out[i] = quick
            continue
        key = (normalize_math(gold), normalize_math(pred))
        slow.setdefault(key, (str(gold), str(pred)))
        where.setdefault(key, []).append(i)
    if on_done:
        on_done(len(pairs) - sum(len(v) for v in where.values()))
    if slow:
        own = pool is None
        pool = pool or MathPool(workers, timeout_s)
        res = {k: pool.cache[k] for k in slow if k in pool.cache}
        if on_done and res:
            on_done(sum(len(where[k]) for k in res))
        try:
            res.update(pool.check({k: v for k, v in slow.items() if k not in res},
                                  on_result=(lambda key: on_done(len(where[key]))) if on_done else None))
        finally:
            if own:
                pool.close()
        if len(pool.cache) > 500_000:  # bound memory on huge runs; answers repeat within a question
            pool.cache.clear()
        # a timeout may pass on retry; an infrastructure failure is no answer at all
        pool.cache.update((k, r) for k, r in res.items() if r[0] != "timeout" and not _infra.is_failure(r[2]))
        for key, idx in where.items():
            for i in idx:
                out[i] = res[key]
    return out  # type: ignore[return-value]


_LETTER_GOLD = re.compile(r"^\s*\(?([A-J])\)?\s*$")


def extract_answer(item: dict) -> tuple[str | None, str]:
    """(the answer read from the response, how): a gold that is one letter A-J is multiple choice, read as a
    letter (`ded.verifiers.choice`); any other gold reads the final math answer (`ded.verifiers.extract`)."""
    if _LETTER_GOLD.match(str(item.get("answer") or "")):
        final, closed = final_text(item.get("response"))
        letter = extract_letter(final) if closed else None
        return letter, "letter" if letter else ("unclosed_reasoning" if not closed else "no_letter")
    return extract_math(item.get("response"))


def grade_items(items: list[dict], opts: GradeOptions, on_done: Callable[[int], None] | None) -> list[dict]:
    """Math verdicts of items (domain, response, answer): extraction here, equivalence in the worker pool."""
    extracted = [extract_answer(it) for it in items]
    pairs = [(it.get("answer"), ex) for it, (ex, _how) in zip(items, extracted)]
    res = grade_math_pairs(pairs, pool=opts.math_pool, workers=opts.workers,
                           timeout_s=opts.timeout_s or DEFAULT_TIMEOUT_S, on_done=on_done)
    out = []
    for (ex, how), (status, correct, detail) in zip(extracted, res):
        if ex is None and how == "unclosed_reasoning":
            detail = "reasoning never closed (cut off): no answer"
        elif ex is not None:
            detail = f"{detail}; extracted by {how}"
        out.append({"status": status, "correct": correct, "extracted": ex, "tests_passed": None,
                    "tests_total": None, "detail": detail, "verifier": "math", "verifier_version": VERSION,
                    "infra": _infra.is_failure(detail)})
    return out


VERIFIER = Verifier(name="math", version=VERSION, domains=(), grade=grade_items,
                    doc="the final answer (boxed, or a letter for multiple choice) against the reference, by "
                        "math-verify in worker processes; every domain no other verifier names")
