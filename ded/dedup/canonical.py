"""Canonical word tokens of a problem: the common ground of exact dedup, MinHash and n-gram decontamination.

Formatting is not content. Two copies of one problem differ in whitespace, `$x^{2}$` against `$x^2$`,
`\\dfrac` against `\\frac`, `\\left(` against `(`, and an appended "Please reason step by step…"
instruction; they agree on the sequence of words and numbers. So a text is reduced to its lowercase
alphanumeric runs after NFKC, boilerplate removal and dropping LaTeX sizing/spacing commands, and
`frac` variants are unified; figure code ([asy] blocks) and URLs are dropped. Two problems with the same tokens are "exact" duplicates.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from ded.ids import strip_boilerplate, strip_figures, text_hash

# LaTeX that changes layout, never meaning (sizing, spacing, display style)
_LAYOUT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg|displaystyle|textstyle|limits|quad|qquad|[,;:!]|\s)"
                     r"(?![A-Za-z])")
_FRAC = re.compile(r"\\[dt]frac(?![A-Za-z])")
_TOKEN = re.compile(r"[^\W\d_]+|\d+")  # letter runs and digit runs: `\frac12` = frac 1 2


def canonical_tokens(text: str | None) -> list[str]:
    t = text or ""
    if not t.isascii():
        t = unicodedata.normalize("NFKC", t)
    # substring guards skip regexes that cannot match: this runs on every pool question (bench/decontam.py)
    low = t.lower()
    if "[asy]" in low or "tikzpicture" in low or "http" in low:
        t = strip_figures(t)
        low = t.lower()
    if "boxed" in low or "step by step" in low or "answer:" in low:
        t = strip_boilerplate(" ".join(t.split()))
    if "\\" in t:
        t = _FRAC.sub(r"\\frac", _LAYOUT.sub(" ", t))
    return _TOKEN.findall(t.lower())


def canonical_hash(text: str | None) -> str:
    """Hash of the canonical token sequence: equal for formatting-only variants of one problem."""
    return text_hash(" ".join(canonical_tokens(text)))


def numbers(tokens: list[str]) -> Counter:
    """The multiset of digit runs among the tokens ("2.4" counts as 2 and 4)."""
    return Counter(tok for tok in tokens if tok.isdigit())


def same_numbers(item_tokens: list[str], question_tokens: list[str]) -> bool:
    """Every number of the benchmark item appears in the question (as often): not a numbers-changed variant."""
    need, have = numbers(item_tokens), numbers(question_tokens)
    return all(have[k] >= v for k, v in need.items())
