"""`ded sft` under two processes (torchrun, gloo on CPU): the sync-free step gathers its metrics and token
counts once per log and gives what TRL's own path gives; DDP does not search for unused parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _run(model_dir: Path, mode: str, out: Path) -> tuple[dict, str]:
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.fail("torchrun is missing from the environment (it ships with torch)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "DED_PROGRESS": "0"}
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 500),
                           str(HERE / "ddp_sft_run.py"), str(model_dir), mode, str(out)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[7:]), proc.stderr


def test_two_processes_sync_free_equals_trl_path(tiny_model_dir, tmp_path):
    fast, err = _run(tiny_model_dir, "fast", tmp_path / "fast")
    trl, _ = _run(tiny_model_dir, "trl", tmp_path / "trl")
    assert fast["world"] == 2 and fast["find_unused"] is False
    assert "find_unused_parameters=True was specified" not in err
    assert fast["loss"] == pytest.approx(trl["loss"], rel=1e-5)
    assert fast["tokens"] == trl["tokens"] > 0  # summed over both ranks
    assert len(fast["logs"]) == len(trl["logs"]) == 3
    for a, b in zip(fast["logs"], trl["logs"]):
        for key in ("loss", "entropy", "mean_token_accuracy", "num_tokens"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key


def test_only_mixture_of_experts_models_keep_the_unused_parameter_search():
    from types import SimpleNamespace

    from ded.training.trainer import _is_moe

    dense = SimpleNamespace(config=SimpleNamespace(num_hidden_layers=2))
    moe = SimpleNamespace(config=SimpleNamespace(num_local_experts=8))
    assert not _is_moe(dense) and _is_moe(moe)
