"""Bench: farthest-P (DED step 4) over 1,000 questions × 8 trajectories of ~20k characters.

Texts: per question a base trace of ~20k characters, a window of a real long trace of the AIME
2024 panel in ../shared/data (Sky-T1 models; a Zipf-distributed synthetic vocabulary when the
folder is absent), and 8 variants with 2-40% of their words edited (substitutions, insertions,
deletions, and a moved block), so pairwise distances spread the way samples of one teacher do. The step timed is the production one
(`ded.selectors.farthest.farthest_p_step`, token-level Levenshtein, `select.workers` threads).

Baseline: the same greedy choice on exact character-level Levenshtein (rapidfuzz), the cost the
issue quotes (~12 ms per pair of 20k characters). Running it on all 28,000 pairs would take
~6 minutes, so it runs on the first `--baseline-questions` questions in the same run and is
extrapolated linearly (key `baseline_measured_questions`); `same_picks` is the share of those
questions where both pick the same P trajectories.

    python bench/diversity.py [--questions 1000] [--p 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl


def real_bases(chars: int) -> list[list[str]]:
    """Windows of `chars` characters from the long real traces of the AIME 2024 panel, as word lists."""
    import ast
    import gzip

    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories" / "skythought_evals" / "aime24"
    out = []
    for f in sorted(root.glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            for line in fh:
                d = json.loads(line)
                code = d["code"] if isinstance(d["code"], list) else ast.literal_eval(d["code"])
                if len(code[0]) >= chars:
                    out.append(code[0][:chars].split())
    return out


def synthetic_bases(n: int, chars: int, rng: np.random.Generator) -> list[list[str]]:
    """Zipf-distributed words, LaTeX-like groups and numbers (when ../shared/data is absent)."""
    vocab = np.array([f"w{i}" for i in range(2600)] + [f"\\frac{{{i}}}{{{i + 1}}}" for i in range(200)]
                     + [str(i) for i in range(200)] + ["=", "+", "(", ")", ",", ".", "so", "then", "wait"])
    probs = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    probs /= probs.sum()
    return [list(vocab[rng.choice(len(vocab), chars // 5, p=probs)]) for _ in range(n)]


def make_texts(n_q: int, k: int, chars: int, seed: int = 0) -> tuple[list[str], list[str], list[str], str]:
    """Per question a base trace and `k` variants with 2-40% of their words edited (substitutions,
    deletions, insertions drawn from the base's own words, and a moved block)."""
    rng = np.random.default_rng(seed)
    bases = real_bases(chars)
    kind = f"real ({len(bases)} AIME 2024 panel traces, cycled)" if bases else "synthetic"
    if not bases:
        bases = synthetic_bases(min(n_q, 200), chars, rng)
    tids, qids, texts = [], [], []
    for q in range(n_q):
        base = np.array(bases[q % len(bases)], dtype=object)
        for j in range(k):
            w = base.copy()
            rate = rng.uniform(0.02, 0.40)
            m = rng.random(len(w)) < rate
            w[m] = base[rng.integers(0, len(base), int(m.sum()))]  # substitutions
            w = w[rng.random(len(w)) > rate / 4]  # deletions
            ins = base[rng.integers(0, len(base), int(len(w) * rate / 4))]
            w = np.insert(w, rng.integers(0, len(w), len(ins)), ins)  # insertions
            a = int(rng.integers(0, len(w) // 2))
            b = a + int(len(w) * rate / 2)
            w = np.concatenate([w[:a], w[b:], w[a:b]])  # a moved block
            texts.append(" ".join(w))
            tids.append(f"t_{q:05d}_{j}")
            qids.append(f"q_{q:05d}")
    return tids, qids, texts, kind


def main() -> None:
    from rapidfuzz.distance import Levenshtein

    from ded.scorers.diversity import farthest_p
    from ded.selectors.farthest import farthest_p_step

    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--per-question", type=int, default=8)
    ap.add_argument("--chars", type=int, default=20_000)
    ap.add_argument("--p", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-questions", type=int, default=20)
    a = ap.parse_args()

    tids, qids, texts, kind = make_texts(a.questions, a.per_question, a.chars)
    by_id = dict(zip(tids, texts))
    frame = pl.DataFrame({"trajectory_id": tids, "question_id": qids})
    step = farthest_p_step(a.p, None, a.workers)
    t = time.perf_counter()
    kept = step.fn(frame, {"texts": lambda ids: {i: by_id[i] for i in ids}})
    ours = time.perf_counter() - t
    ours_picks = kept.join(frame, on="trajectory_id").group_by("question_id").agg("trajectory_id")
    ours_picks = {q: set(ids) for q, ids in ours_picks.iter_rows()}

    nb = min(a.baseline_questions, a.questions)
    same = 0
    t = time.perf_counter()
    for q in range(nb):
        ids = [f"t_{q:05d}_{j}" for j in range(a.per_question)]
        n = len(ids)
        d = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                d[i, j] = d[j, i] = Levenshtein.normalized_distance(by_id[ids[i]], by_id[ids[j]])
        exact = {ids[i] for i in farthest_p(d, a.p).order}
        same += exact == ours_picks[f"q_{q:05d}"]
    base_measured = time.perf_counter() - t
    baseline = base_measured * a.questions / nb
    print(f"ours {ours:.1f}s for {a.questions} questions; exact char-level {base_measured:.1f}s for {nb} "
          f"(→ {baseline:.0f}s extrapolated); same picks on {same}/{nb}", file=sys.stderr)
    print(json.dumps({"metric": f"farthest-{a.p} over {a.questions} questions x {a.per_question} traces of ~{a.chars} chars (s)",
                      "ours": round(ours, 2), "baseline": round(baseline, 1), "ratio": round(ours / baseline, 4),
                      "better": "lower", "target": 60, "baseline_measured_questions": nb,
                      "same_picks": round(same / nb, 3), "workers": a.workers, "cores": os.cpu_count(),
                      "texts": kind, "mean_chars": round(sum(map(len, texts)) / len(texts))}))


if __name__ == "__main__":
    main()
