"""SQL over the lake: a group-by over 1M trajectories joined to their verdicts, and `ded sql` cold start.

Ours: the code path `ded sql` uses (`ded.sql.connect` views over Lance datasets + `ded.sql.query`),
in-process. Baseline: DuckDB over Parquet copies of the same tables. Target: ratio <= 2.0; cold
start of `ded sql "select 1"` (process start to output) <= 1.5 s (key `cold_start_s`).

    python bench/sql.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# run as a script, Python puts bench/ first on sys.path, where bench/select.py would shadow the stdlib module
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench._util import emit, median_time  # noqa: E402

QUERY = """select t.model, count(*) as n, avg(v.correct::int) as accuracy, avg(t.n_tokens) as mean_tokens
from trajectories t join verdicts v using (trajectory_id)
group by t.model order by t.model"""


def make_tables(n: int, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    ids = np.char.add("t_", np.arange(n).astype(str))
    models = np.array([f"model-{i}" for i in range(16)])[rng.integers(0, 16, n)]
    traj = pa.table({"trajectory_id": ids, "question_id": np.char.add("q_", (np.arange(n) // 10).astype(str)),
                     "model": models, "sample_idx": (np.arange(n) % 10).astype(np.int32),
                     "response": np.full(n, "short text"), "finish_reason": np.full(n, "stop"),
                     "n_tokens": rng.lognormal(8, 1, n).astype(np.int32), "origin": np.full(n, "generated")})
    verd = pa.table({"trajectory_id": ids, "verifier": np.full(n, "math"), "status": np.full(n, "correct"),
                     "correct": rng.random(n) < 0.4, "format_ok": np.ones(n, bool)})
    return traj, verd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    from ded.lake import Lake
    from ded.sql import connect, query

    tmp = Path(tempfile.mkdtemp(prefix="ded-bench-sql-"))
    try:
        traj, verd = make_tables(a.rows)
        lake = Lake(tmp / "lake")
        lake.append("trajectories", traj)
        lake.append("verdicts", verd)
        pq.write_table(lake.read("trajectories"), tmp / "trajectories.parquet")
        pq.write_table(lake.read("verdicts"), tmp / "verdicts.parquet")

        def ours():
            return query(connect(lake), QUERY)

        import duckdb

        def base():
            con = duckdb.connect()
            con.execute(f"create view trajectories as select * from read_parquet('{tmp}/trajectories.parquet')")
            con.execute(f"create view verdicts as select * from read_parquet('{tmp}/verdicts.parquet')")
            return con.sql(QUERY).to_arrow_table()

        assert ours().equals(base()), "results differ"
        ours(), base()  # warm the page cache for both
        t_ours, t_base = median_time(ours, 5), median_time(base, 5)

        ded = shutil.which("ded") or str(Path(sys.executable).parent / "ded")
        env = dict(os.environ, DED_PROGRESS="0")
        colds = []
        for _ in range(5):
            t = time.perf_counter()
            out = subprocess.run([ded, "--lake", str(tmp / "lake"), "sql", "select 1 as x"], capture_output=True,
                                 text=True, env=env, cwd=tmp)
            colds.append(time.perf_counter() - t)
            assert out.returncode == 0 and "1" in out.stdout, out.stderr
        cold = statistics.median(colds)
        print(f"rows={a.rows} ours={t_ours * 1000:.0f}ms baseline={t_base * 1000:.0f}ms cold_start={cold:.2f}s",
              file=sys.stderr)
        emit("group-by over trajectories joined to verdicts, seconds", t_ours, t_base, "lower", 2.0,
             cold_start_s=round(cold, 3), cold_start_target_s=1.5, rows=a.rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
