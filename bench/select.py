"""Bench: `ded score` + `ded select` end to end on a generated lake of 1M trajectories.

The lake: 100k questions (half math, half code) × 10 trajectories (4 teachers × 2 samples + the
student × 2) = 1M trajectories and 1M verdicts, 384-d question vectors, 1% contaminated and 1%
duplicate questions. n_tokens are drawn like real ones: a lognormal fitted to the 16-model AIME
2024 panel in ../shared/data (log-mean 8.05, log-sd 1.61 of characters / 3.5; median ~2.9k
tokens, 95th percentile ~36k, so the 16k filter bites). Texts are short (~100 characters) since
no step's cost here depends on their length except the Levenshtein step, which
bench/diversity.py measures on 20k-character traces; student-model scorers are excluded (GPU).

The recipe is DED with every teacher (`teacher: all`, so farthest-P runs on ~tens of thousands
of questions), k-center over the question vectors, budget 800, mix 50/50.

Both commands run as child processes of this script (`ded score`, then `ded select`) so their
wall time is end to end and `peak_rss_gb` is the larger child's peak RSS. There is no baseline
(an absolute target: <= 120 s, <= 8 GB on 2 cores).

    python bench/select.py [--questions 100000] [--keep DIR]
"""

from __future__ import annotations

import os
import sys

if __name__ != "__main__":
    # bench/ is on sys.path for every script run from it, so `import select` (done by subprocess,
    # selectors, asyncio) in any bench script would find this file instead of the stdlib module.
    # When imported under that name, load the real `select` and put it in our place.
    import importlib.machinery
    import importlib.util

    _here = os.path.dirname(os.path.abspath(__file__))
    _spec = importlib.machinery.PathFinder.find_spec(
        "select", [p for p in sys.path if os.path.abspath(p or os.curdir) != _here])
    _real = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_real)
    sys.modules[__name__] = _real
    globals().update({k: v for k, v in vars(_real).items() if not k.startswith("__")})

# This file is named like the stdlib `select` module, which subprocess imports: keep the bench
# folder off the import path so `import select` finds the real one.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

TEACHERS = ["teacher-a", "teacher-b", "teacher-c", "teacher-d"]
STUDENT = "student"


def build(root: Path, n_q: int, seed: int = 0) -> None:
    from ded.lake import Lake

    rng = np.random.default_rng(seed)
    lake = Lake(root)
    qids = np.array([f"q_{i:014d}" for i in range(n_q)])
    domain = np.where(np.arange(n_q) % 2 == 0, "math", "code")
    lake.append("questions", pa.table({
        "question_id": qids, "domain": domain, "source": np.full(n_q, "bench"), "license": np.full(n_q, "CC0-1.0"),
        "problem": [f"Bench problem {i}: compute f({i})." for i in range(n_q)], "answer": [str(i % 97) for i in range(n_q)]}))
    # per question: difficulty p ~ Beta(1, 1.5); teacher sample correct with prob p, student with p / 2
    p = rng.beta(1.0, 1.5, n_q)
    models = [m for m in TEACHERS for _ in range(2)] + [STUDENT, STUDENT]
    k = len(models)
    q_rep = np.repeat(np.arange(n_q), k)
    model = np.tile(np.array(models), n_q)
    sample = np.tile(np.array([0, 1] * (k // 2), dtype=np.int32), n_q)
    is_student = model == STUDENT
    correct = rng.random(n_q * k) < np.where(is_student, p[q_rep] / 2, p[q_rep])
    n_tokens = np.clip(rng.lognormal(8.05, 1.61, n_q * k), 30, 60_000).astype(np.int32)
    unfinished = rng.random(n_q * k) < 0.03
    tids = np.char.add(np.char.add(np.char.add("t_", qids[q_rep]), np.char.add("_", model)), sample.astype(str))
    words = np.array(["compute", "check", "so", "therefore", "wait", "the", "sum", "is", "then", "verify", "maybe", "x"])
    reasoning = [" ".join(words[rng.integers(0, len(words), 14)]) + f" {i}" for i in range(n_q * k)]
    response = [f"<think>\n{r}\n</think>\n\nThe answer is \\boxed{{{i % 97}}}." if not u else f"<think>\n{r}"
                for i, (r, u) in enumerate(zip(reasoning, unfinished))]
    lake.append("trajectories", pa.table({
        "trajectory_id": tids, "question_id": qids[q_rep], "model": model, "sample_idx": sample,
        "response": response, "reasoning": reasoning, "final": [f"The answer is {i % 97}." for i in range(n_q * k)],
        "finish_reason": np.where(unfinished, "length", "stop"), "n_tokens": n_tokens, "origin": np.full(n_q * k, "generated")}))
    extracted = np.where(correct, (q_rep % 97).astype(str), ((q_rep + rng.integers(1, 5, n_q * k)) % 97).astype(str))
    lake.append("verdicts", pa.table({
        "trajectory_id": tids, "verifier": np.full(n_q * k, "math"), "verifier_version": np.full(n_q * k, "1"),
        "status": np.where(correct, "correct", "wrong"), "correct": correct & ~unfinished, "extracted": extracted,
        "format_ok": ~unfinished}))
    vec = rng.standard_normal((n_q, 384)).astype(np.float32)
    lake.append("question_vectors", pa.table({
        "id": qids, "chunk": np.zeros(n_q, np.int32),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), 384).cast(pa.list_(pa.float32())),
        "embedding_model": np.full(n_q, "bench"), "text_hash": np.full(n_q, "x")}))
    hit = rng.choice(n_q, n_q // 100, replace=False)
    lake.append("contamination", pa.table({"question_id": qids[hit], "benchmark": np.full(len(hit), "aime24"),
                                           "item_id": hit.astype(str), "method": np.full(len(hit), "ngram"),
                                           "score": np.ones(len(hit))}))
    dup = rng.choice(n_q, n_q // 100, replace=False)
    lake.append("duplicates", pa.table({"question_id": qids[dup], "group_id": np.char.add("g", dup.astype(str)),
                                        "representative": qids[(dup + 1) % n_q], "method": np.full(len(dup), "exact"),
                                        "score": np.ones(len(dup))}))


def params_file(d: Path) -> Path:
    p = d / "params.yaml"
    p.write_text(json.dumps({
        "lake": {"root": str(d / "lake")},
        "models": [{"name": STUDENT, "model": "none"}], "student": {"model": STUDENT},
        "score": {"verifiers": ["math"]},
        "select": {"recipe": "ded", "teacher": "all", "budget": 800, "p": 4,
                   "export": {"out_dir": str(d / "corpus"), "hf_dataset": True}},
    }))
    return p


def run(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    env = {**os.environ, "DED_PROGRESS": "0"}
    subprocess.run(cmd, cwd=cwd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, default=None, help="Build in this directory and keep it.")
    a = ap.parse_args()
    d = a.keep or Path(tempfile.mkdtemp(prefix="bench-select-"))
    d.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    build(d / "lake", a.questions)
    build_s = time.perf_counter() - t
    pf = params_file(d)
    ded = [sys.executable, "-m", "ded", "--params", str(pf)]
    score_s = run(ded + ["score"], d)
    select_s = run(ded + ["select"], d)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2  # KiB → GiB
    man = json.loads((d / "corpus" / "manifest.json").read_text())
    total = score_s + select_s
    print(f"build {build_s:.1f}s; score {score_s:.1f}s; select {select_s:.1f}s; peak RSS {peak:.2f} GB; "
          f"rows {man['rows']}; steps {[(s['step'], s['out']) for s in man['steps']]}", file=sys.stderr)
    print(json.dumps({"metric": f"ded score + ded select wall time on {a.questions * 10:,} trajectories (s)", "ours": round(total, 2),
                      "baseline": None, "ratio": None, "better": "lower", "target": 120,
                      "peak_rss_gb": round(peak, 3), "score_s": round(score_s, 2), "select_s": round(select_s, 2),
                      "trajectories": a.questions * 10, "rows": man["rows"], "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
