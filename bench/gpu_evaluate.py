"""GPU check of `ded evaluate`'s model-side path: 64 items × 8 samples, generation + grading, vs plain generate.

Claim (issue 8, ../shared/GPU.md): evaluating a Qwen2.5-0.5B-shaped random model on a 64-item set with 8 samples
each through the transformers backend's fastest engine keeps >= 10x the output tokens/s of plain
`model.generate` on 64 prompts (measured there: 900-1,043 tokens/s), end to end with grading included.

What is timed. Ours: the evaluation's requests (the shared prompt template, one request per sample with its own
seed, built by ded.evaluation.runner) → `TransformersBackend.generate` (engine auto: the preallocated-KV fast
decoder on a GPU) → `ded.verifiers.grade_many` on every sample (reasoning stripped; unclosed = no answer) →
avg@8, pass@k and the item bootstrap (`ded.evaluation.metrics.summarize`). Baseline: one `model.generate` call
on the 64 prompts (one sample each, sampling, same budget), tokens counted up to each row's first eos. Model
loading is excluded from both; a warm-up call precedes each. The lake is not part of it (no duckdb/lance on the
GPU machine): writing 512 rows to Lance takes well under a second on CPU (tests/test_eval_loop.py).

Run on the GPU machine (see ../shared/GPU.md; carry .whl with math-verify, latex2sympy2_extended, antlr4 and
also typer, click, rich, markdown-it-py, mdurl, pygments, shellingham, which ded's modules import):
    python3 bench/gpu_evaluate.py            # Qwen2.5-0.5B shape, 512 new tokens
    python3 bench/gpu_evaluate.py --tiny     # a tiny model on CPU, 32 new tokens: checks the script runs
Last line: the JSON object of ARCHITECTURE.md (ours and baseline in output tokens/s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

# run as a script, Python puts bench/ first on sys.path, where bench/select.py would shadow the stdlib module
sys.path[0] = str(Path(__file__).resolve().parents[1])

# Qwen2.5-0.5B (config.json of Qwen/Qwen2.5-0.5B): 494M parameters with tied embeddings
QWEN05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
           "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 32768,
           "rope_theta": 1_000_000.0, "tie_word_embeddings": True, "rms_norm_eps": 1e-6}


def build_model(out: Path, tiny: bool) -> Path:
    from ded.tiny import build_tiny_model, train_tokenizer

    if tiny:
        return build_tiny_model(out)
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, Qwen2Config

    tok = train_tokenizer(ITEM_TEXTS, vocab_size=2048, max_length=4096)
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id
    cfg = Qwen2Config(**QWEN05B, eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.generation_config = GenerationConfig(eos_token_id=[eos], pad_token_id=pad, bos_token_id=None)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def make_items(n: int) -> list[dict]:
    """n math items with integer answers, shaped like benchmark_items rows."""
    return [{"benchmark": "bench", "item_id": f"b{i:03d}", "domain": "math", "answer": str(i * 7 + 3),
             "problem": f"A box holds {i} rows of 7 marbles and 3 loose marbles. How many marbles are in the box?",
             "tests": None, "choices": None} for i in range(n)]


ITEM_TEXTS = [it["problem"] for it in make_items(64)]


def eval_requests(items, spec, n: int, max_tokens: int):
    from ded.backends.base import GenRequest, Sampling, fingerprint
    from ded.evaluation.runner import prompt_and_gold
    from ded.prompts import render_messages

    reqs, golds = [], {}
    for it in items:
        row, gold = prompt_and_gold(it, seed=0)
        golds[it["item_id"]] = gold
        messages = render_messages(row)
        for i in range(n):
            s = Sampling(temperature=0.6, top_p=0.95, max_tokens=max_tokens, seed=i)
            reqs.append(GenRequest(key=fingerprint(f"{spec.name}|{spec.model}", messages, s, i), messages=messages,
                                   sampling=s, sample_idx=i, meta={"item_id": it["item_id"]}))
    return reqs, golds


def ours(model_dir: Path, items, n: int, max_tokens: int) -> dict:
    from ded.backends.transformers import TransformersBackend
    from ded.evaluation.metrics import summarize
    from ded.verifiers import grade_many

    spec = SimpleNamespace(name="bench-student", model=str(model_dir), options={"engine": "auto"})
    backend = TransformersBackend(spec)
    backend.load()
    warm, _ = eval_requests(items[:2], spec, 1, 8)
    list(backend.generate(warm))
    reqs, golds = eval_requests(items, spec, n, max_tokens)
    by_key = {r.key: r for r in reqs}
    sync()
    t0 = time.perf_counter()
    results = list(backend.generate(reqs))
    sync()
    t1 = time.perf_counter()
    graded = grade_many([{**golds[by_key[r.key].meta["item_id"]], "response": r.text} for r in results],
                        workers=2, show_progress=False)
    verdicts: dict[str, list] = {}
    for r, g in zip(results, graded):
        verdicts.setdefault(by_key[r.key].meta["item_id"], []).append(g["correct"])
    summary = summarize(verdicts, n_boot=1000)
    t2 = time.perf_counter()
    tokens = sum(r.completion_tokens or 0 for r in results)
    backend.close()
    return {"tokens": tokens, "gen_s": t1 - t0, "grade_s": t2 - t1, "total_s": t2 - t0, "engine": backend.engine,
            "samples": len(results), "errors": sum(not r.ok for r in results), "avg_at_n": summary.avg_at_n,
            "statuses": _count(g["status"] for g in graded)}


def baseline(model_dir: Path, items, max_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ded.prompts import render_messages

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if dev == "cuda" else torch.float32).to(dev).eval()
    texts = [tok.apply_chat_template(render_messages({"problem": it["problem"], "domain": "math"}),
                                     tokenize=False, add_generation_prompt=True) for it in items]
    enc = tok(texts, return_tensors="pt", padding=True).to(dev)
    kw = {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "pad_token_id": tok.pad_token_id}
    with torch.no_grad():
        model.generate(**{k: v[:2] for k, v in enc.items()}, max_new_tokens=8, **kw)  # warm-up
        sync()
        t0 = time.perf_counter()
        out = model.generate(**enc, max_new_tokens=max_tokens, **kw)
        sync()
        secs = time.perf_counter() - t0
    new = out[:, enc["input_ids"].shape[1]:]
    eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list)
              else [model.generation_config.eos_token_id])
    tokens = 0
    for row in new.tolist():
        k = next((j for j, t in enumerate(row) if t in eos), len(row) - 1)
        tokens += k + 1
    return {"tokens": tokens, "secs": secs}


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _count(xs) -> dict:
    out: dict = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny model, short outputs: a CPU check that it runs")
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    a = ap.parse_args()
    import torch

    max_tokens = a.max_new_tokens or (32 if a.tiny else 512)
    items = make_items(a.items)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(tmp) / "model", a.tiny)
        base = baseline(model_dir, items, max_tokens)
        mine = ours(model_dir, items, a.samples, max_tokens)
    base_tps = base["tokens"] / base["secs"]
    ours_tps = mine["tokens"] / mine["total_s"]
    print(f"device: {device}  model: {'tiny' if a.tiny else 'Qwen2.5-0.5B shape'}  new tokens: {max_tokens}")
    print(f"baseline model.generate, {len(items)} prompts: {base['tokens']} tokens in {base['secs']:.2f} s "
          f"= {base_tps:,.0f} tokens/s")
    print(f"ours ({mine['engine']} engine), {mine['samples']} samples: {mine['tokens']} tokens, generation "
          f"{mine['gen_s']:.2f} s + grading and metrics {mine['grade_s']:.2f} s = {ours_tps:,.0f} tokens/s end to end; "
          f"statuses {mine['statuses']}, errors {mine['errors']}")
    from bench._util import emit

    emit("end-to-end evaluation output tokens/s (generation + grading + metrics) vs plain model.generate at 64 "
         "prompts", ours_tps, base_tps, "higher", 10, device=device, tiny=a.tiny, items=len(items),
         samples_per_item=a.samples, max_new_tokens=max_tokens, engine=mine["engine"],
         generation_s=round(mine["gen_s"], 3), grading_s=round(mine["grade_s"], 3),
         ours_tokens=mine["tokens"], baseline_tokens=base["tokens"], errors=mine["errors"])


if __name__ == "__main__":
    main()
