"""Ingest throughput and memory: a generated JSONL of long-CoT trajectories into the lake.

Ours: `ded.ingest.ingest_paths` (streaming, ids, reasoning split, dedup, one commit).
Baseline: `pyarrow.json.read_json` + `lance.write_dataset` of the same file (no ids, no split,
whole file in memory). Target: time ratio <= 2.0; our peak RSS <= 2 GB and not growing with the
file (measured at a quarter of the size too).

    python bench/ingest.py [--gb 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

# run as a script, Python puts bench/ first on sys.path, where bench/select.py would shadow the stdlib module
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench._util import emit, run_isolated  # noqa: E402

WORDS = ("so we compute the sum then check wait let me verify this again hence the answer is "
         "therefore consider alternatively suppose x y n k equals plus minus times divided").split()


def make_file(path: Path, gb: float, seed: int = 0) -> int:
    """Trajectory rows: 3,000 questions, responses 2–60 KB (uniform), 5 models."""
    rng = random.Random(seed)
    pool = " ".join(rng.choice(WORDS) for _ in range(400_000))  # ~2.5 MB of text to slice from
    target, size, n = int(gb * 1e9), 0, 0
    with path.open("w") as f:
        while size < target:
            q = n % 3000
            L = rng.randint(2_000, 60_000)
            o = rng.randint(0, len(pool) - L - 1)
            row = {"problem": f"Problem {q}: find the value of x_{q} such that ...", "model": f"teacher-{n % 5}",
                   "response": f"<think>{pool[o:o + L]}</think>\n\nThe answer is \\boxed{{{q}}}.", "answer": str(q)}
            line = json.dumps(row) + "\n"
            f.write(line)
            size += len(line)
            n += 1
    return n


def ours(path: str, root: str) -> int:
    from ded.lake import Lake
    from ded.ingest import ingest_paths

    rep = ingest_paths(Lake(root), [path], kind="trajectories", show_progress=False)
    return rep.trajectories_inserted


def baseline(path: str, root: str) -> int:
    import lance
    import pyarrow.json as pj

    t = pj.read_json(path, read_options=pj.ReadOptions(block_size=64 << 20))
    lance.write_dataset(t, f"{root}/trajectories.lance")
    return t.num_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ded-bench-ingest-"))
    try:
        big, small = tmp / "big.jsonl", tmp / "small.jsonl"
        n = make_file(big, a.gb)
        make_file(small, a.gb / 4)
        t_base, rss_base, n_base = run_isolated(baseline, str(big), str(tmp / "lake_base"))
        t_ours, rss_ours, n_ours = run_isolated(ours, str(big), str(tmp / "lake_ours"))
        _, rss_small, _ = run_isolated(ours, str(small), str(tmp / "lake_small"))
        assert n_ours == n_base == n, (n_ours, n_base, n)
        print(f"rows={n} file_gb={big.stat().st_size / 1e9:.2f} ours={t_ours:.1f}s baseline={t_base:.1f}s "
              f"rss ours={rss_ours:.2f}GB (quarter file {rss_small:.2f}GB) baseline={rss_base:.2f}GB", file=sys.stderr)
        emit("ingest wall time for a JSONL of long-CoT trajectories, seconds", t_ours, t_base, "lower", 2.0,
             peak_rss_gb=round(rss_ours, 3), peak_rss_gb_quarter_file=round(rss_small, 3),
             baseline_peak_rss_gb=round(rss_base, 3), rows=n, file_gb=round(big.stat().st_size / 1e9, 3))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
