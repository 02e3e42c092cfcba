"""bench/gpu_sft.py at toy size on CPU: the GPU session runs it unattended, so its code paths are checked here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_sft_bench_times_and_profiles(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DED_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_sft.py"), "--tiny", "--configs", "ours",
                           "--steps", "1", "--warmup", "1", "--profile", "1", "--work", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = result["configs"]["ours"]
    assert ours["tokens_per_s"] > 0 and ours["steps_timed"] == 1
    prof = ours["profile"]
    assert prof["steps"] == 1 and 0 < prof["busy_ms_per_step"] and prof["wall_ms_per_step"] > 0
    assert prof["ms_per_step"]["gemm"] > 0 and prof["ms_per_step"]["attention"] > 0  # the categories find real ops
    assert prof["top"] and all(k["ms_per_step"] > 0 for k in prof["top"])
    assert "profile:" in proc.stdout  # the human-readable table
