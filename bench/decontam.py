"""Bench: 8-gram decontamination of a 100k-question pool against ~1.3k benchmark items.

Data: every real pool question of ../shared/data (MATH train, AIME 1983-2023, OlympiadBench, AMC, LCB
before 2024-08, code contests) grown to 100k distinct questions by shifting each number by k (variant k of a
problem), plus 20 verbatim benchmark copies; benchmark items: AIME 2024 + 2025, MATH-500, LCB 2024-08→2025-01
and the Codeforces set standing in for GPQA's 198 (which is gated): about 1.25k items.
Ours: `ded.decontam.decontaminate` on a lake (scan questions, n-gram index, coverage, write the table).
Baseline: open-r1's `scripts/decontaminate.py` method on the same texts (lowercased whitespace words,
string n-grams, any shared n-gram flags), in memory, without a lake.
Target: <= 30 s for ours on 2 cores (issue 5). Last line: the JSON object of ARCHITECTURE.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# run as `python bench/X.py`, Python puts bench/ first on sys.path, where bench/select.py would shadow the
# standard library's `select`; the repository root replaces it
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.open() if x.strip()]


def pool_texts() -> list[str]:
    out = [r["problem"] for r in json.load((DATA / "math_pool/rllm_math_train.json").open())]
    out += [r["problem"] for r in json.load((DATA / "math_pool/rllm_aime_1983_2023.json").open())]
    out += [r["problem"] for r in json.load((DATA / "math_pool/rllm_olympiad_bench.json").open())]
    out += [r["problem"] for r in json.load((DATA / "math_pool/rllm_amc_2022_2023.json").open())]
    out += [r["question_content"] for r in _jsonl(DATA / "lcb/lcb_v5_train_pre2408_joined.jsonl")]
    out += [r["problem"] for r in json.load((DATA / "code_tests/rllm_code_contests_test.json").open())]
    return out


def benchmark_specs() -> dict:
    return {
        "aime24": {"path_or_hub": str(DATA / "aime24/qwen25math_aime24_test.jsonl"), "domain": "math"},
        "aime25": {"path_or_hub": str(DATA / "aime25/qwq_aime25.jsonl"), "domain": "math"},
        "math500": {"path_or_hub": str(DATA / "math500/math500_test.jsonl"), "domain": "math"},
        "lcb": {"path_or_hub": str(DATA / "lcb/lcb_v5_test_2408_2501_joined.jsonl"), "domain": "code",
                "options": {"start_date": "2024-08-01", "end_date": "2025-02-01"}},
        "codeforces": {"path_or_hub": str(DATA / "code_tests/rllm_codeforces_test.json"), "domain": "code"},
    }


def grow(texts: list[str], n: int) -> list[str]:
    """n distinct texts: the originals, then variant k of each with every number shifted by k."""
    from ded.ids import question_id

    out, seen, k = [], set(), 0
    while len(out) < n:
        for t in texts:
            v = t if k == 0 else re.sub(r"\d+", lambda m, k=k: str(int(m.group()) + k), t) + f" (variant {k})"
            if question_id(v) not in seen:
                seen.add(question_id(v))
                out.append(v)
            if len(out) == n:
                break
        k += 1
    return out


def openr1_baseline(pool: list[str], items: list[str], n: int) -> int:
    """open-r1 scripts/decontaminate.py: normalize_string, word_ngrams, build_ngram_lookup, any hit."""
    def norm(t: str) -> str:
        return " ".join(t.lower().strip().split())

    def grams(t: str) -> list[str]:
        w = t.split()
        return [" ".join(w[i:i + n]) for i in range(len(w) - n + 1)]

    lookup = defaultdict(set)
    for i, d in enumerate(items):
        for g in grams(norm(d)):
            lookup[g].add(i)
    flagged = 0
    for t in pool:
        if any(g in lookup for g in grams(norm(t))):
            flagged += 1
    return flagged


def math_train_fact(n: int) -> None:
    """Issue 5's fact: the share of MATH train flagged against MATH-500 at the default thresholds, with
    both detectors (embeds 7,974 texts: minutes on a CPU). Prints one JSON line."""
    from ded.benchmarks import load_benchmarks
    from ded.decontam import decontaminate
    from ded.embeddings import embed_into, load_encoder
    from ded.embeddings.store import question_items
    from ded.ids import question_id
    from ded.lake import Lake
    from ded.params import DecontamParams

    d = DecontamParams()
    tmp = Path(tempfile.mkdtemp(prefix="bench_decontam_fact_"))
    try:
        lake = Lake(tmp / "lake")
        train = json.load((DATA / "math_pool/rllm_math_train.json").open())
        lake.merge("questions", [{"question_id": question_id(r["problem"]), "problem": r["problem"],
                                  "source": "math_train"} for r in train])
        load_benchmarks(lake, {"math500": {"path_or_hub": str(DATA / "math500/math500_test.jsonl")}})
        enc = load_encoder()
        t0 = time.perf_counter()
        embed_into(lake, "question_vectors", question_items(lake), enc)
        st = decontaminate(lake, n=n, min_coverage=d.min_coverage, embedding_threshold=d.embedding_threshold,
                           paraphrase_threshold=d.paraphrase_threshold,
                           paraphrase_min_digits=d.paraphrase_min_digits, encoder=enc)
        secs = time.perf_counter() - t0
        total = lake.count("questions")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    share = st["questions_flagged"] / total
    print(f"MATH train {total} vs MATH-500: {st['questions_flagged']} flagged ({share:.2%}) {st['by_method_kind']}")
    print(json.dumps({"metric": "share of MATH train flagged against MATH-500 at the default thresholds",
                      "ours": round(share, 5), "baseline": None, "ratio": None, "better": "lower", "target": 0.01,
                      "flagged": st["questions_flagged"], "questions": total, "by_method_kind": st["by_method_kind"],
                      "seconds": round(secs, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--math-train", action="store_true", help="report the MATH train vs MATH-500 fact instead")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is absent: this bench reads the real pools in ../shared/data")
    if args.math_train:
        return math_train_fact(args.n)
    from ded.benchmarks import load_benchmarks
    from ded.decontam import decontaminate
    from ded.ids import question_id
    from ded.lake import Lake

    tmp = Path(tempfile.mkdtemp(prefix="bench_decontam_"))
    try:
        lake = Lake(tmp / "lake")
        counts = load_benchmarks(lake, benchmark_specs())
        items = lake.read("benchmark_items", columns=["problem"]).column("problem").to_pylist()
        pool = grow(pool_texts(), args.pool - 20) + items[:20]
        rows = {question_id(t): {"question_id": question_id(t), "problem": t, "source": "bench", "domain": "math"}
                for t in pool}
        lake.append("questions", list(rows.values()))
        t0 = time.perf_counter()
        stats = decontaminate(lake, n=args.n, embedding_threshold=None)
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        base_flagged = openr1_baseline([r["problem"] for r in rows.values()], items, args.n)
        base = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"pool {len(rows)} questions, {sum(counts.values())} benchmark items {counts}")
    print(f"ours {ours:.2f}s: {stats['questions_flagged']} flagged at coverage >= {stats['min_coverage']} "
          f"{stats['by_method_kind']}")
    print(f"open-r1 method {base:.2f}s: {base_flagged} flagged (any shared {args.n}-gram)")
    print(json.dumps({"metric": f"{args.n}-gram decontamination of {len(rows)} questions vs "
                      f"{sum(counts.values())} items, seconds", "ours": round(ours, 2), "baseline": round(base, 2),
                      "ratio": round(ours / base, 3), "better": "lower", "target": 30,
                      "pool": len(rows), "items": sum(counts.values()), "flagged": stats["questions_flagged"],
                      "baseline_flagged_any_ngram": base_flagged}))


if __name__ == "__main__":
    main()
