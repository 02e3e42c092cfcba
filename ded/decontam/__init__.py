"""Benchmark decontamination: pool questions against `benchmark_items` → `contamination`.

Two detectors, run together (ARCHITECTURE.md: contamination(question_id, benchmark, item_id, method, score)):
- `ngram`: word n-gram overlap (n = 8 by default as s1 and open-r1; 13 and 32 selectable), scored by the share
  of the item's n-grams found in the question (`ded.decontam.ngram`). Catches verbatim and reformatted copies.
- `embedding`: cosine of sentence embeddings (question vs item, mean of chunks) >= `embedding_threshold`;
  or, for paraphrases, cosine >= `paraphrase_threshold` when question and item state the same set of numbers
  and those numbers carry at least `paraphrase_min_digits` digits (a rewording keeps a problem's numbers;
  chance agreement on "2" and "6" is common, on 196 or {5, 9, 10} it is not).

Defaults, measured on ../shared/data (docs/embeddings.md): MATH train (7,474) vs MATH-500 shares no exact
problem; at n = 8, any shared 8-gram (open-r1's rule) flags 10.1% of MATH train, mostly stock stems
("In the diagram, D and E are the midpoints…") over different questions; coverage >= 0.6 flags 0.48%.
All-MiniLM-L6-v2 gives hand-written paraphrases cosines of 0.68-0.95 and 0.35% of MATH train a cosine of
>= 0.9 to some MATH-500 item, so the plain threshold is 0.92 and paraphrases go through the numbers rule at
0.65; together 0.82% of MATH train is flagged (both kinds), under the 1% budget of issue 5.

Every hit keeps both scores (`ngram_score`, `embedding_score`) and a `kind`: `contaminated` when every
number of the item appears in the question, `near_duplicate` when the text matches but numbers differ (a
numbers-changed variant: a different problem, reported, and left to the recipe's judgement). `method` is
the detector that fired first in that order, `score` its score. The table is recomputed whole on each run
(one commit): it is a pure function of the questions, the benchmarks and the thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ded.decontam.ngram import NgramIndex
from ded.dedup.canonical import canonical_tokens, numbers, same_numbers
from ded.embeddings.chunking import question_text
from ded.lake import Lake
from ded.progress import progress

KEY_SEP = "\x1f"  # benchmark_vectors ids: benchmark KEY_SEP item_id


def item_key(benchmark: str, item_id: str) -> str:
    return f"{benchmark}{KEY_SEP}{item_id}"


def ngram_pairs(questions: Iterable[tuple[str, str]], items: list[dict], n: int = 8,
                total: int | None = None) -> dict[tuple[str, int], float]:
    """{(question_id, item index): coverage} for every pair sharing at least one n-gram."""
    index = NgramIndex([canonical_tokens(it["problem"]) for it in items], n)
    out: dict[tuple[str, int], float] = {}
    with progress(total=total, desc=f"decontam {n}-grams", unit="questions") as bar:
        for qid, text in questions:
            for j, shared in index.match(canonical_tokens(text)).items():
                out[(qid, j)] = shared / max(index.sizes[j], 1)
            bar.advance(1)
    return out


def embedding_pairs(qids: list[str], qvecs: np.ndarray, ivecs: np.ndarray, threshold: float,
                    block: int = 8192) -> dict[tuple[str, int], float]:
    """{(question_id, item index): cosine} for pairs at or above `threshold` (unit vectors)."""
    out: dict[tuple[str, int], float] = {}
    if len(qids) == 0 or len(ivecs) == 0:
        return out
    for s in range(0, len(qids), block):
        sims = qvecs[s:s + block] @ ivecs.T
        for a, j in zip(*np.nonzero(sims >= threshold)):
            out[(qids[s + a], int(j))] = float(sims[a, j])
    return out


def number_digits(tokens: list[str]) -> tuple[frozenset, int]:
    """The set of numbers a text states and how many digits they carry together."""
    nums = frozenset(numbers(tokens))
    return nums, sum(len(n) for n in nums)


def paraphrase_filter(pairs: dict[tuple[str, int], float], items: list[dict], texts: dict[str, str],
                      threshold: float, min_digits: int = 3) -> dict[tuple[str, int], float]:
    """Keep pairs at or above `threshold` (plain rule), or below it when question and item state the same
    numbers with at least `min_digits` digits (paraphrase rule)."""
    item_nums: dict[int, tuple[frozenset, int]] = {}
    q_nums: dict[str, frozenset] = {}
    out = {}
    for (qid, j), cos in pairs.items():
        if cos >= threshold:
            out[(qid, j)] = cos
            continue
        nums, digits = item_nums.setdefault(j, number_digits(canonical_tokens(items[j]["problem"])))
        if digits < min_digits:
            continue
        if qid not in q_nums:
            q_nums[qid] = number_digits(canonical_tokens(texts.get(qid, "")))[0]
        if q_nums[qid] == nums:
            out[(qid, j)] = cos
    return out


def contamination_rows(items: list[dict], ngram: dict, emb: dict, texts: dict[str, str],
                       min_coverage: float, cosine: dict | None = None) -> list[dict]:
    """Flagged pairs as `contamination` rows (see module doc); `cosine` fills embedding_score of n-gram hits."""
    flagged = {k for k, v in ngram.items() if v >= min_coverage and v > 0} | set(emb)
    item_tokens: dict[int, list[str]] = {}
    rows = []
    for qid, j in sorted(flagged, key=lambda k: (k[0], k[1])):
        it = items[j]
        cov = ngram.get((qid, j), 0.0)
        cos = emb.get((qid, j), (cosine or {}).get((qid, j)))
        by_ngram = cov >= min_coverage and cov > 0
        toks = item_tokens.setdefault(j, canonical_tokens(it["problem"]))
        rows.append({
            "question_id": qid, "benchmark": it["benchmark"], "item_id": it["item_id"],
            "method": "ngram" if by_ngram else "embedding", "score": cov if by_ngram else cos,
            "ngram_score": cov, "embedding_score": cos,
            "kind": "contaminated" if same_numbers(toks, canonical_tokens(texts.get(qid, ""))) else "near_duplicate",
        })
    return rows


def _raw_problems(lake: Lake):
    """(question_id, problem) as stored: canonical_tokens does its own cleaning, no need to normalize twice."""
    for b in lake.scan("questions", columns=["question_id", "problem"]):
        yield from zip(b.column("question_id").to_pylist(), b.column("problem").to_pylist())


def _question_texts(lake: Lake, ids: set[str]) -> dict[str, str]:
    out = {}
    if not ids:
        return out
    want = pa.array(sorted(ids), pa.string())
    for b in lake.scan("questions", columns=["question_id", "problem"]):
        b = b.filter(pc.is_in(b.column("question_id"), want))
        out.update(zip(b.column("question_id").to_pylist(), b.column("problem").to_pylist()))
    return out


def decontaminate(lake: Lake, *, n: int = 8, min_coverage: float = 0.6, embedding_threshold: float | None = 0.92,
                  paraphrase_threshold: float | None = 0.65, paraphrase_min_digits: int = 3, encoder=None,
                  benchmarks: list[str] | None = None, embed_kwargs: dict | None = None) -> dict:
    """Recompute `contamination` from `questions` and `benchmark_items` (loaded beforehand). With an
    `encoder` and `embedding_threshold`, benchmark items are embedded (incrementally, `benchmark_vectors`)
    and compared with `question_vectors`. Returns counts for the receipt."""
    from ded.embeddings.store import embed_into, load_vectors

    t0 = time.perf_counter()
    flt = None
    if benchmarks:
        flt = "benchmark IN (" + ", ".join("'" + b.replace("'", "''") + "'" for b in benchmarks) + ")"
    items = lake.read("benchmark_items", columns=["benchmark", "item_id", "problem"], filter=flt).to_pylist()
    if not items:
        from ded.benchmarks import BenchmarkError

        raise BenchmarkError("benchmark_items is empty: set `benchmarks` in params (hub names or local files); "
                         "`ded embed` loads them before decontaminating")
    ngram = ngram_pairs(_raw_problems(lake), items, n, total=lake.count("questions"))
    emb, cosine = {}, {}
    if encoder is not None and embedding_threshold is not None and lake.exists("question_vectors"):
        embed_into(lake, "benchmark_vectors", ((item_key(it["benchmark"], it["item_id"]), question_text(it["problem"]))
                                               for it in items), encoder, total=len(items),
                   desc="embed benchmark items", **(embed_kwargs or {}))
        keys = [item_key(it["benchmark"], it["item_id"]) for it in items]
        bids, bvecs = load_vectors(lake, "benchmark_vectors", ids=keys)
        pos = {k: i for i, k in enumerate(bids)}
        ivecs = bvecs[[pos[k] for k in keys]]
        qids, qvecs = load_vectors(lake, "question_vectors")
        low = min(embedding_threshold, paraphrase_threshold or embedding_threshold)
        emb = embedding_pairs(qids, qvecs, ivecs, low)
        if low < embedding_threshold:
            emb = paraphrase_filter(emb, items, _question_texts(lake, {q for q, _ in emb}), embedding_threshold,
                                    paraphrase_min_digits)
        qpos = {q: i for i, q in enumerate(qids)}
        for (qid, j) in ngram:
            if (qid, j) not in emb and qid in qpos:
                cosine[(qid, j)] = float(qvecs[qpos[qid]] @ ivecs[j])
    flagged_q = {q for (q, j), v in ngram.items() if v >= min_coverage} | {q for q, _ in emb}
    rows = contamination_rows(items, ngram, emb, _question_texts(lake, flagged_q), min_coverage, cosine)
    # typed by our schema, not inferred: an all-null embedding_score (embeddings off) must stay float64
    lake.overwrite("contamination", pa.Table.from_pylist(rows, schema=_schema()))
    kinds = {}
    for r in rows:
        kinds[(r["method"], r["kind"])] = kinds.get((r["method"], r["kind"]), 0) + 1
    return {"pairs": len(rows), "questions_flagged": len({r["question_id"] for r in rows}),
            "by_method_kind": {f"{m}/{k}": c for (m, k), c in sorted(kinds.items())},
            "n": n, "min_coverage": min_coverage, "embedding_threshold": embedding_threshold,
            "paraphrase_threshold": paraphrase_threshold,
            "seconds": round(time.perf_counter() - t0, 2)}


def _schema() -> pa.Schema:
    from ded.schema import SCHEMAS

    extra = [pa.field("ngram_score", pa.float64()), pa.field("embedding_score", pa.float64()),
             pa.field("kind", pa.string())]
    return pa.schema(list(SCHEMAS["contamination"]) + extra)
