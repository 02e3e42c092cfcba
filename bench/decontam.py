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


def math_train_fact(n: int, limit: int | None = None) -> None:
    """Issue 5's fact: the share of MATH train flagged against MATH-500 at the default thresholds, with
    both detectors (embeds 7,974 texts: minutes on a CPU). Prints one JSON line."""
    from ded.benchmarks import load_benchmarks
    from ded.decontam import decontaminate
    from ded.embeddings import embed_into, load_encoder
    from ded.embeddings.store import question_items
    from ded.ids import question_id
    from ded.lake import Lake
    from ded.params import load_params

    d = load_params(REPO / "pipelines" / "ded-paper.yaml").embed.decontam  # the real profiles' settings
    tmp = Path(tempfile.mkdtemp(prefix="bench_decontam_fact_"))
    try:
        lake = Lake(tmp / "lake")
        train = json.load((DATA / "math_pool/rllm_math_train.json").open())[:limit]
        lake.merge("questions", [{"question_id": question_id(r["problem"]), "problem": r["problem"],
                                  "source": "math_train"} for r in train])
        load_benchmarks(lake, {"math500": {"path_or_hub": str(DATA / "math500/math500_test.jsonl")}})
        enc = load_encoder()
        t0 = time.perf_counter()
        embed_into(lake, "question_vectors", question_items(lake), enc)
        st = decontaminate(lake, n=n, min_coverage=d.min_coverage, embedding_threshold=d.embedding_threshold,
                           paraphrase_threshold=d.paraphrase_threshold,
                           paraphrase_min_digits=d.paraphrase_min_digits, encoder=enc, rephrase=d.rephrase,
                           top_k=d.top_k, candidate_floor=d.candidate_floor, question_top_k=d.question_top_k,
                           question_floor=d.question_floor)
        secs = time.perf_counter() - t0
        total = lake.count("questions")
        from ded.stages.embed import contamination_report

        rep = contamination_report(lake)
        rng = __import__("random").Random(0)
        for r in rng.sample(rep, min(12, len(rep))):
            print(f"  [{r['kind']}/{r['method']} cos={r['embedding_score']} ng={r['ngram_score']}] "
                  f"Q: {r['question']!r}  I: {r['item']!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    share = st["questions_flagged"] / total
    print(f"MATH train {total} vs MATH-500: {st['questions_flagged']} flagged ({share:.2%}) {st['by_method_kind']}")
    contaminated = sum(c for k, c in st["by_method_kind"].items() if k.endswith("/contaminated"))
    print(json.dumps({"metric": "share of MATH train flagged against MATH-500 at the default thresholds",
                      "contaminated_pairs": contaminated, "limit": limit, "rephrase": st.get("rephrase"),
                      "ours": round(share, 5), "baseline": None, "ratio": None, "better": "lower", "target": 0.01,
                      "flagged": st["questions_flagged"], "questions": total, "by_method_kind": st["by_method_kind"],
                      "seconds": round(secs, 1)}))


LABELLED = REPO / "tests" / "data" / "contamination"


def _labelled_scores(res: dict, rows: list[dict]) -> dict:
    """Recall per kind (and the methods that caught them) and precision per detector: of the pairs a detector
    flagged `contaminated`, the share that are a keep-kind row against its own item."""
    truth = {(r["id"], r["benchmark"], r["benchmark_id"]) for r in rows if r["label"] == "contaminated"}
    flagged: dict[str, list[bool]] = {}
    for h in res["lake"].read("contamination").to_pylist():
        if h["kind"] == "contaminated":
            flagged.setdefault(h["method"], []).append((h["question_id"], h["benchmark"], h["item_id"]) in truth)
    allf = [x for v in flagged.values() for x in v]
    return {"recall": {k: v["recall"] for k, v in res["kinds"].items() if k != "negative"},
            # build.half: rules-3 were fitted on half A's rows; half B is the check (docs/embeddings.md)
            "recall_by_half": {k: v["recall_by_half"] for k, v in res["kinds"].items() if k != "negative"},
            "caught_by": {k: v["by_method"] for k, v in res["kinds"].items() if k != "negative"},
            "precision": {m: round(sum(v) / len(v), 4) for m, v in sorted(flagged.items())},
            "precision_all": round(sum(allf) / len(allf), 4) if allf else None,
            "flagged_contaminated": len(allf),
            "negatives_contaminated": len(res["negatives_contaminated"]),
            "negatives_near_duplicate": len(res["negatives_near_duplicate"]),
            "seconds": res["stats"]["seconds"]}


def labelled() -> None:
    """The labelled set (tests/data/contamination) vs the four panels: ours (the real profiles' decontam
    params), the detectors before issue 19 (n-gram + cosine 0.92 + paraphrase rule), n-gram only. One JSON."""
    sys.path.insert(0, str(LABELLED))
    from build import benchmark_texts, load_set, score_set

    from ded.embeddings import load_encoder
    from ded.params import load_params

    dc = load_params(REPO / "pipelines" / "ded-paper.yaml").embed.decontam
    kw = {"n": dc.ngram, "min_coverage": dc.min_coverage, "embedding_threshold": dc.embedding_threshold,
          "paraphrase_threshold": dc.paraphrase_threshold, "paraphrase_min_digits": dc.paraphrase_min_digits}
    rows, bench = load_set(DATA), benchmark_texts(DATA)
    enc = load_encoder()
    tmp = Path(tempfile.mkdtemp(prefix="bench_decontam_labelled_"))
    out = {}
    try:
        t0 = time.perf_counter()
        res = score_set(rows, bench, tmp / "lake", enc, rephrase=True, top_k=dc.top_k,
                        candidate_floor=dc.candidate_floor, question_top_k=dc.question_top_k,
                        question_floor=dc.question_floor, **kw)
        embed_s = time.perf_counter() - t0 - res["stats"]["seconds"]
        out["ours"] = _labelled_scores(res, rows)
        out["ours"]["candidates"] = res["stats"]["candidates"]
        samples = [f for f in res["negative_flags"]][:10]
        out["before_issue_19"] = _labelled_scores(score_set(rows, bench, tmp / "lake", enc, rephrase=False, **kw), rows)
        out["ngram_only"] = _labelled_scores(score_set(rows, bench, tmp / "lake", None, rephrase=False,
                                                       **{**kw, "embedding_threshold": None}), rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, r in out.items():
        print(f"{name}: recall {r['recall']} precision {r['precision']} negatives contaminated "
              f"{r['negatives_contaminated']} near-dup {r['negatives_near_duplicate']}")
    print("negative flags (all near_duplicate):", json.dumps(samples))
    keep = ("verbatim", "reworded", "story", "words", "translated")
    print(json.dumps({"metric": "labelled contamination set (62 items x 6 kinds + 372 hard negatives): min recall "
                      "over the keep kinds", "ours": min(out["ours"]["recall"][k] for k in keep),
                      "baseline": min(out["ngram_only"]["recall"][k] for k in keep), "ratio": None,
                      "better": "higher", "target": 0.95, "embed_seconds": round(embed_s, 1),
                      # the detail under its own keys: `**out` would put the dict `ours` over the figure `ours`
                      **{f"{k}_detail": v for k, v in out.items()}}))


def full_check(n_pool: int, n_base: int, profile: str | None = None) -> None:
    """Time of the whole check (n-grams + number/formula indexes + top-k + second opinion + table write) for
    `n_pool` questions against every shared benchmark, without the judge. Vectors: `n_base` real pool texts
    embedded with MiniLM, the pool grown from them by renumbering (bench `grow`), each variant's vector its
    base's plus Gaussian noise (sigma 0.02 per dim, renormalized: cosine ~0.93 to the base, as renumbered
    copies score); embedding 100k texts on CPU would take over an hour and is `ded embed`'s cost, not the
    check's. Benchmark items are embedded first (a warm-up run), as a second `ded embed` finds them."""
    import numpy as np

    from ded.benchmarks import load_benchmarks
    from ded.decontam import decontaminate
    from ded.embeddings import load_encoder
    from ded.embeddings.chunking import question_text
    from ded.embeddings.store import rows_table
    from ded.ids import question_id
    from ded.lake import Lake
    from ded.params import load_params

    dc = load_params(REPO / "pipelines" / "ded-paper.yaml").embed.decontam
    rng = np.random.default_rng(0)
    texts = pool_texts()
    base = [texts[i] for i in sorted(rng.choice(len(texts), n_base, replace=False))]
    enc = load_encoder()
    tmp = Path(tempfile.mkdtemp(prefix="bench_decontam_full_"))
    try:
        lake = Lake(tmp / "lake")
        counts = load_benchmarks(lake, benchmark_specs())
        items = lake.read("benchmark_items", columns=["problem"]).column("problem").to_pylist()
        t0 = time.perf_counter()
        bvec = np.asarray(enc.encode([question_text(t) for t in base]), np.float32)
        embed_base = time.perf_counter() - t0
        print(f"embedded {n_base} bases in {embed_base:.1f}s", flush=True)
        pool, home, seen, k = [], [], set(), 0  # bench `grow`, keeping each variant's base
        while len(pool) < n_pool - 20:
            for b, t in enumerate(base):
                v = t if k == 0 else re.sub(r"\d+", lambda m, k=k: str(int(m.group()) + k), t) + f" (variant {k})"
                if question_id(v) not in seen and len(pool) < n_pool - 20:
                    seen.add(question_id(v))
                    pool.append(v)
                    home.append(b)
            k += 1
        pool += items[:20]
        vec = np.empty((len(pool), bvec.shape[1]), np.float32)
        vec[:-20] = bvec[home]
        vec[:-20] += rng.normal(0, 0.02, (len(pool) - 20, vec.shape[1])).astype(np.float32)
        vec[-20:] = np.asarray(enc.encode([question_text(t) for t in items[:20]]), np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        ids = [question_id(t) for t in pool]
        lake.merge("questions", [{"question_id": q, "problem": t, "source": "bench", "domain": "math"}
                                 for q, t in zip(ids, pool)])
        lake.append("question_vectors", rows_table(ids, [0] * len(ids), vec, enc.name, ["-"] * len(ids)))
        print(f"pool of {len(pool)} written", flush=True)
        kw = {"n": dc.ngram, "min_coverage": dc.min_coverage, "embedding_threshold": dc.embedding_threshold,
              "rephrase": True, "top_k": dc.top_k, "candidate_floor": dc.candidate_floor,
              "question_top_k": dc.question_top_k, "question_floor": dc.question_floor, "encoder": enc}
        t0 = time.perf_counter()
        warm = decontaminate(lake, **kw)  # embeds the benchmark items into benchmark_vectors
        warm_s = time.perf_counter() - t0
        print(f"warm-up {warm_s:.1f}s {warm}", flush=True)
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        st = decontaminate(lake, **kw)
        ours = time.perf_counter() - t0
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)
        print(f"ours {ours:.1f}s", flush=True)
        t0 = time.perf_counter()
        ng = decontaminate(lake, n=dc.ngram, min_coverage=dc.min_coverage, embedding_threshold=None, rephrase=False)
        ng_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"pool {len(pool)} ({n_base} bases), {sum(counts.values())} items {counts}; base embedding {embed_base:.1f}s, "
          f"warm-up (items embedded) {warm_s:.1f}s")
    print(f"ours {ours:.2f}s ({st['candidates']} candidate pairs, n-gram+index scan {st['ngram_seconds']}s): "
          f"{st['questions_flagged']} flagged {st['by_method_kind']}")
    print(f"n-gram only {ng_s:.2f}s: {ng['questions_flagged']} flagged {ng['by_method_kind']}")
    print(json.dumps({"metric": f"full decontamination check of {len(pool)} questions vs {sum(counts.values())} "
                      "items (n-grams + rephrase detector, no judge), seconds", "ours": round(ours, 2),
                      "baseline": round(ng_s, 2), "ratio": round(ours / ng_s, 3), "better": "lower", "target": 60,
                      "pool": len(pool), "bases": n_base, "items": sum(counts.values()),
                      "candidates": st["candidates"], "scan_seconds": st["ngram_seconds"],
                      "flagged": st["questions_flagged"], "by_method_kind": st["by_method_kind"],
                      "ngram_only_flagged": ng["questions_flagged"]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--math-train", action="store_true", help="report the MATH train vs MATH-500 fact instead")
    ap.add_argument("--limit", type=int, default=None, help="--math-train: the first N MATH train questions only")
    ap.add_argument("--labelled", action="store_true", help="precision/recall on tests/data/contamination instead")
    ap.add_argument("--full", action="store_true", help="time the whole check (rephrase detector, no judge)")
    ap.add_argument("--bases", type=int, default=1000, help="--full: real texts embedded to grow the pool from")
    ap.add_argument("--profile", default=None, help="--full: write cProfile stats of our timed run to this file")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is absent: this bench reads the real pools in ../shared/data")
    if args.math_train:
        return math_train_fact(args.n, args.limit)
    if args.labelled:
        return labelled()
    if args.full:
        return full_check(args.pool, args.bases, args.profile)
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
