"""GPU check: student-side scores (entropy, RSR, per-token logprob/rank) of long traces, ours vs one full forward.

A randomly initialised model of Qwen2.5-0.5B's shape (494M parameters, vocabulary 151,936; `--shape 1.5b`
for Qwen2.5-1.5B's) is built in memory from a config (no network, no tokenizer: random token ids; the
cost and memory are those of the real shape), then two checks, one JSON line each:

- single: one trace of `--tokens` response tokens (16,384) after a 64-token prompt.
  ours = `StudentScorer.score_many` as `ded score` runs it (one decoder forward, the vocabulary projection
  and the statistics in blocks of `--chunk` positions, sums on the device); baseline = one full forward and
  log-softmax over the full [tokens, vocabulary] logits (`token_stats` on them). Reports tokens/s of both
  (the ratio: target >= 0.8), peak GPU memory of ours (target <= 12 GB) and of the baseline, and the maximum
  relative difference of per-token logprob and entropy (and how many ranks differ: bf16 logits tie often,
  so a rank can move by one where two logits are one ulp apart).
- mixed: a batch of `--mixed` traces of 1k-16k tokens (evenly spread), scored by `score_many` (traces packed
  up to `--max-batch-tokens` per forward; both layouts: length-sorted rows, and one packed row with a
  block-diagonal mask) against the baseline scoring them one full forward at a time; tokens/s of each and
  the maximum relative difference of the per-trace entropy/RSR (packing must not leak across traces).

    python bench/gpu_student.py                 # GPU: 0.5B shape, 16,384-token trace, 16 mixed traces
    python bench/gpu_student.py --tiny          # CPU: a tiny shape, the same code paths, seconds
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

SHAPES = {  # config.json of the hub models (tied embeddings)
    "0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2},
    "1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
             "num_key_value_heads": 2},
    "tiny": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
}


def build(shape: str, vocab: int, device: str):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(vocab_size=vocab, max_position_embeddings=32768, tie_word_embeddings=True,
                         rope_theta=1_000_000.0, rms_norm_eps=1e-6, **SHAPES[shape])
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


def full_forward(lm, ids: list[int], start: int) -> dict:
    """The baseline: one forward, full-vocabulary logits, log-softmax over all of them."""
    import torch

    from ded.scorers.student import token_stats

    x = torch.tensor([ids], device=lm.device)
    with torch.inference_mode():
        logits = lm(input_ids=x, use_cache=False).logits[0]
        st = token_stats(logits[start - 1: len(ids) - 1], x[0, start:])
        return {k: v.cpu() for k, v in st.items()}


def summary(st: dict, cap: int = 100) -> dict:
    from ded.scorers.student import Accumulator

    acc = Accumulator(rank_cap=cap)
    acc.add(st)
    return acc.result()


def timed(fn, cuda: bool, repeat: int = 1):
    """(result of the last call, median seconds, peak GiB of the calls)."""
    import torch

    times, out = [], None
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() / 1024 ** 3 if cuda else None
    return out, statistics.median(times), peak


def rel(a, b) -> float:
    a, b = a.double(), b.double()
    return float(((a - b).abs() / b.abs().clamp(min=1e-6)).max()) if a.numel() else 0.0


def check_single(sc, lm, a, cuda: bool, device_name: str) -> dict:
    import torch

    rng = random.Random(0)
    vocab = lm.config.vocab_size
    prompt = 64
    ids = [rng.randrange(vocab) for _ in range(prompt + a.tokens)]
    item = [(ids, prompt)]
    sc.score_many(item)  # warm-up: kernels, the compiled statistics, the allocator
    ours, t_ours, m_ours = timed(lambda: sc.score_many(item), cuda, a.repeat)
    toks = sc.token_stats_many(item)[0]
    try:
        full_forward(lm, ids, prompt)  # warm-up
        base, t_base, m_base = timed(lambda: full_forward(lm, ids, prompt), cuda, a.repeat)
    except torch.OutOfMemoryError:
        base = t_base = m_base = None
    n = ours[0]["student_tokens"]
    res = {"check": "student_single", "metric": f"student scoring tokens/s, one {n}-token trace, vs one full forward "
                                                f"with full log-softmax (ours / baseline)",
           "ours": round(n / t_ours, 1), "baseline": round(n / t_base, 1) if t_base else None, "ratio": None,
           "better": "higher", "target": 0.8, "peak_gb_ours": round(m_ours, 2) if m_ours is not None else None,
           "peak_gb_baseline": round(m_base, 2) if m_base is not None else None, "target_peak_gb": 12,
           "tokens": n, "chunk_tokens": sc.chunk_tokens, "max_batch_tokens": sc.max_batch_tokens,
           "vocab": vocab, "shape": a.shape, "device": device_name, "baseline_oom": base is None,
           "seconds_ours": round(t_ours, 4), "seconds_baseline": round(t_base, 4) if t_base else None}
    if t_base:
        res["ratio"] = round(t_base / t_ours, 3)
        res["max_rel_diff_logprob"] = rel(toks["logprob"], -base["surprisal"])
        res["max_rel_diff_entropy"] = rel(toks["entropy_bits"], base["entropy_bits"])
        diff = (toks["rank"] - base["rank"]).abs()
        res["rank_mismatch_share"] = round(float((diff > 0).double().mean()), 6)
        res["rank_max_abs_diff"] = int(diff.max())
        b = summary(base)
        res["max_rel_diff_summary"] = max(abs(ours[0][k] - b[k]) / abs(b[k]) for k in ("student_rsr", "student_entropy"))
    return res


def check_mixed(sc, lm, a, cuda: bool, device_name: str) -> dict:
    rng = random.Random(1)
    vocab = lm.config.vocab_size
    lo, hi = (128, 512) if a.tiny else (1024, 16384)
    lengths = [round(lo + (hi - lo) * k / max(1, a.mixed - 1)) for k in range(a.mixed)]
    rng.shuffle(lengths)
    items = [([rng.randrange(vocab) for _ in range(n)], 64) for n in lengths]
    total = sum(n - 64 for n in lengths)
    base_sum = [summary(full_forward(lm, ids, s)) for ids, s in items[:1]]  # warm-up
    base_sum, t_base, m_base = timed(lambda: [summary(full_forward(lm, ids, s)) for ids, s in items], cuda)
    arms = {}
    for layout in ("rows", "packed"):
        sc.layout = layout
        sc.score_many(items[:2])  # warm-up
        got, t, m = timed(lambda: sc.score_many(items), cuda)
        worst = max(abs(g[k] - b[k]) / abs(b[k]) for g, b in zip(got, base_sum) for k in ("student_rsr", "student_entropy"))
        arms[layout] = {"tokens_per_s": round(total / t, 1), "seconds": round(t, 3),
                        "peak_gb": round(m, 2) if m is not None else None, "max_rel_diff_summary": worst}
    sc.layout = "auto"
    best = max(arms, key=lambda k: arms[k]["tokens_per_s"])
    base_tps = total / t_base
    return {"check": "student_mixed", "metric": f"student scoring tokens/s, {len(items)} traces of {lo}-{hi} tokens "
                                                f"({total} scored), vs one full forward per trace",
            "ours": arms[best]["tokens_per_s"], "baseline": round(base_tps, 1),
            "ratio": round(arms[best]["tokens_per_s"] / base_tps, 3), "better": "higher", "target": None,
            "best_layout": best, "layouts": arms, "peak_gb_baseline": round(m_base, 2) if m_base is not None else None,
            "max_batch_tokens": sc.max_batch_tokens, "chunk_tokens": sc.chunk_tokens, "shape": a.shape,
            "device": device_name}


def main() -> None:
    import torch

    from ded.scorers.student import StudentScorer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny shape on CPU (a test of the script)")
    ap.add_argument("--shape", choices=["0.5b", "1.5b"], default="0.5b")
    ap.add_argument("--tokens", type=int, default=None, help="response tokens of the single trace (16,384; tiny 512)")
    ap.add_argument("--chunk", type=int, default=2048, help="positions per block of the vocabulary projection")
    ap.add_argument("--max-batch-tokens", type=int, default=32768)
    ap.add_argument("--vocab", type=int, default=None, help="vocabulary size (151,936; tiny 1,024)")
    ap.add_argument("--mixed", type=int, default=None, help="traces in the mixed batch (16; tiny 6)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats of the single trace (median)")
    ap.add_argument("--checks", default="single,mixed")
    a = ap.parse_args()
    a.tokens = a.tokens or (512 if a.tiny else 16_384)
    a.mixed = a.mixed or (6 if a.tiny else 16)
    if a.tiny:
        a.shape = "tiny"
    cuda = torch.cuda.is_available() and not a.tiny
    device = "cuda" if cuda else "cpu"
    name = torch.cuda.get_device_name() if cuda else "cpu"
    lm = build(a.shape, a.vocab or (1024 if a.tiny else 151_936), device)
    sc = StudentScorer("(in memory)", device=device, chunk_tokens=a.chunk, max_batch_tokens=a.max_batch_tokens)
    sc._lm = lm
    for check in a.checks.split(","):
        fn = {"single": check_single, "mixed": check_mixed}[check]
        print(json.dumps(fn(sc, lm, a, cuda, name)), flush=True)


if __name__ == "__main__":
    main()
