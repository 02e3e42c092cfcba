"""Near-duplicates: canonical text, MinHash-LSH, grouping, and the three public AIME 2024 copies."""

from __future__ import annotations

import numpy as np
import pytest

from ded.dedup import exact_pairs, find_duplicates, group_rows
from ded.dedup.canonical import canonical_hash, canonical_tokens, same_numbers
from ded.dedup.embedding import cosine_pairs
from ded.dedup.minhash import MinHasher
from ded.ingest import ingest_paths

P = ("Every morning Aya goes for a $9$-kilometer-long walk and stops at a coffee shop afterwards. When she walks "
     "at a constant speed of $s$ kilometers per hour, the walk takes her 4 hours.")


def test_canonical_ignores_formatting_not_content():
    reformatted = ("Every  morning Aya goes for a 9-kilometer-long walk and stops at a coffee shop afterwards.\n"
                   "When she walks at a constant speed of \\( s \\) kilometers per hour, the walk takes her $4$ hours. "
                   "Please reason step by step, and put your final answer within \\boxed{}.")
    assert canonical_hash(P) == canonical_hash(reformatted)
    assert canonical_hash(P) != canonical_hash(P.replace("4 hours", "5 hours"))
    assert canonical_tokens(r"$\dfrac{1}{2} + \left( x^{2} \right)$ [asy]draw((0,0)--(1,1));[/asy]") == \
        canonical_tokens(r"$\frac{1}{2}+(x^2)$")
    assert same_numbers(canonical_tokens("x = 3, y = 4"), canonical_tokens("given y=4 and x=3, find z"))
    assert not same_numbers(canonical_tokens("x = 3, y = 4"), canonical_tokens("x = 5, y = 4"))


def test_minhash_finds_near_copies_only():
    words = P.split()
    variant = " ".join(words[:-3] + ["takes", "her", "5 hours."])  # last words edited
    other = "Find the number of ordered pairs of integers (x, y) with x^2 + y^2 = 2025 and x < y."
    mh = MinHasher()
    sigs = mh.signatures([canonical_tokens(t) for t in (P, variant, other, P)])
    pairs = {(i, j) for i, j, _ in mh.pairs(sigs, 0.6)}
    assert (0, 1) in pairs and (0, 3) in pairs and (1, 3) in pairs
    assert not any(2 in p for p in pairs)
    with pytest.raises(ValueError, match="multiple of bands"):
        MinHasher(num_perm=100, bands=32)


def test_group_rows_representative_and_methods():
    ids = ["q_a", "q_b", "q_c", "q_d", "q_e"]
    # q_c has the answer and wins; a-b exact, b-c minhash, d alone, e-c embedding
    keys = [(True, 1.0, "q_a"), (True, 0.0, "q_b"), (False, 5.0, "q_c"), (False, 0.0, "q_d"), (False, 9.0, "q_e")]
    edges = [(0, 1, "exact", 1.0), (1, 2, "minhash", 0.85), (2, 4, "embedding", 0.97)]
    rows = group_rows(ids, edges, keys)
    assert {r["question_id"] for r in rows} == {"q_a", "q_b", "q_c", "q_e"}
    assert {r["representative"] for r in rows} == {"q_c"} and {r["group_id"] for r in rows} == {"g_c"}
    by = {r["question_id"]: (r["method"], r["score"]) for r in rows}
    assert by["q_a"] == ("exact", 1.0) and by["q_b"] == ("exact", 1.0)
    assert by["q_c"] == ("minhash", 0.85) and by["q_e"] == ("embedding", 0.97)
    assert exact_pairs(["h1", "h2", "h1", "h1"]) == [(0, 2, "exact", 1.0), (0, 3, "exact", 1.0)]


def test_cosine_pairs_blocked_equals_bruteforce():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(300, 16)).astype(np.float32)
    v[7] = v[3] + 0.01
    v[250] = v[3] + 0.02
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    got = {(i, j) for i, j, _ in cosine_pairs(v, 0.99, block=64)}
    s = v @ v.T
    want = {(i, j) for i in range(300) for j in range(i + 1, 300) if s[i, j] >= 0.99}
    assert got == want and {(3, 7), (3, 250), (7, 250)} <= got


def test_three_aime24_copies_group_together(lake, shared_data):
    d = shared_data / "aime24"
    for f in ("qwq_aime24.jsonl", "qwen25math_aime24_test.jsonl", "rllm_aime24_test.json"):
        ingest_paths(lake, [d / f], show_progress=False)
    q = lake.read("questions", columns=["question_id", "source"]).to_pylist()
    extra = {r["question_id"] for r in q if r["source"] != "qwq_aime24"}
    assert len(q) > 30 and extra  # the copies differ in [asy] figures and wording, so ingest keeps them apart
    stats = find_duplicates(lake, methods=("exact", "minhash"))
    dup = lake.read("duplicates").to_pylist()
    sources = {r["question_id"]: r["source"] for r in q}
    groups: dict[str, list[str]] = {}
    for r in dup:
        groups.setdefault(r["group_id"], []).append(sources[r["question_id"]])
    grouped = {r["question_id"] for r in dup}
    assert extra <= grouped  # every copy that ingest could not merge is grouped with ...
    assert all(s.count("qwq_aime24") == 1 for s in groups.values())  # ... the one QwQ copy of its problem
    # the torus problem has two variant copies (an [asy] figure; "inside"/"outside" reworded): a group of 3
    assert stats["groups"] == len(groups) == 6 and len(dup) == len(extra) + 6
    assert {r["method"] for r in dup} == {"exact", "minhash"}
    assert len({(r["group_id"]) for r in dup if r["question_id"] == r["representative"]}) == stats["groups"]
    # rerun: same table (deterministic ids and representatives)
    find_duplicates(lake, methods=("exact", "minhash"))
    assert sorted(map(str, lake.read("duplicates").to_pylist())) == sorted(map(str, dup))


def test_unknown_method_is_an_error(lake):
    with pytest.raises(ValueError, match="unknown dedup methods"):
        find_duplicates(lake, methods=("fuzzy",))
