"""The `ded verify` *driver* killed mid-commit on Ray, the lake on S3: the rerun loses and doubles nothing.

`ded verify` runs as its own process (`python -m ded verify`, compute.engine: ray, joined to a two-node
Ray cluster on 127.0.0.1, the lake on a moto S3 server on 127.0.0.1), committing one Lance merge per
`verify.batch_rows`. Two batches commit; the third merge is stalled after Lance has begun consuming its
rows (tests/stalling_driver.py) and the driver is SIGKILLed there, with its grading actors still alive.
Then every table reads at its last committed version (no half-written commit visible, the ingest tables
untouched), and a plain `python -m ded verify` grades exactly the rows without a verdict: one verdict per
trajectory, equal to the local engine's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="compute.engine: ray needs the optional extra: pip install -e '.[ray]'")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_cluster import loopback_cluster
from s3_server import moto_missing, running_s3
from test_verify_ray import _verdicts

REPO = Path(__file__).resolve().parents[1]
BATCH = 40  # verify.batch_rows: 320 CI-demo trajectories = 8 commits
pytestmark = pytest.mark.skipif(moto_missing() is not None, reason=moto_missing() or "")


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as c:  # two raylets on 127.0.0.1, one CPU each
        yield c


@pytest.fixture(scope="module")
def s3():
    with running_s3() as server:
        yield server


def _params(path: Path, lake: dict, engine: str, address: str | None) -> Path:
    p = yaml.safe_load((REPO / "pipelines" / "demo.yaml").read_text())
    p["lake"] = lake
    p["compute"].update(engine=engine, address=address, chunk_rows=8)
    p["verify"].update(workers=2, batch_rows=BATCH)
    student = next(m for m in p["models"] if m["name"] == p["student"]["model"])
    p["verify"]["tokenizer"] = str(REPO / student["model"])  # absolute: the drivers run in other directories
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def _ingest(params_path: Path, sources: dict):
    from ded.ingest import ingest_paths
    from ded.lake import open_lake
    from ded.params import load_params

    lake = open_lake(load_params(params_path))
    ingest_paths(lake, [sources["math_questions"], sources["code_questions"]], kind="questions", source="demo",
                 show_progress=False)
    ingest_paths(lake, [p for n, p in sorted(sources.items()) if n.startswith("teacher_") or n == "student"],
                 kind="trajectories", source="demo", show_progress=False)
    return lake


def _env(marks: Path, **extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", "DED_PROGRESS": "0", "DED_TEST_MARKS": str(marks),
            # keep 127.0.0.1 when the driver joins (tests/ray_cluster.py says why)
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **extra}


def _committed_state(lake) -> dict:
    """Per table: version, rows, and that the current version reads whole (no half commit is visible)."""
    out = {}
    for name in lake.table_names():
        ds = lake.dataset(name)
        assert ds.version == max(v["version"] for v in ds.versions()), name
        assert ds.to_table().num_rows == ds.count_rows(), name
        out[name] = (ds.version, ds.count_rows())
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from ded.demo import write_demo_sources

    d = write_demo_sources(tmp_path_factory.mktemp("ci-demo"), seed=0, size="ci")
    return {Path(p).stem: Path(p) for p in d.values()}


def test_driver_killed_mid_commit_then_rerun_loses_and_doubles_nothing(cluster, s3, sources, tmp_path):
    from ded.params import load_params
    from ded.stages import verify

    local = _ingest(_params(tmp_path / "local.yaml", {"root": str(tmp_path / "local-lake")}, "local", None), sources)
    verify.main(load_params(tmp_path / "local.yaml"), local, show_progress=False)
    want = _verdicts(local)
    assert len(want) == local.count("trajectories") > 5 * BATCH

    lake_cfg = {"root": s3.root("driver-kill/lake"), "storage_options": s3.storage_options}
    params = _params(tmp_path / "params.yaml", lake_cfg, "ray", cluster.address)
    lake = _ingest(params, sources)
    before = _committed_state(lake)
    marks = tmp_path / "marks"
    marks.mkdir()
    # merge_insert #1 is the second batch (the first creates the table); #2, the third batch, stalls
    driver = subprocess.Popen([sys.executable, str(REPO / "tests" / "stalling_driver.py"), "--params", str(params),
                               "verify"], cwd=tmp_path, env=_env(marks, DED_TEST_STALL_MERGE="2"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 240
        while not (marks / "stalled").exists() and driver.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        assert (marks / "stalled").exists(), f"the driver never reached its third commit:\n{driver.communicate()[0][-4000:]}"
        at_stall = _committed_state(lake)
        driver.send_signal(signal.SIGKILL)
    finally:
        if driver.poll() is None:
            driver.kill()
        out = driver.communicate(timeout=60)[0]
    assert driver.returncode == -signal.SIGKILL, out[-3000:]

    after = _committed_state(lake)
    assert after == at_stall  # the killed commit left nothing behind: same versions, same rows
    assert {k: v for k, v in after.items() if k != "verdicts"} == before  # ingest's tables untouched
    n_killed = after["verdicts"][1]
    assert 2 * BATCH - BATCH // 2 <= n_killed < len(want)  # two batches landed, not the stalled third
    assert lake.duplicate_keys("verdicts") == 0

    rerun = subprocess.run([sys.executable, "-m", "ded", "--params", str(params), "verify", "--format", "json"],
                           cwd=tmp_path, env=_env(marks), capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout[rerun.stdout.index("{"):])
    assert summary["graded"] == len(want) - n_killed  # only what had no verdict
    assert lake.duplicate_keys("verdicts") == 0
    assert _verdicts(lake) == want
    final = _committed_state(lake)
    assert final["verdicts"][1] == len(want) and final["verdicts"][0] > after["verdicts"][0]
