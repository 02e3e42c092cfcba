"""Question near-duplicates → `duplicates` (question_id, group_id, representative, method, score).

Three detectors over the whole `questions` table, from cheapest to fuzziest:
- `exact`: equal canonical token sequences (`ded.dedup.canonical`): whitespace, LaTeX layout and
  boilerplate variants that `question_id` (which only collapses whitespace) keeps apart;
- `minhash`: word 5-gram Jaccard estimated by MinHash-LSH >= `minhash_threshold` (`ded.dedup.minhash`);
- `embedding`: cosine of question vectors >= `embedding_threshold` (`ded.dedup.embedding`).
Pairs from all detectors are joined into groups (connected components). Each group keeps one
representative: a question with a reference answer first, then the earliest ingested, then the smallest
id, so the choice is deterministic. Every member gets a row (the representative too), with the strongest
method linking it into the group (exact > minhash > embedding) and that link's best score. `group_id` is
`g_` + the representative's hash. The table is recomputed whole on each run (one commit).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from ded.dedup.canonical import canonical_hash, canonical_tokens
from ded.dedup.embedding import cosine_pairs
from ded.dedup.minhash import MinHasher
from ded.embeddings.store import load_vectors
from ded.lake import Lake
from ded.progress import progress
from ded.schema import SCHEMAS

METHOD_ORDER = {"exact": 0, "minhash": 1, "embedding": 2}
Edge = tuple[int, int, str, float]


def exact_pairs(hashes: list[str]) -> list[Edge]:
    first: dict[str, int] = {}
    out = []
    for i, h in enumerate(hashes):
        if h in first:
            out.append((first[h], i, "exact", 1.0))
        else:
            first[h] = i
    return out


def group_rows(ids: list[str], edges: list[Edge], order_key: list[tuple]) -> list[dict]:
    """`duplicates` rows from pair edges over `ids`; `order_key[i]` ranks candidates for representative."""
    parent = list(range(len(ids)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    best: dict[int, tuple[int, float]] = {}  # member -> (method rank, score)
    for i, j, method, score in edges:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
        r = METHOD_ORDER[method]
        for m in (i, j):
            cur = best.get(m)
            if cur is None or r < cur[0] or (r == cur[0] and score > cur[1]):
                best[m] = (r, score)
    groups: dict[int, list[int]] = defaultdict(list)
    for m in best:
        groups[find(m)].append(m)
    names = {v: k for k, v in METHOD_ORDER.items()}
    rows = []
    for members in groups.values():
        rep = min(members, key=lambda m: order_key[m])
        gid = "g_" + ids[rep].removeprefix("q_")
        for m in sorted(members, key=lambda m: ids[m]):
            r, s = best[m]
            rows.append({"question_id": ids[m], "group_id": gid, "representative": ids[rep],
                         "method": names[r], "score": round(float(s), 6)})
    return sorted(rows, key=lambda r: (r["group_id"], r["question_id"]))


def find_duplicates(lake: Lake, *, methods: tuple[str, ...] = ("exact", "minhash", "embedding"),
                    minhash_threshold: float = 0.8, embedding_threshold: float = 0.95,
                    device: str = "cpu") -> dict:
    """Recompute `duplicates` from `questions` (and `question_vectors` for the embedding method)."""
    bad = set(methods) - set(METHOD_ORDER)
    if bad:
        raise ValueError(f"unknown dedup methods {sorted(bad)}; choose from {sorted(METHOD_ORDER)}")
    t0 = time.perf_counter()
    ids, hashes, keys, sigs = [], [], [], []
    hasher = MinHasher() if "minhash" in methods else None
    with progress(total=lake.count("questions"), desc="dedup: hash questions", unit="questions") as bar:
        for b in lake.scan("questions", columns=["question_id", "problem", "answer", "ingested_at"]):
            d = b.to_pydict()
            for qid, prob, ans, at in zip(d["question_id"], d["problem"], d["answer"], d["ingested_at"]):
                toks = canonical_tokens(prob)
                ids.append(qid)
                hashes.append(canonical_hash(prob))
                keys.append((ans in (None, ""), at.timestamp() if at else float("inf"), qid))
                if hasher:
                    sigs.append(hasher.signature(toks))
            bar.advance(b.num_rows)
    edges: list[Edge] = []
    counts = {}
    if "exact" in methods:
        e = exact_pairs(hashes)
        counts["exact"] = len(e)
        edges += e
    if hasher and ids:
        e = [(i, j, "minhash", s) for i, j, s in hasher.pairs(np.stack(sigs), minhash_threshold)]
        counts["minhash"] = len(e)
        edges += e
    if "embedding" in methods and lake.exists("question_vectors"):
        vids, vecs = load_vectors(lake, "question_vectors")
        pos = {q: i for i, q in enumerate(ids)}
        keep = [k for k, q in enumerate(vids) if q in pos]
        e = [(pos[vids[keep[a]]], pos[vids[keep[b]]], "embedding", s)
             for a, b, s in cosine_pairs(vecs[keep], embedding_threshold, device=device)]
        counts["embedding"] = len(e)
        edges += e
    rows = group_rows(ids, edges, keys)
    lake.overwrite("duplicates", rows if rows else SCHEMAS["duplicates"].empty_table())
    return {"questions": len(ids), "pairs": counts, "groups": len({r["group_id"] for r in rows}),
            "duplicates": len(rows) - len({r["group_id"] for r in rows}),
            "seconds": round(time.perf_counter() - t0, 2)}
