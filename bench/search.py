"""Bench: `ded search` over N question vectors against exact NumPy search, with and without a filter.

Data (bench/search_data.py): real all-MiniLM-L6-v2 embeddings of every text in the shared data (~14.5k
problems, solutions and model responses) grown to N by vectors on the segments between real nearest
neighbours plus noise, so neighbourhoods are as crowded as the real ones and a query's 10 nearest
neighbours are spread over several real texts. Queries are drawn the same way and are not in the table.
Each vector carries its real text's source, domain and teacher: the filters are a teacher (a selective one,
~5% of rows), a domain (code, ~12%) and a source (MATH train, ~50%: a broad one).

Ours: `ded.search.vector_search` on a lake's `question_vectors` (the index `ensure_vector_index` builds, or
the exact in-memory path below the threshold; params defaults for nprobes and refine_factor), given the
filter's `RowSet` built from the ids a `--where` would return, as `ded.search.filter_rows` builds and caches
it per predicate (the DuckDB step that turns a predicate into ids and the id lookup are timed apart, once;
so is each filter's first query, which gathers its rows), as the baseline gets its boolean mask ready.
Baseline: exact search by one NumPy float32 matrix-vector product over all vectors in memory, the filter as
a boolean mask over its scores: also the ground truth for recall@10. Both run in this process, one query at
a time, interleaved. Also timed: `ded search` from a fresh shell (model load included) on the bench lake,
against the same search with the query embedded by sentence-transformers (the path before the NumPy query
encoder); `--cold-lake DIR` times only that, on any lake.

The lake is built once per (N, index) under --cache and reused (index build time and size are recorded
then). Last line: the JSON object of ARCHITECTURE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# run as `python bench/X.py`, Python puts bench/ first on sys.path, where bench/select.py would shadow the
# standard library's `select`; the repository root replaces it
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent))  # after the stdlib: for search_data only

FILTERS = {"teacher": ("teacher", "qwen25math_math_cot_100_8samples"), "domain": ("domain", "code"),
           "source": ("source", "rllm_math_train")}


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def build_lake(root: Path, base: np.ndarray, meta: dict, index: str, threshold: int) -> dict:
    """The bench lake (vectors + questions with source/domain), indexed; {"build_s", "index_bytes"}."""
    from ded.embeddings.store import _create, rows_table
    from ded.lake import Lake
    from ded.search import ensure_vector_index

    info_f = root / "bench_info.json"
    if info_f.exists():
        return json.loads(info_f.read_text())
    import pyarrow as pa

    lake = Lake(root)
    n = len(base)
    ids = [f"q_{i:08d}" for i in range(n)]
    _create(lake, "question_vectors", base.shape[1], "create")
    step = 100_000
    for s in range(0, n, step):
        part = ids[s:s + step]
        lake.append("question_vectors", rows_table(part, [0] * len(part), base[s:s + step], "bench", ["h"] * len(part)))
        lake.append("questions", pa.table({"question_id": part, "source": meta["source"][s:s + step].tolist(),
                                           "domain": meta["domain"][s:s + step].tolist(),
                                           "problem": [""] * len(part)}))
    before = dir_bytes(root / "question_vectors.lance")
    t0 = time.perf_counter()
    what = ensure_vector_index(lake, "question_vectors", threshold=threshold, kind=index)
    info = {"built": what, "build_s": round(time.perf_counter() - t0, 1),
            "index_bytes": dir_bytes(root / "question_vectors.lance") - before, "vector_bytes": before}
    info_f.write_text(json.dumps(info))
    return info


def cold_cli(root: Path, text: str, where: str | None = None) -> float:
    """Seconds of `ded search TEXT` in a fresh process (model load included), run from the lake's folder."""
    (root.parent / "params.yaml").write_text(f"lake: {{root: {root.name}}}\n")
    cmd = [sys.executable, "-m", "ded.cli", "search", text, "-k", "10", "--format", "json"]
    if where:
        cmd += ["--where", where]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=root.parent, env=env, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"ded search failed: {out.stderr[-2000:]}")
    return dt


def cold_baseline(root: Path, text: str) -> float:
    """Seconds of the same query in a fresh process the way `ded search` ran before the NumPy query encoder:
    the query embedded by sentence-transformers (torch), then the same `ded.search.search`."""
    code = ("from ded.embeddings.model import load_encoder\nfrom ded.lake import Lake\nfrom ded.search import search\n"
            f"search(Lake({str(root)!r}), text={text!r}, k=10, encoder=load_encoder())")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=root.parent, env=env, capture_output=True, text=True,
                         check=False)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"baseline search failed: {out.stderr[-2000:]}")
    return dt


def cold_only(root: Path, repeats: int) -> None:
    """`--cold-lake DIR`: cold `ded search` on an existing lake, ours against the torch query encoder,
    interleaved, `repeats` times each; one JSON line (medians)."""
    text = "the sum of the digits of a prime"
    ours, base = [], []
    for _ in range(repeats):
        ours.append(cold_cli(root, text))
        base.append(cold_baseline(root, text))
    from ded.lake import Lake
    from ded.search.index import has_vector_index

    lake = Lake(root)
    print(json.dumps({"metric": "cold `ded search TEXT` from a fresh process (model load included), seconds, median",
                      "ours": round(float(np.median(ours)), 2), "baseline": round(float(np.median(base)), 2),
                      "ratio": round(float(np.median(ours) / np.median(base)), 3), "better": "lower", "target": 2.0,
                      "ours_all": [round(x, 2) for x in ours], "baseline_all": [round(x, 2) for x in base],
                      "rows": lake.count("question_vectors"), "index": has_vector_index(lake, "question_vectors"),
                      "baseline_is": "sentence-transformers query encoder + ded.search.search in a fresh process"}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--index", default="ivf_pq", help="index kind (ensure_vector_index), or flat: none")
    ap.add_argument("--threshold", type=int, default=0, help="index from this many rows (0: always)")
    ap.add_argument("--nprobes", type=int, default=None)
    ap.add_argument("--refine", type=int, default=None)
    ap.add_argument("--ef", type=int, default=None)
    ap.add_argument("--cache", default=os.environ.get("DED_BENCH_CACHE", "/work/cache/search1m"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--cold", action="store_true", help="also time `ded search` from a fresh process")
    ap.add_argument("--cold-lake", default=None, help="only time cold `ded search` on this existing lake folder")
    ap.add_argument("--repeats", type=int, default=5, help="--cold-lake: runs of each side")
    args = ap.parse_args()
    if args.cold_lake:
        return cold_only(Path(args.cold_lake).resolve(), args.repeats)
    from search_data import dataset

    from ded.lake import Lake
    from ded.params import parse_params
    from ded.search import vector_search

    defaults = parse_params({}).embed
    nprobes = args.nprobes or defaults.nprobes
    refine = args.refine or defaults.refine_factor
    cache = Path(args.cache)
    d = dataset(cache, Path(args.shared), args.n, args.queries)
    base, queries, meta = d["base"], d["queries"], d["meta"]
    root = cache / f"lake_{args.n}_{args.index}" / "lake"
    info = build_lake(root, base, meta, args.index, args.n + 1 if args.index == "flat" else args.threshold)
    print(f"lake {root}: {info}", flush=True)
    lake = Lake(root)
    ids = np.array([f"q_{i:08d}" for i in range(args.n)], dtype=object)
    masks = {name: meta[col] == val for name, (col, val) in FILTERS.items()}
    from ded.search import row_set

    allowed, rowset_ms = {}, {}
    for name, m in masks.items():
        got = set(ids[m].tolist())  # as where_ids returns
        t0 = time.perf_counter()
        allowed[name] = row_set(lake, "question_vectors", got)  # as filter_rows keeps it
        rowset_ms[name] = round((time.perf_counter() - t0) * 1000, 1)

    def exact(q, mask=None):
        s = base @ q
        if mask is not None:
            s = np.where(mask, s, -np.inf)
        return set(ids[np.argpartition(-s, 10)[:10]].tolist())

    kw = {"nprobes": nprobes, "refine_factor": refine, "ef": args.ef}
    first_ms = {}
    for name in [None, *FILTERS]:  # warm: the first query loads the index / the rows, as any process would
        t0 = time.perf_counter()
        vector_search(lake, "questions", queries[0], k=10, allowed=allowed.get(name), **kw)
        first_ms[name or "none"] = round((time.perf_counter() - t0) * 1000, 1)
    res = {}
    for name in [None, *FILTERS]:
        ours_ms, base_ms, recall = [], [], []
        for q in queries:
            t0 = time.perf_counter()
            want = exact(q, masks.get(name))
            base_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            got = vector_search(lake, "questions", q, k=10, allowed=allowed.get(name), **kw)
            ours_ms.append((time.perf_counter() - t0) * 1000)
            recall.append(len({i for i, _, _ in got} & want) / 10)
        p50, b50 = float(np.median(ours_ms)), float(np.median(base_ms))
        res[name or "none"] = {"p50_ms": round(p50, 2), "p95_ms": round(float(np.percentile(ours_ms, 95)), 2),
                               "exact_p50_ms": round(b50, 2), "ratio": round(p50 / b50, 3),
                               "recall_at_10": round(float(np.mean(recall)), 4),
                               "share_kept": round(float(masks[name].mean()), 3) if name else 1.0,
                               "first_query_ms": first_ms[name or "none"], "row_set_ms": rowset_ms.get(name)}
        print(f"filter {name}: {res[name or 'none']}", flush=True)
    from ded.search.query import where_ids

    t0 = time.perf_counter()
    where_ids(lake, "questions", "domain = 'code'")
    where_ms = (time.perf_counter() - t0) * 1000
    cold = None
    if args.cold:
        cold = {"none": round(cold_cli(root, "the sum of the digits of a prime"), 2),
                "where": round(cold_cli(root, "shortest path in a graph", "domain = 'code'"), 2),
                "baseline_torch_encoder": round(cold_baseline(root, "the sum of the digits of a prime"), 2)}
    worst = max(r["ratio"] for r in res.values())
    print(json.dumps({"metric": f"p50 latency of a k=10 search over {args.n} MiniLM-like vectors / exact NumPy, "
                                f"worst of no filter and 3 filters", "ours": worst, "baseline": 1.0,
                      "ratio": worst, "better": "lower", "target": 0.2 if args.n >= 1_000_000 else 1.0,
                      "min_recall_at_10": min(r["recall_at_10"] for r in res.values()), "recall_target": 0.95,
                      "filters": res, "index": args.index, "index_info": info, "nprobes": nprobes,
                      "refine_factor": refine, "ef": args.ef, "where_to_ids_ms": round(where_ms, 1),
                      "load_average": [round(x, 2) for x in os.getloadavg()],
                      "cold_cli_s": cold, "real_vectors": d["real"], "queries": args.queries}))


if __name__ == "__main__":
    main()
