"""Word n-gram overlap between pool questions and benchmark items (the s1 / open-r1 decontamination test).

open-r1 (`scripts/decontaminate.py`) and s1 flag a training problem that shares any 8-gram with a
benchmark problem; lm-evaluation-harness used 13-grams and GPT-3's paper 13-grams too; 32 is selectable
for strict matching. We count, per (question, item), how many distinct n-grams of the item the question
contains, and report `coverage` = shared / the item's distinct n-grams, so a verbatim copy scores 1.0 and
a stock phrase shared by chance ("express your answer as a common fraction") scores a few percent;
`min_coverage` picks the flagging rule (0 = any shared n-gram, as open-r1).

Tokens are the canonical tokens of `ded.dedup.canonical`, so whitespace and LaTeX reformatting do not
hide a copy. An item shorter than n tokens is matched as a whole token sequence instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


def ngrams(tokens: list[str], n: int) -> set[int]:
    # Python's tuple hash: stable within a process, which is all an in-memory index needs
    # zip over n shifted views builds the n-gram tuples in C (5x faster than slicing in a loop)
    return set(map(hash, zip(*(tokens[i:] for i in range(n))))) if len(tokens) >= n else set()


@dataclass
class NgramHit:
    question_idx: int
    item_idx: int
    shared: int
    coverage: float


class NgramIndex:
    """An inverted index from n-gram hash to the benchmark items that contain it."""

    def __init__(self, item_tokens: list[list[str]], n: int = 8):
        if n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {n}")
        self.n = n
        self.index: dict[int, list[int]] = defaultdict(list)
        self.sizes: list[int] = []
        self.short: list[tuple[int, str]] = []  # items shorter than n: matched as a whole sequence
        for j, toks in enumerate(item_tokens):
            grams = ngrams(toks, n)
            self.sizes.append(len(grams))
            if grams:
                for g in grams:
                    self.index[g].append(j)
            elif toks:
                self.short.append((j, " " + " ".join(toks) + " "))
        self.keys = frozenset(self.index)

    def match(self, tokens: list[str]) -> dict[int, int]:
        """{item index: distinct n-grams of the item found in `tokens`}."""
        counts: dict[int, int] = defaultdict(int)
        index = self.index
        # set intersection runs in C over the smaller side; most questions share no n-gram at all
        for g in ngrams(tokens, self.n).intersection(self.keys):
            for j in index[g]:
                counts[j] += 1
        if self.short:
            joined = " " + " ".join(tokens) + " "
            for j, seq in self.short:
                if seq in joined:
                    counts[j] = max(counts[j], 1)
                    self.sizes[j] = max(self.sizes[j], 1)
        return counts

    def hits(self, questions: Iterable[list[str]], min_coverage: float = 0.0) -> list[NgramHit]:
        """Every (question, item) pair sharing an n-gram with coverage >= `min_coverage`."""
        out = []
        for qi, toks in enumerate(questions):
            for j, shared in self.match(toks).items():
                cov = shared / max(self.sizes[j], 1)
                if cov >= min_coverage:
                    out.append(NgramHit(qi, j, shared, cov))
        return out
