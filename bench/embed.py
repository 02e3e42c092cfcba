"""Bench: the embed stage's throughput against raw `SentenceTransformer.encode` on the same texts.

Data: the first N MATH train problems of ../shared/data (real lengths: 20-400 word pieces), ingested as
`questions` of a fresh lake. Ours: `ded.stages.embed.embed_tables` (scan the lake, strip boilerplate, hash,
chunk, encode in batches, commit vectors to `question_vectors`). Baseline: `model.encode(texts,
batch_size=64, normalize_embeddings=True)` on the same prepared texts, in memory, nothing written.
Both use the bundled all-MiniLM-L6-v2 loaded once; each side runs `--reps` times alternately (a fresh
vector table each time) and keeps its best, since this machine is shared. Target: ours >= 0.9 × baseline
texts/s (issue 5). Last line: the JSON object of ARCHITECTURE.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# run as `python bench/X.py`, Python puts bench/ first on sys.path, where bench/select.py would shadow the
# standard library's `select`; the repository root replaces it
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is absent: this bench embeds the real MATH train problems in ../shared/data")
    from ded.embeddings import load_encoder, question_text
    from ded.ids import question_id
    from ded.lake import Lake
    from ded.params import parse_params
    from ded.stages.embed import embed_tables

    probs = [r["problem"] for r in json.loads((DATA / "math_pool/rllm_math_train.json").read_text())][: args.n]
    rows = {question_id(p): {"question_id": question_id(p), "problem": p, "source": "math_train"} for p in probs}
    texts = [question_text(r["problem"]) for r in rows.values()]
    enc = load_encoder("sentence-transformers/all-MiniLM-L6-v2", args.device)
    enc.encode(texts[:64])  # warm-up: first-call allocations out of both timings
    params = parse_params({})
    tmp = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    ours, base = [], []
    try:
        lake = Lake(tmp / "lake")
        lake.merge("questions", list(rows.values()))
        for _ in range(args.reps):
            t0 = time.perf_counter()
            enc.model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
            base.append(len(texts) / (time.perf_counter() - t0))
            shutil.rmtree(tmp / "lake" / "question_vectors.lance", ignore_errors=True)
            t0 = time.perf_counter()
            st = embed_tables(lake, params, enc)["question_vectors"]
            ours.append(st["embedded"] / (time.perf_counter() - t0))
            assert st["embedded"] == len(texts), st
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    o, b = max(ours), max(base)
    print(f"{len(texts)} texts on {enc.device}: ours {[round(x, 1) for x in ours]} texts/s, "
          f"raw encode {[round(x, 1) for x in base]} texts/s")
    print(json.dumps({"metric": "embedding throughput, texts/s (MATH train problems, all-MiniLM-L6-v2)",
                      "ours": round(o, 1), "baseline": round(b, 1), "ratio": round(o / b, 3), "better": "higher",
                      "target": 0.9, "target_is": "ratio", "texts": len(texts), "device": enc.device}))


if __name__ == "__main__":
    main()
