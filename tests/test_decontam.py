"""Decontamination: facts on real data, and 20 benchmark items planted in a pool four ways."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from ded.benchmarks import load_benchmarks
from ded.decontam import decontaminate, paraphrase_filter
from ded.decontam.ngram import NgramIndex
from ded.dedup.canonical import canonical_hash, canonical_tokens
from ded.embeddings import embed_into, load_encoder
from ded.embeddings.store import question_items

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planted import planted


@pytest.fixture(scope="session")
def encoder():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu")


def _rows(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.open() if x.strip()]


def test_ngram_index_coverage_and_sizes():
    item = canonical_tokens("Find the number of ordered pairs of positive integers whose product is 2024 exactly")
    idx = NgramIndex([item, canonical_tokens("Compute 2 + 2.")], n=8)
    assert idx.match(item)[0] == idx.sizes[0] == len(item) - 7
    half = item[: len(item) // 2 + 4]
    assert 0 < idx.match(half)[0] < idx.sizes[0]
    assert idx.match(canonical_tokens("so compute 2+2 now"))[1] == 1  # a short item matches as a whole
    assert idx.hits([item, half], min_coverage=0.9)[0].question_idx == 0 and len(idx.hits([item, half], 0.9)) == 1
    assert NgramIndex([item], n=13).sizes[0] == len(item) - 12 and NgramIndex([item], n=32).sizes[0] == 0
    with pytest.raises(ValueError):
        NgramIndex([item], n=0)


def test_real_pools_facts(shared_data):
    """MATH train vs MATH-500 and AIME 1983-2023 vs AIME 2024: no exact overlap; n-gram flags <= 1%."""
    m500 = [r["problem"] for r in _rows(shared_data / "math500/math500_test.jsonl")]
    train = [r["problem"] for r in json.loads((shared_data / "math_pool/rllm_math_train.json").read_text())]
    aime_old = [r["problem"] for r in json.loads((shared_data / "math_pool/rllm_aime_1983_2023.json").read_text())]
    aime24 = [r["problem"] for r in json.loads((shared_data / "aime24/rllm_aime24_test.json").read_text())]
    assert not {canonical_hash(t) for t in train} & {canonical_hash(t) for t in m500}
    assert not {canonical_hash(t) for t in aime_old} & {canonical_hash(t) for t in aime24}
    idx = NgramIndex([canonical_tokens(t) for t in m500], 8)
    hits = idx.hits([canonical_tokens(t) for t in train], min_coverage=0.6)
    share = len({h.question_idx for h in hits}) / len(train)
    any_hit = len({h.question_idx for h in idx.hits([canonical_tokens(t) for t in train], 0.0)}) / len(train)
    print(f"MATH train flagged by 8-grams vs MATH-500: {share:.2%} at coverage>=0.6, {any_hit:.2%} on any 8-gram")
    assert share <= 0.01 < any_hit  # open-r1's any-overlap rule would flag far more
    idx24 = NgramIndex([canonical_tokens(t) for t in aime24], 8)
    assert len({h.question_idx for h in idx24.hits([canonical_tokens(t) for t in aime_old], 0.6)}) == 0


@pytest.fixture
def planted_lake(lake, shared_data, tmp_path):
    """A pool of 30 MATH train questions + 20 planted items; benchmarks: the referenced items + distractors."""
    m500 = _rows(shared_data / "math500/math500_test.jsonl")
    a24 = {r["id"]: r for r in _rows(shared_data / "aime24/qwen25math_aime24_test.jsonl")}
    texts = {("math500", i): r["problem"] for i, r in enumerate(m500)} | {("aime24", i): r["problem"] for i, r in a24.items()}
    plants = planted(texts)
    refs = {p["ref"] for p in plants}
    keep_m = sorted({i for b, i in refs if b == "math500"} | set(range(100, 115)))
    (tmp_path / "m500.jsonl").write_text("".join(json.dumps(m500[i]) + "\n" for i in keep_m))
    (tmp_path / "a24.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a24.values()))
    train = json.loads((shared_data / "math_pool/rllm_math_train.json").read_text())[:30]
    from ded.ids import question_id
    rows = [{"question_id": question_id(r["problem"]), "problem": r["problem"], "source": "math_train"} for r in train]
    rows += [{"question_id": question_id(p["problem"]), "problem": p["problem"], "source": p["source"]} for p in plants]
    lake.merge("questions", rows)
    specs = {"math500": {"path_or_hub": str(tmp_path / "m500.jsonl")}, "aime24": {"path_or_hub": str(tmp_path / "a24.jsonl")}}
    load_benchmarks(lake, specs)
    uid = {i: m500[i]["unique_id"] for i in keep_m}
    want = {question_id(p["problem"]): (p["plant"], p["ref"][0], uid[p["ref"][1]] if p["ref"][0] == "math500" else str(p["ref"][1]))
            for p in plants}
    return lake, want


def test_planted_items_are_caught(planted_lake, encoder):
    lake, want = planted_lake
    embed_into(lake, "question_vectors", question_items(lake), encoder)
    stats = decontaminate(lake, encoder=encoder)
    hits = defaultdict(dict)
    for r in lake.read("contamination").to_pylist():
        hits[r["question_id"]][(r["benchmark"], r["item_id"])] = r
    by_plant = defaultdict(list)
    for qid, (plant, bench, item) in want.items():
        by_plant[plant].append(hits[qid].get((bench, item)))
    assert all(r and r["method"] == "ngram" and r["kind"] == "contaminated" and r["score"] >= 0.99
               for r in by_plant["verbatim"] + by_plant["reformatted"])
    assert all(r and r["embedding_score"] >= 0.65 and r["kind"] == "contaminated" for r in by_plant["paraphrased"])
    assert all(r["method"] == "embedding" for r in by_plant["paraphrased"])  # no 8-gram survives a paraphrase
    assert all(r and r["kind"] == "near_duplicate" for r in by_plant["numbers_changed"])
    # nothing else: the 30 MATH train questions are clean against these items
    assert set(hits) == set(want), stats
    from ded.stages.embed import contamination_report
    rep = contamination_report(lake, kind="near_duplicate")
    assert len(rep) == 5 and {r["kind"] for r in rep} == {"near_duplicate"} and rep[0]["question"]


def test_ngram_only_run_keeps_typed_scores(planted_lake):
    lake, want = planted_lake
    stats = decontaminate(lake, embedding_threshold=None)  # no encoder: n-grams only
    plants = {qid: plant for qid, (plant, _, _) in want.items()}
    t = lake.read("contamination")
    assert t.schema.field("embedding_score").type == "double" and t.column("embedding_score").null_count == t.num_rows
    flagged = {r["question_id"] for r in t.to_pylist()}
    assert stats["questions_flagged"] == 15 and {plants[q] for q in flagged} == {"verbatim", "reformatted", "numbers_changed"}
    from ded.stages.embed import contamination_report
    assert len(contamination_report(lake)) == 15


def test_paraphrase_rule_needs_the_same_informative_numbers():
    items = [{"problem": "How many positive divisors does 196 have?"}, {"problem": "Roll 2 dice; find P(sum = 6)."}]
    texts = {"a": "Count the integers dividing 196 evenly.", "b": "Count the integers dividing 197 evenly.",
             "c": "Two dice are rolled: the chance the total is 6?"}
    pairs = {("a", 0): 0.7, ("b", 0): 0.7, ("c", 1): 0.8, ("b", 1): 0.95}
    kept = paraphrase_filter(pairs, items, texts, threshold=0.92, min_digits=3)
    assert kept == {("a", 0): 0.7, ("b", 1): 0.95}  # c: {2, 6} carries too few digits to be evidence
