"""`ded report` on a lake of 10^6 trajectories: time and peak memory (an absolute claim, baseline null).

Builds a lake of 100k questions × 10 trajectories (short texts; the report reads lengths, not texts), their
question_scores, a selection run over every trajectory and model_scores, then times `write_report` in a fresh
process. Claim: <= 30 s and <= 2 GB peak RSS on 2 cores (the length histogram works on Arrow columns, the
per-question sections on 10^5 rows).

    python bench/report.py [--questions 100000] [--per-question 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, Python puts bench/ first on sys.path, where bench/select.py would shadow the stdlib module
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import tempfile
import time

import numpy as np
import pyarrow as pa

from bench._util import emit, run_isolated


def build(root: Path, n_q: int, per_q: int) -> None:
    from ded.lake import Lake

    rng = np.random.default_rng(0)
    lake = Lake(root)
    qids = np.array([f"q{i:07d}" for i in range(n_q)])
    dom = np.where(np.arange(n_q) % 2 == 0, "math", "code")
    lake.append("questions", pa.table({"question_id": qids, "domain": dom, "source": np.full(n_q, "bench"),
                                       "problem": np.full(n_q, "p"), "license": np.full(n_q, "MIT")}))
    lake.append("question_scores", pa.table({"question_id": qids, "teacher_pass_rate": rng.random(n_q),
                                             "student_pass_rate": rng.random(n_q)}))
    n = n_q * per_q
    tq = np.repeat(qids, per_q)
    tids = np.char.add(np.char.add(tq, "_"), np.tile(np.arange(per_q).astype(str), n_q))
    models = np.array(["teacher-a", "teacher-b", "teacher-c"])[np.arange(n) % 3]
    # lengths drawn like long CoT: lognormal around 4k tokens
    lake.append("trajectories", pa.table({"trajectory_id": tids, "question_id": tq, "model": models,
                                          "sample_idx": np.tile(np.arange(per_q), n_q).astype(np.int32),
                                          "response": np.full(n, "x"),
                                          "n_tokens": rng.lognormal(8.3, 0.7, n).astype(np.int32)}))
    kept = rng.random(n) < 0.01
    dropped = np.where(kept, None, np.array(["correct", "format", "compression", "farthest_p"])[rng.integers(0, 4, n)])
    reasons = json.dumps({"filters": {"correct": True, "format": True, "compression": True, "farthest_p": True}})
    lake.append("selection", pa.table({"run_id": np.full(n, "bench_run"), "trajectory_id": tids, "recipe": np.full(n, "ded"),
                                       "question_id": tq, "kept": kept, "dropped_by": pa.array(dropped, pa.string()),
                                       "rank": np.arange(n), "reasons": np.full(n, reasons)}))
    lake.append("model_scores", [{"model": m, "domain": "all", "band": "all", "accuracy": a}
                                 for m, a in zip(["teacher-a", "teacher-b", "teacher-c"], [0.7, 0.6, 0.5])])


def report(root: str, out: str) -> int:
    from ded.lake import Lake
    from ded.report import write_report

    paths = write_report(Lake(root), out_dir=out, metrics_dir=out + "/none")
    return paths["html"].stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=100_000)
    ap.add_argument("--per-question", type=int, default=10)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build(Path(tmp) / "lake", a.questions, a.per_question)
        print(f"built lake in {time.perf_counter() - t:.1f} s")
        secs, rss_gb, size = run_isolated(report, str(Path(tmp) / "lake"), str(Path(tmp) / "out"))
    print(f"ded report: {secs:.2f} s, peak RSS {rss_gb:.2f} GB, index.html {size / 1e3:.0f} kB")
    emit("ded report wall time on 10^6 trajectories, seconds", secs, None, "lower", 30,
         peak_rss_gb=round(rss_gb, 3), trajectories=a.questions * a.per_question, html_kb=round(size / 1e3, 1))


if __name__ == "__main__":
    main()
