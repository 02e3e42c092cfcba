"""GPU check: student-side scores (entropy, RSR) of one long trace, chunked vs one full forward pass.

Builds a randomly initialised Qwen2 model from a config (no network: weights are random, the cost
and memory are those of the real shape) with the locally trained tiny tokenizer, then scores one
response of `--tokens` tokens with `ded.scorers.student.StudentScorer`:

- ours: chunks of `--chunk` tokens carrying the KV cache (what `ded score` runs);
- baseline: the naive way, one forward pass over the whole sequence and log-softmax over the full
  [tokens, vocab] logits.

Reports peak GPU memory of each (the claim: chunking bounds it), tokens/s of each, and the relative
difference of their RSR and entropy (must be ~0: same math). `--tiny` runs a tiny shape on CPU so
the script itself is tested here; the real run is on a GPU:

    python bench/gpu_student.py                 # Qwen2.5-1.5B shape, vocab 151,936, 16k tokens, bf16
    python bench/gpu_student.py --tiny          # CPU, seconds
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def build(out: Path, tiny: bool, vocab: int) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from ded.tiny import train_tokenizer

    tok = train_tokenizer([], vocab_size=384, max_length=1 << 20)
    if tiny:
        cfg = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
    else:  # Qwen2.5-1.5B-Instruct's shape (config.json of the hub model)
        cfg = {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2}
    config = Qwen2Config(vocab_size=max(vocab, len(tok)), max_position_embeddings=32768, tie_word_embeddings=True,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **cfg)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def naive(scorer, ids: list[int], start: int) -> dict:
    import torch

    from ded.scorers.student import summarize

    x = torch.tensor([ids], device=scorer.device)
    with torch.inference_mode():
        logits = scorer._lm(input_ids=x).logits[0]
        return summarize(logits[start - 1: len(ids) - 1], x[0, start:], scorer.rank_cap)


def timed(fn, cuda: bool):
    import torch

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 1024 ** 3 if cuda else None
    return out, time.perf_counter() - t, peak


def main() -> None:
    import torch

    from ded.scorers.student import StudentScorer

    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="Tiny shape on CPU (a test of the script).")
    ap.add_argument("--tokens", type=int, default=None, help="Response tokens (default 16,384; 512 with --tiny).")
    ap.add_argument("--chunk", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=None, help="Vocabulary size (default 151,936; 384 with --tiny).")
    a = ap.parse_args()
    n = a.tokens or (512 if a.tiny else 16_384)
    vocab = a.vocab or (384 if a.tiny else 151_936)
    cuda = torch.cuda.is_available() and not a.tiny
    device = "cuda" if cuda else "cpu"
    with tempfile.TemporaryDirectory() as d:
        path = build(Path(d), a.tiny, vocab)
        sc = StudentScorer(str(path), device=device, chunk_tokens=a.chunk).load()
        words = ["let", "me", "verify", "the", "sum", "again", "so", "the", "answer", "is", "42", "wait", "perhaps", "another", "approach", "works"]
        text = " ".join(words[i % len(words)] for i in range(n))
        ids, start = sc.encode([{"role": "user", "content": "What is 6 x 7?"}], text)
        ids = ids[: start + n]
        sc.score_ids(ids[: start + 64], start)  # warm-up (kernels, allocator)
        ours, t_ours, m_ours = timed(lambda: sc.score_ids(ids, start), cuda)
        try:
            base, t_base, m_base = timed(lambda: naive(sc, ids, start), cuda)
        except torch.OutOfMemoryError:
            base, t_base, m_base = None, None, None
    scored = ours["student_tokens"]
    rel = None if base is None else max(abs(ours[k] - base[k]) / abs(base[k]) for k in ("student_rsr", "student_entropy"))
    res = {"metric": f"peak GPU memory scoring one {scored}-token trace (GB)" if cuda else "CPU run (memory not measured)",
           "ours": round(m_ours, 3) if m_ours is not None else round(t_ours, 3),
           "baseline": (round(m_base, 3) if m_base is not None else None) if cuda else (round(t_base, 3) if t_base else None),
           "ratio": None, "better": "lower", "target": 12 if cuda else None,
           "tokens": scored, "chunk": a.chunk, "vocab": vocab, "device": torch.cuda.get_device_name() if cuda else "cpu",
           "ours_tokens_per_s": round(scored / t_ours, 1), "baseline_tokens_per_s": round(scored / t_base, 1) if t_base else None,
           "baseline_oom": base is None, "max_rel_diff": rel, "rsr": ours["student_rsr"], "entropy_bits": ours["student_entropy"]}
    if res["ours"] is not None and res["baseline"]:
        res["ratio"] = round(res["ours"] / res["baseline"], 4)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
