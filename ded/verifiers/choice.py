"""Multiple-choice verdicts: the chosen letter read from a response (GPQA's protocol, after OpenAI
simple-evals: the last "Answer: X" line), and a boxed option text matched to its letter.

Used by `ded verify` (trajectories whose gold answer is a letter) and by `ded evaluate` (GPQA); the options'
shuffle and the query template are the benchmark's (`ded.benchmarks.gpqa`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ded.text import last_boxed, split_reasoning

LETTERS = "ABCD"


# Ordered most to least explicit; within a pattern the LAST match wins (a model may restate the format early).
_PATTERNS = [
    re.compile(r"\*{0,2}(?i:answer)\*{0,2}\s*[:：][\s*]*\(?\s*\$?(?:\\text(?:bf)?\{)?([A-D])\b"),
    re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{)?\s*\(?([A-D])\)?\s*\}?\s*\}"),
    re.compile(r"(?i:answer\s+is)\s*[:：]?\s*\**\(?([A-D])\b"),
]


def extract_letter(text: str | None) -> str | None:
    """The chosen letter, or None. Callers pass the final part (reasoning already stripped)."""
    if not text:
        return None
    for pat in _PATTERNS:
        found = pat.findall(text)
        if found:
            return found[-1].upper()
    # a bare letter as the whole last line ("C", "(C)", "C)")
    last = text.strip().splitlines()[-1].strip() if text.strip() else ""
    m = re.fullmatch(r"\(?([A-D])[).]?", last)
    return m.group(1) if m else None


def option_text_fallback(response: str | None, options: Sequence[str], correct_letter: str) -> dict | None:
    """When no letter was found, a final `\\boxed{…}` that states one option's text names that option (models
    trained on boxed math answers often box the value, e.g. `\\boxed{+7}`). None when nothing matches exactly."""
    _r, final, closed = split_reasoning(response)
    boxed = last_boxed(final) if closed else None
    if not boxed:
        return None
    norm = lambda s: re.sub(r"\s+|\\text\{|\}|\$", "", s).lower()
    hits = [i for i, o in enumerate(options) if norm(o) == norm(boxed)]
    if len(hits) != 1:
        return None
    letter = LETTERS[hits[0]]
    ok = letter == correct_letter
    return {"status": "correct" if ok else "wrong", "correct": ok, "extracted": letter,
            "detail": f"boxed option text {boxed[:60]!r} matched option {letter}"}


def grade(final: str | None, correct_letter: str) -> dict:
    """A verdict dict in the shape of ded.verifiers results: status, correct, extracted."""
    letter = extract_letter(final)
    if letter is None:
        return {"status": "no_answer", "correct": False, "extracted": None}
    ok = letter == correct_letter
    return {"status": "correct" if ok else "wrong", "correct": ok, "extracted": letter}
