"""GPU check (issue 4): our transformers backend vs plain `model.generate`, tokens/s.

A random-init model of Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads / 2 KV heads,
vocab 151,936, tied embeddings; ../shared/GPU.md), bf16, SDPA, a tokenizer trained locally
(ded.tiny), chat prompts of math questions, 512 new tokens per prompt, sampling temperature 0.6,
top-p 0.95 and transformers' default top-k 50 in both arms (the same distribution).

Arms, in one process on one device:
  baseline   plain model.generate on 64 prompts in one batch (GPU.md measured 900-1,043 tok/s)
  ours@64    our backend (engine auto = the fast decoder) on the same 64 prompts
  ours@N     our backend on N prompts (default 1024; batch sized to memory)
  ours@N-topp  the same without top-k (top-p over the full vocabulary: a sort per step), if time is left
Target: ours@N >= 10x the baseline's tokens/s. Tokens are counted from the ids each arm returns.

Needs only torch + transformers (+ ded on PYTHONPATH). `--tiny` runs the same code at toy size on
CPU (a 2-layer model, 16 new tokens) to check the script before spending GPU time.
Prints one line per arm as it finishes, then one JSON object as the last line.
"""

from __future__ import annotations

import sys

sys.path[:] = [p for p in sys.path if p.rstrip("/") != __file__.rsplit("/", 1)[0]]  # bench/select.py

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DED_PROGRESS", "0")

QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                  tie_word_embeddings=True, rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1e6})
TINY = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=1024, max_position_embeddings=2048, tie_word_embeddings=True)


def prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Problem {i}: let x be the number of integers k with 1 <= k <= {100 + 7 * i} "
              f"such that k^2 + {i} is divisible by {3 + i % 11}. Find x. Please reason step by step, and put "
              f"your final answer within \\boxed{{}}."}] for i in range(n)]


def build(shape: dict, device: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    from ded.tiny import build_tiny_model

    tok_dir = build_tiny_model(Path(tempfile.gettempdir()) / "ded-gpu-bench-tok", texts=[m[0]["content"] for m in prompts(64)])
    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = Qwen2Config(**shape, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation="sdpa").eval()
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def baseline(model, tok, msgs, new_tokens: int, device: str) -> tuple[int, float]:
    import torch

    texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in msgs]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    sync(device)
    t = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=True, temperature=0.6, top_p=0.95, top_k=50, max_new_tokens=new_tokens)
    sync(device)
    secs = time.perf_counter() - t
    gen = out[:, enc["input_ids"].shape[1]:]
    eos = torch.tensor(model.generation_config.eos_token_id, device=gen.device)
    # count up to and including each row's first eos (what the model generated; the rest is padding)
    is_eos = torch.isin(gen, eos)
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, torch.full_like(is_eos[:, 0], gen.shape[1], dtype=torch.long))
    return int(first.sum()), secs


def ours(backend, msgs, new_tokens: int, top_k: int, device: str) -> tuple[int, float, int]:
    from ded.backends import GenRequest, Sampling

    reqs = [GenRequest(key=str(i), messages=m, sampling=Sampling(0.6, 0.95, new_tokens, i, top_k)) for i, m in enumerate(msgs)]
    sync(device)
    t = time.perf_counter()
    res = list(backend.generate(reqs))
    sync(device)
    secs = time.perf_counter() - t
    assert len(res) == len(reqs) and all(r.ok for r in res)
    return sum(r.completion_tokens for r in res), secs, len(res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="toy size on CPU: checks the script, measures nothing")
    ap.add_argument("--prompts", type=int, default=None, help="prompts for ours@N (default 1024; tiny 32)")
    ap.add_argument("--new-tokens", type=int, default=None, help="default 512 (tiny 16)")
    ap.add_argument("--budget-s", type=float, default=420, help="skip the optional arm past this much wall time")
    ap.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_generate.json (default $OUT)")
    a = ap.parse_args()
    import torch
    import transformers

    from ded.backends.transformers import TransformersBackend

    t_start = time.perf_counter()
    device = "cpu" if a.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --tiny on CPU")
    if a.tiny:
        torch.set_num_threads(1)
    n = a.prompts or (32 if a.tiny else 1024)
    new = a.new_tokens or (16 if a.tiny else 512)
    model, tok = build(TINY if a.tiny else QWEN25_05B, device)
    params = sum(p.numel() for p in model.parameters())
    dev_name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    print(f"device {dev_name}; torch {torch.__version__}; transformers {transformers.__version__}; "
          f"model {params / 1e6:.0f}M params; {new} new tokens", flush=True)
    spec = SimpleNamespace(name="bench", model="(in memory)", backend="transformers", options={})
    backend = TransformersBackend(spec).attach(model, tok)
    # warm-up both paths (CUDA context, cuBLAS handles, allocator)
    baseline(model, tok, prompts(4), 8, device)
    ours(backend, prompts(4), 8, 50, device)
    rows = {}

    def report(name, tokens, secs, count):
        rows[name] = {"prompts": count, "tokens": tokens, "seconds": round(secs, 3), "tokens_per_s": round(tokens / secs, 1)}
        print(f"{name:>12}: {count:5d} prompts, {tokens:8d} tokens in {secs:7.2f}s = {tokens / secs:10.1f} tok/s", flush=True)

    def arm(name, fn):
        """Run one arm; a failure is printed and recorded, and the other arms still run."""
        try:
            out = fn()
            report(name, out[0], out[1], out[2] if len(out) > 2 else 64)
        except Exception as e:  # noqa: BLE001 (a GPU run is too dear to lose to one arm)
            rows[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
            print(f"{name:>12}: FAILED {rows[name]['error']}", flush=True)
            if device == "cuda":
                torch.cuda.empty_cache()

    msgs64 = prompts(64)
    arm("baseline@64", lambda: baseline(model, tok, msgs64, new, device))
    arm("ours@64", lambda: ours(backend, msgs64, new, 50, device))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    arm(f"ours@{n}", lambda: ours(backend, prompts(n), new, 50, device))
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    if time.perf_counter() - t_start < a.budget_s:
        arm(f"ours@{n}-topp", lambda: ours(backend, prompts(n), new, 0, device))
    base = rows["baseline@64"].get("tokens_per_s")
    best = rows[f"ours@{n}"].get("tokens_per_s")
    result = {"metric": f"generated tokens/s, Qwen2.5-0.5B-shaped random model, {new} new tokens/prompt"
                        + (" (TINY CPU CHECK, not a measurement)" if a.tiny else ""),
              "ours": best, "baseline": base, "ratio": round(best / base, 2) if best and base else None,
              "better": "higher", "target": 10,
              "ours_at_64": rows["ours@64"].get("tokens_per_s"), "prompts": n, "device": dev_name,
              "peak_gib": None if peak is None else round(peak, 1), "engine": backend.engine,
              "batch_size": backend.batch_size or "auto", "arms": rows, "torch": torch.__version__,
              "transformers": transformers.__version__, "wall_s": round(time.perf_counter() - t_start, 1)}
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "gpu_generate.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
