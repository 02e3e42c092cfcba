"""Bench: ANN search over 100k question vectors (IVF-PQ + refine) against exact search.

Data: 100k synthetic unit vectors in 384 dimensions (MiniLM's width) drawn around 2,000 cluster centres
(real embedding of 100k texts takes about an hour on this CPU, issue 5), written as `question_vectors` of
a fresh lake; 200 held-out queries from the same clusters. The query embedding is excluded.
Ours: `ded.search.vector_search` (LanceDB, the IVF-PQ index built by `ensure_vector_index`, nprobes and
refine_factor from params defaults). Baseline: exact search by one NumPy matrix product over all vectors in
memory (also the ground truth for recall@10).
Targets (issue 5): p50 <= 20 ms and recall@10 >= 0.9. Last line: the JSON object of ARCHITECTURE.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# run as `python bench/X.py`, Python puts bench/ first on sys.path, where bench/select.py would shadow the
# standard library's `select`; the repository root replaces it
sys.path[:] = [str(Path(__file__).resolve().parents[1])] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    which = rng.integers(0, clusters, n)
    v = centres[which] + rng.normal(scale=0.6 / np.sqrt(dim), size=(n, dim)).astype(np.float32) * 1.0
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32), centres


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--nprobes", type=int, default=32)
    ap.add_argument("--refine", type=int, default=10)
    args = ap.parse_args()
    from ded.embeddings.store import _create, rows_table
    from ded.lake import Lake
    from ded.search import ensure_vector_index, vector_search

    rng = np.random.default_rng(0)
    data, _ = clustered(args.n + args.queries, args.dim, 2000, rng)
    base, queries = data[: args.n], data[args.n:]
    ids = [f"q_{i:08d}" for i in range(args.n)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_search_"))
    try:
        lake = Lake(tmp / "lake")
        _create(lake, "question_vectors", args.dim, "create")
        for s in range(0, args.n, 25_000):
            lake.append("question_vectors", rows_table(ids[s:s + 25_000], [0] * len(ids[s:s + 25_000]),
                                                       base[s:s + 25_000], "synthetic", ["h"] * len(ids[s:s + 25_000])))
        t0 = time.perf_counter()
        what = ensure_vector_index(lake, "question_vectors", threshold=50_000)
        build = time.perf_counter() - t0
        print(f"index: {what} in {build:.1f}s")
        truth, base_ms = [], []
        for q in queries:
            t0 = time.perf_counter()
            top = np.argpartition(-(base @ q), 10)[:10]
            base_ms.append((time.perf_counter() - t0) * 1000)
            truth.append({ids[i] for i in top})
        vector_search(lake, "questions", queries[0], k=10)  # warm the index cache (first query loads it)
        ours_ms, recall = [], []
        for q, want in zip(queries, truth):
            t0 = time.perf_counter()
            got = vector_search(lake, "questions", q, k=10, nprobes=args.nprobes, refine_factor=args.refine)
            ours_ms.append((time.perf_counter() - t0) * 1000)
            recall.append(len({i for i, _, _ in got} & want) / 10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p50, p95 = float(np.percentile(ours_ms, 50)), float(np.percentile(ours_ms, 95))
    b50 = float(np.percentile(base_ms, 50))
    r = float(np.mean(recall))
    print(f"ours: p50 {p50:.2f} ms, p95 {p95:.2f} ms, recall@10 {r:.3f}; exact numpy: p50 {b50:.2f} ms")
    print(json.dumps({"metric": f"p50 latency of a k=10 search over {args.n} vectors, ms", "ours": round(p50, 2),
                      "baseline": round(b50, 2), "ratio": round(p50 / b50, 3), "better": "lower", "target": 20,
                      "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "recall_at_10": round(r, 4),
                      "recall_target": 0.9, "index_build_s": round(build, 1), "nprobes": args.nprobes,
                      "refine_factor": args.refine}))


if __name__ == "__main__":
    main()
