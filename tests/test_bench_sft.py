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


def test_mfu_flops_per_token_agree_with_trl_and_count_causal_attention():
    """bench/gpu_sft.py's model FLOPs per token: 6N + causal attention per document. At a context of S for every
    token it must equal TRL's own estimate (non-causal convention: every token attends to S) up to biases/norms."""
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_sft
    from trl.trainer.utils import compute_flops_per_token

    for shape, params in (("0.5b", 494_032_768), ("1.5b", 1_543_714_304)):
        cfg = gpu_sft.model_config(False, 151936, shape)
        seq = 4096
        ours = gpu_sft.flops_per_token(cfg, params, mean_ctx=seq)
        assert ours["total"] == __import__("pytest").approx(compute_flops_per_token(cfg, seq), rel=2e-3), shape
        # causal, document-masked: a 4096-token document's tokens see (4096 + 1) / 2 on average
        half = gpu_sft.flops_per_token(cfg, params, mean_ctx=(seq + 1) / 2)
        assert half["attention"] == __import__("pytest").approx(ours["attention"] * (seq + 1) / (2 * seq))
        assert half["dense"] == 6 * params  # tied embeddings: the one matrix counted once, as the LM head
    assert gpu_sft.peak_tflops("NVIDIA H200") == gpu_sft.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_sft.peak_tflops("NVIDIA H100 PCIe") == 756.0


def test_doc_counting_reads_packed_and_padded_rows():
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_sft

    c = gpu_sft.DocCounting(lambda ex: len(ex))
    assert c([{"input_ids": [0] * 5, "seq_lengths": [2, 3]}, {"input_ids": [0] * 4}]) == 2
    assert c.tokens == 9 and c.ctx_sum == 3 + 6 + 10  # (n+1)n/2 per document: 2 -> 3, 3 -> 6, 4 -> 10
