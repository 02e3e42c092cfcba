"""Shared fixtures: offline by default, real data from ../shared/data when present."""

from __future__ import annotations

import os
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
