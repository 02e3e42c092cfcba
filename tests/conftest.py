"""Shared fixtures: offline by default, real data from ../shared/data when present."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DED_PROGRESS", "0")
# Tiny models on a shared 2-core box: torch's default of one thread per core made tiny-model
# generation 10-40x slower here (thread hand-off dominates); one thread is faster and steadier.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DED_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (real public benchmarks and traces); skips when absent (a user's fresh clone)."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it ships beside the repo in CI only)")
    return SHARED_DATA


@pytest.fixture
def lake(tmp_path):
    from ded.lake import Lake

    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2-shaped causal LM with a locally trained tokenizer (built once per session)."""
    from ded.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def torch_one_thread():
    """One torch thread for a module's tests: the CI box has 2 shared cores, where torch's default threads
    thrash (measured 10-40x slower on tiny-model generation)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_DEMO_LAKE: dict[str, Path] = {}  # the built demo lake of this test process, copied for each caller


def load_demo_lake(lake):
    """The committed demo sources (data/demo) ingested, verified and scored under pipelines/demo.yaml; its params.

    Skips when data/demo is missing. No embed: callers select with diversity "none" (k-center needs a model).
    Built once per test process (ingest + verify + score of ~4,000 rows take about a minute) and copied into
    each caller's `lake`, so every caller still owns its tables.
    """
    import atexit
    import tempfile

    from ded.params import load_params

    root = Path(__file__).resolve().parents[1]
    data = root / "data" / "demo"
    if not (data / "math_questions.jsonl").exists():
        pytest.skip("data/demo missing; regenerate with `python -m ded.demo data/demo`")
    params = load_params(root / "pipelines" / "demo.yaml")
    prompts = {k: str(root / v) for k, v in params.prompts.model_dump().items() if isinstance(v, str)}
    # Fixed selection settings for the unit tests (the profile's own are tuned for its SFT): 48 rows, half per
    # domain, from the planted best teacher, which `dvc repro`'s smoke tests pick (tests/test_pipeline.py checks
    # that); this lake has no smoke results, and verified accuracy would pick the accuracy-best teacher.
    from ded.demo import PLANTED_BEST_TEACHER

    params = params.model_copy(update={
        "prompts": params.prompts.model_copy(update=prompts),
        "select": params.select.model_copy(update={"budget": 48, "domain_mix": {"math": 0.5, "code": 0.5},
                                                   "teacher": PLANTED_BEST_TEACHER})})
    if "built" not in _DEMO_LAKE:
        from ded.lake import Lake

        tmp = tempfile.mkdtemp(prefix="ded-test-demo-lake-")
        atexit.register(shutil.rmtree, tmp, True)
        built = Path(tmp) / "lake"
        _build_demo_lake(Lake(built), params, data)
        _DEMO_LAKE["built"] = built
    shutil.copytree(_DEMO_LAKE["built"], Path(lake.root), dirs_exist_ok=True)
    return params


def _build_demo_lake(lake, params, data: Path) -> None:
    from ded.ingest import ingest_paths
    from ded.stages import score, verify

    ingest_paths(lake, [data / "math_questions.jsonl", data / "code_questions.jsonl"], kind="questions",
                 source="demo", show_progress=False)
    ingest_paths(lake, sorted(data.glob("teacher_*.jsonl")) + [data / "student.jsonl"], kind="trajectories",
                 source="demo", show_progress=False)
    verify.main(params, lake, show_progress=False, workers=2)
    score.main(params, lake)


def run_checked(args: list[str], cwd, env: dict, timeout: float = 900) -> str:
    """Run a command of a workspace test (git, dvc, ded); its stdout + stderr, or an AssertionError with the
    tails of both when it fails."""
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}")
    return out.stdout + out.stderr


def clone_workspace(ws: Path) -> dict:
    """Copy the repository's files (tracked and untracked, not ignored) into `ws`, make it a one-commit git
    repository as a fresh clone is, and return the environment the workspace tests run its commands in."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (ws / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, ws / name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DED_PROGRESS": "0", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ws)}
    git = ["git", "-c", "user.name=ded-test", "-c", "user.email=ded-test@localhost"]
    run_checked(["git", "init", "-q"], ws, env)
    run_checked(["git", "add", "-A"], ws, env)
    run_checked(git + ["commit", "-q", "-m", "clone"], ws, env)
    return env
