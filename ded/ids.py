"""Stable ids (ARCHITECTURE.md, "Ids").

`question_id` hashes the normalized problem text so the same problem from two sources is one
question; anything fuzzier (reformatted LaTeX, paraphrases) is the `duplicates` table's job.
`trajectory_id` hashes (question_id, model, origin, sample_idx), not the text: two identical
answers are two samples.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

# Instructions that prompt sets append to problems; they say nothing about the problem itself.
# Matched case-insensitively at the end (or start) of the text, after whitespace collapsing.
BOILERPLATE = [
    r"please reason step by step,? and put your final answer within \\boxed\{\}\.?",
    r"let'?s think step by step( and output the final answer within \\boxed\{\})?\.?",
    r"put your final answer within \\boxed\{\}\.?",
    r"return your final response within \\boxed\{\}\.?",
    r"output the final answer within \\boxed\{\}\.?",
    r"mark your solution with \\boxed\.?",
    r"answer:\s*$",
]
_BOILER_END = re.compile(r"(?:\s*(?:" + "|".join(BOILERPLATE[:-1]) + r"))+\s*$", re.IGNORECASE)
_BOILER_START = re.compile(
    r"^\s*(?:return your final response within \\boxed\{\}\.?|" + BOILERPLATE[0] + r")\s*",
    re.IGNORECASE,
)
_WS = re.compile(r"\s+")
# figures and links: Asymptote/TikZ drawing code and URLs are not problem text (the three public AIME 2024
# copies differ only by whether they carry the [asy] block, checked on ../shared/data/aime24)
_FIGURE = re.compile(r"\[asy\].*?\[/asy\]|\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}|https?://\S+", re.DOTALL | re.IGNORECASE)


def strip_boilerplate(text: str) -> str:
    """Remove known answer-format instructions from a problem statement."""
    text = _BOILER_END.sub("", text)
    return _BOILER_START.sub("", text).strip()


def strip_figures(text: str) -> str:
    """Drawing code ([asy], TikZ) and URLs replaced by a space."""
    return _FIGURE.sub(" ", text)


def normalize_problem(text: str) -> str:
    """NFKC, boilerplate removed, whitespace collapsed, trimmed (case is kept: LaTeX is case-sensitive)."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _WS.sub(" ", text).strip()
    return _WS.sub(" ", strip_boilerplate(text)).strip()


def _h(*parts: str, n: int = 16) -> str:
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return h[:n]


def question_id(problem: str) -> str:
    """`q_` + 16 hex of sha256(normalized problem)."""
    return "q_" + _h(normalize_problem(problem))


def trajectory_id(question_id: str, model: str, origin: str, sample_idx: int) -> str:
    return "t_" + _h(question_id, model, origin, str(int(sample_idx)))


def text_hash(text: str) -> str:
    return _h(text or "", n=32)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hash of a JSON-able object with sorted keys (params, request fingerprints, run ids)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:n]
