"""The mathematical content of a problem, invariant to wording, language, variable names and number spelling.

A rephrased copy of a benchmark problem (reworded, story changed, translated, numbers written as words)
keeps what makes it that problem: its numbers, its expressions and what it asks for. A renumbered copy
keeps the expressions' shape and the wording but not the numbers. `Content` holds the three parts:
- `numbers`: the distinct numbers stated, digits or English words ("twenty-four", "six million"),
  comma-grouped thousands joined ("6,000,000" = 6000000), leading zeros dropped;
- `math`: token trigrams of the LaTeX math (`$…$`, `\\[…\\]`, and bare formulas such as `x^2+y^2=25`),
  single-letter variables renamed by first appearance (so `p(n)` and `q(m)` agree), numbers kept;
- `shape`: the same trigrams with every number replaced by `#` (what a renumbered copy keeps);
- `asked`: the math trigrams of the last sentence (the asked quantity, often `m+n` or `AB\\cdot AC`);
- `numbers_split`: the numbers with every plain comma read as a list separator ("36,100,196" in LiveCodeBench
  sample notes is three numbers, "6,000,000" in a MATH problem is one: the comma alone cannot tell, so both
  readings are kept and `compare` scores the pair by the reading under which they agree most).
`compare(a, b)` scores two contents, both ways round: besides the symmetric number Jaccard it measures how
much of the item's number weight the question keeps (`numbers_cover`, repeats counted) and how much distinctive weight the
question adds that the item lacks (`numbers_added`, numbers of two digits or more). The two separate the
kinds that keep a problem from the renumbered copy: a story adds small counts ("three drones", "two
fountains": weight 0.5 each) but every number of the item stays; a renumbered copy loses the item's numbers
and states others in their place. A story's added counts are words ("three corners"); a number the question
adds in digits ("$2\\sin A = 3\\cos A$" against "$\\sin A = 2\\cos A$") changes the problem, which is what
`numbers_added_digits` measures on MATH train against MATH-500 (docs/embeddings.md). A range
("$n = 2, 3, 4, \\dots, 7$") implies the numbers it skips. `ded.decontam.rephrase` turns the scores into a
verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from ded.ids import strip_figures

_UNITS = {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_TENS = {w: 10 * i for i, w in enumerate(["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]) if w != "_"}
# small numbers as translations spell them (French, Spanish, German, Portuguese, Italian): one word each;
# articles that double as "one" (un, una, um) count as 1, which costs little: 1 weighs 0.5 (number_weight)
_FOREIGN = {w: i for i, ws in enumerate([
    "", "un une uno una um uma eins", "deux dos zwei dois duas due", "trois tres três drei tre",
    "quatre cuatro vier quatro quattro", "cinq cinco fünf cinque", "seis sechs sei", "sept siete sieben sete sette",
    "huit ocho acht oito otto", "neuf nueve neun nove", "dix diez zehn dez dieci", "onze once elf undici",
    "douze doce zwölf doze dodici"]) for w in ws.split()}
_FOREIGN_RUN = re.compile(r"\b(?:" + "|".join(sorted(_FOREIGN, key=len, reverse=True)) + r")\b", re.IGNORECASE)
# a right angle is 90 degrees: "a right triangle" / "right angle at A" states the 90 of "$\\angle A = 90^\\circ$"
# (a rewording swaps one for the other as freely as "twelve" for 12; AIME 2025 #28's rewrites on the labelled set)
_RIGHT_ANGLE = re.compile(r"\bright[- ](?:angle[ds]?|triangle)\b", re.IGNORECASE)
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_WORD = "|".join(sorted(list(_UNITS) + list(_TENS) + list(_SCALES), key=len, reverse=True))
# a run of number words joined by spaces, hyphens or "and" ("one hundred and seven", "twenty-four")
_WORDS_RUN = re.compile(rf"\b(?:{_WORD})(?:(?:\s+|-|\s+and\s+)(?:{_WORD}))*\b", re.IGNORECASE)
# the two word regexes try dozens of alternatives at every word: a set lookup of the text's words says first
# whether either can match (ASCII texts; others run them); a fifth of the second opinion's time at 100k
_LETTER_RUN = re.compile(r"[A-Za-z]+")
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)
_FOREIGN_WORDS = frozenset(_FOREIGN)
_GROUPED = re.compile(r"(?<![\d.])\d{1,3}(?:(?:,|\{,\})\d{3})+(?![\d])")
_NUM = re.compile(r"\d+")
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
# bare formulas outside $…$ (code statements, plain-text math): runs of math characters with an operator
_BARE = re.compile(r"[\w^_{}()\[\]+\-*/=<>|.,\\]+(?:\s*[+\-*/=<>^|]\s*[\w^_{}()\[\]+\-*/=<>|.,\\]+)+")
_MTOK = re.compile(r"\\[A-Za-z]+|\d+|[A-Za-z]|[^\s\w]")
_SENT = re.compile(r"(?<=[.?!。？])\s+")


def words_to_number(words: str) -> int | None:
    """'one hundred and seven' -> 107, 'twenty-four' -> 24, 'six million' -> 6000000; None when not a number."""
    total, cur, seen = 0, 0, False
    for w in re.split(r"[\s-]+", words.lower()):
        if w == "and" or not w:
            continue
        if w in _UNITS:
            cur += _UNITS[w]
        elif w in _TENS:
            cur += _TENS[w]
        elif w == "hundred":
            cur = max(cur, 1) * 100
        elif w in _SCALES:
            total += max(cur, 1) * _SCALES[w]
            cur = 0
        else:
            return None
        seen = True
    return total + cur if seen else None


def spell_out_digits(text: str, split_commas: bool = False) -> str:
    """Number words and comma-grouped numbers rewritten as plain digits (`split_commas`: a plain comma
    between digits separates numbers; `{,}`, LaTeX's thousands separator, still groups)."""
    # substring guards skip regexes that cannot match: this runs on every candidate question (bench --full)
    if "," in text:
        if split_commas:
            text = _GROUPED.sub(lambda m: re.sub(r"\{,\}", "", m.group()).replace(",", ", "), text)
        else:
            text = _GROUPED.sub(lambda m: re.sub(r"\{,\}|,", "", m.group()), text)
    if "ight" in text or "IGHT" in text:
        text = _RIGHT_ANGLE.sub(lambda m: m.group() + " (90)", text)

    def repl(m: re.Match) -> str:
        n = words_to_number(m.group())
        return m.group() if n is None else str(n)
    words = set(_LETTER_RUN.findall(text.lower())) if text.isascii() else None
    if words is None or not words.isdisjoint(_NUMBER_WORDS):
        text = _WORDS_RUN.sub(repl, text)
    if words is None or not words.isdisjoint(_FOREIGN_WORDS):
        text = _FOREIGN_RUN.sub(lambda m: str(_FOREIGN[m.group().lower()]), text)
    return text


def _trigrams(tokens: list[str]) -> frozenset:
    if len(tokens) < 3:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(zip(tokens, tokens[1:], tokens[2:]))


_LAYOUT_CMD = re.compile(r"\\(?:left|right|big|Big|displaystyle|[dt](?=frac)|,|;|!|quad)")


def _math_tokens(segments: list[str]) -> tuple[list[str], list[str]]:
    names: dict[str, str] = {}
    toks, shape = [], []
    for seg in segments:
        if "\\" in seg:
            seg = _LAYOUT_CMD.sub("", seg)
        for t in _MTOK.findall(seg):
            if len(t) == 1 and t.isalpha():
                t = names.setdefault(t, f"v{len(names)}")
            toks.append(t.lstrip("0") or "0" if t.isdigit() else t)
            shape.append("#" if t.isdigit() else toks[-1])
        toks.append("|")
        shape.append("|")
    return toks, shape


def math_segments(text: str) -> list[str]:
    segs = [next(g for g in m.groups() if g is not None) for m in _MATH.finditer(text)]
    if not segs:  # plain-text math: code problems, translations without $…$
        segs = [m.group() for m in _BARE.finditer(_MATH.sub(" ", text)) if re.search(r"[=<>^]", m.group())]
    return segs


@dataclass(frozen=True)
class Content:
    numbers: frozenset
    numbers_split: frozenset | None = None  # the other reading of plain commas, when it differs
    counts: tuple = ()  # (number, times stated) for `numbers`, and for `numbers_split` below
    counts_split: tuple = ()
    digits: frozenset = frozenset()  # the numbers written with digits (not only as words), either reading
    implied: frozenset = frozenset()  # the numbers a range "2, 3, 4, \dots, 7" states without writing them
    # per comma reading: (numbers, {number: times}, their weight, their weight with repeats), precomputed for
    # `compare` (it runs on every candidate pair: ~10 per pool question)
    readings: tuple = field(default=(), compare=False)
    text: str = field(default="", compare=False, repr=False)  # the text with numbers spelled as digits

    # The formula parts are read from `text` on first use: most candidate pairs of a large pool are decided by
    # their numbers alone (`rephrase.verdict`), and tokenizing the formulas was a third of `content`'s time
    # (bench/decontam.py --full --profile).
    @cached_property
    def _formulas(self) -> tuple[frozenset, frozenset, frozenset]:
        toks, shape = _math_tokens(math_segments(self.text))
        sents = [x for x in _SENT.split(self.text.strip()) if x.strip()]
        asked_toks, _ = _math_tokens(math_segments(sents[-1])) if sents else ([], [])
        return _trigrams(toks), _trigrams(shape), _trigrams(asked_toks)

    @property
    def math(self) -> frozenset:
        return self._formulas[0]

    @property
    def shape(self) -> frozenset:
        return self._formulas[1]

    @property
    def asked(self) -> frozenset:
        return self._formulas[2]


def _reading(counts: tuple) -> tuple:
    d = dict(counts)
    return (frozenset(d), d, sum(map(_weight, d)), sum(_weight(n) * k for n, k in d.items()))


def _counts(t: str) -> tuple:
    c: dict[str, int] = {}
    for n in _NUM.findall(t):
        n = n.lstrip("0") or "0"
        c[n] = c.get(n, 0) + 1
    return tuple(sorted(c.items()))


_RANGE = re.compile(r"(\d+)[^\d]{0,12}?(?:\\[lc]?dots|\.\.\.|…)[^\d]{0,12}?(\d+)")


def _implied(t: str) -> frozenset:
    out = set()
    for m in _RANGE.finditer(t):
        a, b = int(m.group(1)), int(m.group(2))
        if a < b <= a + 50:
            out.update(str(i) for i in range(a + 1, b))
    return frozenset(out)


def content(text: str | None) -> Content:
    raw = strip_figures(text or "")
    has_groups = "," in raw and _GROUPED.search(raw) is not None
    found = _NUM.findall(raw)
    if has_groups:
        found += _NUM.findall(_GROUPED.sub(lambda m: re.sub(r"\{,\}|,", "", m.group()), raw))
    digits = frozenset(n.lstrip("0") or "0" for n in found)
    t = spell_out_digits(raw)
    counts = _counts(t)
    split = _counts(spell_out_digits(raw, split_commas=True)) if has_groups else counts
    nums = frozenset(n for n, _ in counts)
    readings = (_reading(counts),) + ((_reading(split),) if split != counts else ())
    return Content(nums, frozenset(n for n, _ in split) if split != counts else None, counts, split, digits,
                   _implied(t), readings, t)


def math_trigrams(text: str | None) -> frozenset:
    """`content(text).math` without the rest (no number-word spelling): the formula trigrams a candidate
    index needs, at a fraction of the cost."""
    toks, _ = _math_tokens(math_segments(strip_figures(text or "")))
    return _trigrams(toks)


def number_weight(n: str) -> float:
    """Information in stating number n: small numbers (0-10) are said by chance, long ones are not."""
    return 0.5 if len(n) == 1 or n == "10" else float(min(len(n), 4))


class _Weights(dict):
    """number -> number_weight(number), filled on first sight (a C-level lookup in `compare_numbers`' sums)."""

    def __missing__(self, n: str) -> float:
        w = self[n] = number_weight(n)
        return w


_WEIGHTS = _Weights()
_weight = _WEIGHTS.__getitem__


def _weighted_jaccard(a: frozenset, b: frozenset) -> tuple[float, float]:
    inter = sum(map(_weight, a & b))
    union = sum(map(_weight, a | b))
    return (inter / union if union else 0.0), inter


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def numbers_bound(a: Content, b: Content) -> float:
    """An upper bound of `compare_numbers(a, b)["numbers"]` from the readings' weights alone: a weighted
    Jaccard I / (A + B - I) is at most min(A, B) / max(A, B). Lets `rephrase.second_opinion` skip the
    comparison of pairs that no rule could flag."""
    best = 0.0
    for ra in a.readings or (_reading(a.counts),):
        for rb in b.readings or (_reading(b.counts),):
            hi = max(ra[2], rb[2])
            if hi:
                best = max(best, min(ra[2], rb[2]) / hi)
    return best


def compare_numbers(a: Content, b: Content) -> dict:
    """The number scores of `compare` alone (what most pairs' verdicts need: `rephrase.verdict`)."""
    best = None
    for ra in a.readings or (_reading(a.counts),):
        for rb in b.readings or (_reading(b.counts),):
            inter = ra[0] & rb[0]
            shared = sum(map(_weight, inter))
            union = ra[2] + rb[2] - shared
            num = shared / union if union else 0.0
            if best is None or num > best[0]:
                best = (num, shared, inter, ra, rb)
    num, shared, inter, (_, xd, _, item_w), (y, yd, _, _) = best
    # cover counts repeats: "1 + 2 + ... + 9 + 10 divided by 9" states 9 twice, its "divided by 8" variant once
    kept_w = sum(_weight(n) * min(xd[n], yd[n]) for n in inter)
    extra = y - inter
    added = sum(w for w in map(_weight, extra) if w >= 2)
    new = extra - a.implied
    return {"numbers": num, "numbers_shared": shared, "numbers_cover": kept_w / item_w if item_w else 0.0,
            "numbers_added": added, "numbers_added_digits": sum(map(_weight, new & b.digits)) if new else 0}


def compare_formulas(a: Content, b: Content) -> dict:
    """The formula scores of `compare`: math and shape trigram Jaccard, and whether the asked quantities agree."""
    return {"math": _jaccard(a.math, b.math), "shape": _jaccard(a.shape, b.shape),
            "asked": _jaccard(a.asked, b.asked) if a.asked and b.asked else None}


def compare(a: Content, b: Content) -> dict:
    """Scores of item `a` against question `b`: numbers (weighted Jaccard) and their shared weight, under the
    comma reading that agrees most; `numbers_cover`, the share of the item's number weight the question
    states; `numbers_added`, the weight of the question's numbers of two digits or more that the item lacks;
    `numbers_added_digits`, the weight of the numbers the item lacks (and does not imply by a range) that the
    question writes in digits;
    math and shape trigram Jaccard; and whether the asked quantities agree."""
    return {**compare_numbers(a, b), **compare_formulas(a, b)}
