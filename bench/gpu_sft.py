"""GPU check: `ded sft`'s training path against TRL's defaults, on a Qwen2.5-0.5B-shaped random model.

    python bench/gpu_sft.py                 # on a GPU: trl_defaults, ours, ours_nopack (each in its own process)
    python bench/gpu_sft.py --tiny          # on CPU: a tiny model, the same code paths, seconds
    python bench/gpu_sft.py --configs trl_defaults,ours,ours_fast,ours_fast_liger
    python bench/gpu_sft.py --configs trl_defaults,ours,ours_gc,liger_flag

The model is built from a config of Qwen2.5-0.5B's shape (494M parameters, vocabulary 151,936, 24 layers,
hidden 896, 14 heads / 2 KV heads; batch 8 x 4096) or with `--shape 1.5b` Qwen2.5-1.5B's (1,544M, 28 layers,
hidden 1536, 12 heads / 2 KV heads, intermediate 8960; batch 2 x 16,384, packed rows of up to 16,384 tokens),
random weights, bf16; the tokenizer is trained locally (ded.tiny) on
the synthetic text; rows are chat conversations of ~0.5k-4k tokens (a user problem, a long `<think>`
answer). Nothing is downloaded. Each configuration trains `--steps` optimizer steps after `--warmup`
steps and reports tokens/s (TRL's own real-token count, no padding), MFU (model FLOPs per token, 6N plus
causal attention within each document, x tokens/s over the device's dense bf16 peak: 989 TFLOP/s on H100 SXM
and H200; `mfu_6n` is GPU.md's 6 x parameters convention) and peak memory.

Configurations (batch 8 x max_length 4096, assistant-only loss, in all):
- trl_defaults: `SFTConfig` defaults (gradient checkpointing on, padded batches, SDPA); GPU.md: 20,276 tokens/s.
- ours: the `ded sft` plan as measured on 2026-11-26 (ded.training.plan.make_plan with compile off):
  packed best-fit-decreasing rows, padding-free, flex_attention document masks, liger kernels when
  importable, no checkpointing, TRL's chunked LM head. The fallback when compilation fails.
- ours_fast: today's `ded sft` plan with every "auto" resolved (make_plan defaults): `ours` plus each
  decoder layer torch.compile'd (dynamic shapes; inductor fuses norms, RoPE, SwiGLU, residual adds and
  the flex attention), liger off (the compiled layers fuse those ops), batches padded to a multiple of
  512 tokens (padding not counted), fused AdamW, TF32. ours_fast_liger: the same with liger kernels on.
- ours_fast_head: ours_fast with `sft.lm_head: ded` (ded.training.head: the LM head's gradients computed in the
  forward pass, one [tokens x vocabulary] GEMM fewer than TRL's recomputing head; same numbers).
- ours_nopack: the plan with packing off (length-grouped padded batches, SDPA, liger, no checkpointing).
- ours_gc: `ours` with gradient checkpointing; liger_flag: the defaults plus `use_liger_kernel=True` (GPU.md: 42,710).
`--profile N` also records N steps after the warm-up under torch.profiler and adds, per configuration,
where each step's device time goes (GEMMs, attention, the LM-head loss kernels, inductor-fused kernels,
optimizer, copies, other), how much of the step the device was busy, and the top kernels: the table to read
before deciding what to speed up next.
The last line is the JSON result (ARCHITECTURE.md, Performance).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

# Dense bf16 tensor-core peak, NVIDIA data sheets (without sparsity): H100 SXM and H200 989 TFLOP/s (the same
# chip; H200 has more and faster memory), H100 PCIe 756, A100 312. More specific names first.
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H200 NVL": 835.0, "H100": 989.0, "H200": 989.0,
                    "A100": 312.0}
SHAPES = {  # config.json of the hub models, tied embeddings in both
    "0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2},
    "1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
             "num_key_value_heads": 2},
}
SHAPE_DEFAULTS = {"0.5b": (8, 4096), "1.5b": (2, 16384)}  # (batch, max_length): 32,768 tokens per micro-batch
DEFAULT_CONFIGS = ["trl_defaults", "ours", "ours_nopack"]
OTHER_CONFIGS = ["ours_fast", "ours_fast_head", "ours_fast_liger", "ours_gc", "liger_flag"]
COMPILE_WARMUP = 8  # untimed steps for compiled configs: the first compile and any recompile per new shape
WORDS = [
    "so", "we", "compute", "the", "sum", "then", "check", "each", "case", "again", "wait", "let", "me",
    "verify", "the", "total", "because", "the", "answer", "must", "be", "an", "integer", "and", "the",
    "remainder", "is", "zero", "therefore", "the", "result", "holds", "for", "every", "value",
]


def sft_settings(**kw) -> SimpleNamespace:
    """The `SftParams` fields the trainer reads (defaults of ded/params.py), without importing pydantic."""
    base = {"max_length": 4096, "per_device_batch_size": 8, "gradient_accumulation_steps": 1, "learning_rate": 1e-5,
                "epochs": 1, "max_steps": -1, "lr_scheduler": "constant", "warmup_ratio": 0.0, "weight_decay": 0.0,
                "packing": True, "assistant_only_loss": True, "bf16": "auto", "gradient_checkpointing": "auto",
                "checkpointing_above_tokens": 65536, "attn_implementation": "auto", "liger": "auto", "seed": 0,
                "logging_steps": 1, "save_steps": 10**9, "compile": "auto", "pad_to_multiple_of": "auto",
                "optim": "auto", "tf32": "auto"}
    base.update(kw)
    return SimpleNamespace(**base)


def make_rows(n: int, max_tokens: int, tokens_per_word: float, seed: int = 0) -> list[list[dict]]:
    """Chat rows whose rendered length spreads over ~12%-90% of max_tokens."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = int(rng.randint(max_tokens // 8, int(max_tokens * 0.9)) / tokens_per_word)
        think = " ".join(rng.choice(WORDS) for _ in range(words))
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        rows.append([{"role": "user", "content": f"Problem {i}: what is {a} + {b}? Reason step by step."},
                     {"role": "assistant", "content": f"<think>\n{think}\n</think>\n\n\\boxed{{{a + b}}}"}])
    return rows


def model_config(tiny: bool, vocab: int, shape: str = "0.5b"):
    from transformers import Qwen2Config

    if tiny:
        return Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                           tie_word_embeddings=True)
    # Qwen2.5-0.5B: 494M parameters; Qwen2.5-1.5B: 1,544M (tied embeddings, vocabulary 151,936).
    return Qwen2Config(vocab_size=151936, max_position_embeddings=32768, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                       tie_word_embeddings=True, **SHAPES[shape])


def flops_per_token(config, params: int, mean_ctx: float) -> dict:
    """Training FLOPs per token (forward + backward = 3 x forward) of a dense decoder, as MFU counts them:
    - 6 x N, N the parameters that multiply activations: all of them but the input embedding lookup; with tied
      embeddings the one matrix is counted once, as the LM head (2 x V x H per token forward);
    - attention scores, causal: per layer, QK^T and AV cost 2 x 2 x d_attn x (context) per token forward, the
      context of a token at position i of a document being i (mean (n + 1) / 2 over a document of n), so
      6 x 2 x layers x d_attn x mean_ctx in training, with mean_ctx the token-weighted mean of (n + 1) / 2 over
      the documents trained (document masking: packed documents never attend to each other).
    """
    h, layers = config.hidden_size, config.num_hidden_layers
    d_attn = config.num_attention_heads * (getattr(config, "head_dim", None) or h // config.num_attention_heads)
    emb = config.vocab_size * h
    n_matmul = params if getattr(config, "tie_word_embeddings", False) else params - emb
    dense = 6 * n_matmul
    attn = 6 * 2 * layers * d_attn * mean_ctx
    return {"dense": dense, "attention": attn, "total": dense + attn, "n_matmul": n_matmul}


def peak_tflops(device_name: str) -> float | None:
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in device_name), None)


class DocCounting:
    """Wraps the trainer's collator: the documents each batch trains (their lengths), counted on the CPU, for the
    attention term of MFU. Packed rows carry TRL's `seq_lengths`; a padded row is one document."""

    def __init__(self, collate):
        self.collate, self.tokens, self.ctx_sum = collate, 0, 0.0

    def __call__(self, examples):
        for e in examples:
            for n in (e.get("seq_lengths") or [len(e["input_ids"])]):
                self.tokens += n
                self.ctx_sum += n * (n + 1) / 2  # sum over the document's tokens of their context length

        return self.collate(examples)

    def mean_ctx(self) -> float:
        return self.ctx_sum / self.tokens if self.tokens else 0.0


def run_one(name: str, args) -> dict:
    """Train one configuration in this process; return its measurements."""
    import torch
    from transformers import TrainerCallback

    from ded.tiny import train_tokenizer
    from ded.training.plan import Plan, make_plan
    from ded.training.trainer import build_trainer, load_model

    torch.manual_seed(0)
    sample = " ".join(random.Random(1).choice(WORDS) for _ in range(5000))
    tokenizer = train_tokenizer([sample], vocab_size=512, max_length=args.max_length)
    rows = make_rows(args.rows, args.max_length, len(tokenizer(sample)["input_ids"]) / 5000)
    common = {"max_length": args.max_length, "per_device_batch_size": args.batch}
    cuda = torch.cuda.is_available()
    config = model_config(args.tiny, len(tokenizer), args.shape)
    if name in ("trl_defaults", "liger_flag"):
        sft = sft_settings(**common, packing=False)
        plan = Plan(cuda=cuda, bf16=cuda, gradient_checkpointing=True, attn_implementation="sdpa",
                    liger=name == "liger_flag", padding_free=False)
    elif name in ("ours", "ours_nopack", "ours_gc"):
        sft = sft_settings(**common, packing=name != "ours_nopack", compile=False,
                           gradient_checkpointing=True if name == "ours_gc" else "auto")
        plan = make_plan(sft, model_config=config)
    elif name in ("ours_fast", "ours_fast_liger", "ours_fast_head"):
        # compile=True also on CPU, so --tiny exercises the compiled path (auto turns it on on a GPU only)
        sft = sft_settings(**common, compile=True, liger=True if name == "ours_fast_liger" else "auto",
                           lm_head="ded" if name == "ours_fast_head" else "auto")
        plan = make_plan(sft, model_config=config)
    else:
        raise SystemExit(f"unknown config {name!r}; use {DEFAULT_CONFIGS + OTHER_CONFIGS}")
    warmup = max(args.warmup, COMPILE_WARMUP) if plan.compile else args.warmup
    sft.max_steps = warmup + args.steps + (args.profile or 0)
    if cuda:
        try:  # random init on the GPU: seconds for 1.5B parameters instead of a CPU minute
            with torch.device("cuda"):
                model = load_model("", plan, config=config)
        except Exception as e:  # noqa: BLE001 - any failure: the plain way
            print(f"note: init on the GPU failed ({type(e).__name__}: {e}); initialising on the CPU", file=sys.stderr)
            model = load_model("", plan, config=config)
        model = model.cuda()
    else:
        model = load_model("", plan, config=config)
    params = sum(p.numel() for p in model.parameters())

    marks: list[tuple[int, float, int]] = []
    prof_box: dict = {}

    class Clock(TrainerCallback):

        def on_step_begin(self, a, state, control, **kw):
            if args.profile and state.global_step == warmup + args.steps and "prof" not in prof_box:
                from torch.profiler import ProfilerActivity, profile

                acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
                prof_box["prof"] = profile(activities=acts)
                prof_box["prof"].__enter__()
                prof_box["t0"] = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            if "prof" in prof_box and "wall" not in prof_box and state.global_step == warmup + args.steps + args.profile:
                prof_box["wall"] = time.perf_counter() - prof_box["t0"]
                prof_box["prof"].__exit__(None, None, None)
                return
            if "prof" not in prof_box:  # profiled steps are slower: not timed
                marks.append((state.global_step, time.perf_counter(), trainer._total_train_tokens))

    out_dir = Path(args.work) / name
    trainer = build_trainer(sft, plan, model, tokenizer, rows, str(out_dir), [Clock()])
    docs = trainer.data_collator = DocCounting(trainer.data_collator)
    if name in ("trl_defaults", "liger_flag"):  # TRL's default sampler: random order, no length grouping
        if hasattr(trainer.args, "train_sampling_strategy"):
            trainer.args.train_sampling_strategy = "random"
        if hasattr(trainer.args, "group_by_length"):
            trainer.args.group_by_length = False
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t_start = time.perf_counter()
    trainer.train()
    (s0, t0, n0), (s1, t1, n1) = marks[warmup - 1], marks[-1]
    tps = (n1 - n0) / (t1 - t0)
    peak = peak_tflops(torch.cuda.get_device_name()) if cuda else None
    fl = flops_per_token(config, params, docs.mean_ctx())
    return {"config": name, "tokens_per_s": round(tps, 1), "steps_timed": s1 - s0,
            "tokens_per_step": round((n1 - n0) / max(1, s1 - s0)),
            "mfu": round(fl["total"] * tps / (peak * 1e12), 4) if peak else None,
            "mfu_6n": round(fl["dense"] * tps / (peak * 1e12), 4) if peak else None,
            "model_tflops_per_s": round(fl["total"] * tps / 1e12, 2), "peak_tflops": peak,
            "gflops_per_token": round(fl["total"] / 1e9, 3), "attention_share": round(fl["attention"] / fl["total"], 4),
            "mean_doc_ctx": round(docs.mean_ctx(), 1),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
            "params_m": round(params / 1e6, 1), "shape": "tiny" if args.tiny else args.shape,
            "batch": args.batch, "max_length": args.max_length, "plan": plan.as_dict(),
            "first_step_s": round(marks[0][1] - t_start, 1), "warmup_steps": warmup, **_dynamo_stats(),
            "device": torch.cuda.get_device_name() if cuda else "cpu",
            **({"profile": summarize_profile(prof_box["prof"], args.profile, prof_box["wall"], cuda)}
               if "wall" in prof_box else {})}


# Kernel-name fragments per category, first match wins (CUDA kernel names, or aten op names on CPU).
CATEGORIES = [
    ("lm_head_loss", ("_forward_kernel", "_backward_kernel", "chunkedlogprob", "cross_entropy", "liger_cross")),
    ("attention", ("flex", "flash", "fmha", "attention", "sdpa", "scaled_dot")),
    ("gemm", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "aten::mm", "aten::addmm", "aten::bmm", "aten::matmul")),
    ("optimizer", ("adam", "multi_tensor", "foreach")),
    ("fused_elementwise", ("triton_",)),
    ("copy_fill", ("memcpy", "memset", "copy", "fill", "aten::cat", "aten::to")),
    ("communication", ("nccl",)),
]


def categorize(name: str) -> str:
    low = name.lower()
    return next((cat for cat, keys in CATEGORIES if any(k in low for k in keys)), "other")


def summarize_profile(prof, steps: int, wall_s: float, on_device: bool) -> dict:
    """Per-step milliseconds by category, device busy share, and the top kernels of a torch.profiler run."""
    from torch.autograd import DeviceType

    kernels = []
    for evt in prof.key_averages():
        if on_device:
            if getattr(evt, "device_type", None) != DeviceType.CUDA:
                continue
            t = getattr(evt, "self_device_time_total", None) or getattr(evt, "self_cuda_time_total", 0)
        else:
            if not evt.key.startswith("aten::"):
                continue
            t = evt.self_cpu_time_total
        if t > 0:
            kernels.append((evt.key, t / 1000.0 / steps, evt.count // steps))
    by_cat: dict[str, float] = {}
    for name, ms, _ in kernels:
        by_cat[categorize(name)] = by_cat.get(categorize(name), 0.0) + ms
    busy = sum(by_cat.values())
    wall = wall_s * 1000.0 / steps
    kernels.sort(key=lambda k: -k[1])
    return {"steps": steps, "wall_ms_per_step": round(wall, 1), "busy_ms_per_step": round(busy, 1),
            "busy_share": round(busy / wall, 3) if wall else None,
            "ms_per_step": {k: round(v, 1) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
            "top": [{"name": n[:90], "ms_per_step": round(ms, 2), "calls_per_step": c, "category": categorize(n)}
                    for n, ms, c in kernels[:15]]}


def _dynamo_stats() -> dict:
    """Graphs compiled and graph breaks: many graphs means recompiles (a shape or guard changing per step)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return {}
    return {"dynamo_unique_graphs": int(counters["stats"].get("unique_graphs", 0)),
            "dynamo_graph_breaks": int(sum(counters["graph_break"].values()))}


def summary(results: dict, args) -> dict:
    """The check's JSON result over the configurations measured so far."""
    base = results.get("trl_defaults", {}).get("tokens_per_s")
    ours_name = max((n for n in results if n.startswith("ours") and "tokens_per_s" in results[n]),
                    key=lambda n: results[n]["tokens_per_s"], default=None)
    ours = results[ours_name]["tokens_per_s"] if ours_name else None
    shape = "tiny model, CPU" if args.tiny else f"Qwen2.5-{args.shape.upper()} shape, bf16"
    any_r = next((r for r in results.values() if "tokens_per_s" in r), {})
    return {
        "check": f"sft_{args.shape}" + ("_tiny" if args.tiny else ""),
        "metric": f"SFT training throughput, tokens/s ({shape}, batch {args.batch} x {args.max_length}, "
                  f"ours vs TRL defaults in the same run)",
        "ours": ours, "baseline": base, "ratio": round(ours / base, 3) if ours and base else None,
        "better": "higher", "target": "MFU >= 0.40" if args.shape == "1.5b" and not args.tiny else None,
        "ours_config": ours_name,
        "peak_tflops": any_r.get("peak_tflops"),
        "mfu_convention": "model FLOPs (6N + causal attention over each document) x tokens/s / dense bf16 peak "
                          "of the device (H100 SXM, H200: 989 TFLOP/s); mfu_6n leaves attention out",
        "mfu_6n_ours": results.get(ours_name, {}).get("mfu_6n"),
        "mfu_ours": results.get(ours_name, {}).get("mfu"), "mfu_baseline": results.get("trl_defaults", {}).get("mfu"),
        "peak_mem_gib_ours": results.get(ours_name, {}).get("peak_mem_gib"),
        "peak_mem_gib_baseline": results.get("trl_defaults", {}).get("peak_mem_gib"),
        "configs": results,
    }


def _device_gib() -> float:
    import torch

    return torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny model on CPU (the same code paths)")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    ap.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default 20; tiny 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed first steps (default 5; tiny 2)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="0.5b", help="Qwen2.5 shape (ignored with --tiny)")
    ap.add_argument("--batch", type=int, default=None, help="rows per micro-batch (0.5b: 8, 1.5b: 2)")
    ap.add_argument("--max-length", type=int, default=None, help="0.5b: 4096, 1.5b: 16384; tiny 256")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--work", default="/tmp/ded-bench-sft")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="after the timed steps, profile N more steps: device time by category, top kernels")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one config, print its JSON
    args = ap.parse_args()
    args.steps = args.steps or (3 if args.tiny else 20)
    args.warmup = args.warmup or (2 if args.tiny else 5)
    batch, length = SHAPE_DEFAULTS[args.shape]
    if args.batch is None and not args.tiny and args.shape == "1.5b" and _device_gib() < 100:
        batch = 1  # an 80 GB H100: 2 x 16,384 tokens of 1.5B activations (~70 GB uncheckpointed) do not fit
    args.batch = args.batch or batch
    args.max_length = args.max_length or (256 if args.tiny else length)
    args.rows = args.rows or 2 * args.batch * (args.steps + max(args.warmup, COMPILE_WARMUP) + 2)
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args)), flush=True)
        return
    results = {}
    for name in args.configs.split(","):
        # One process per configuration: an out-of-memory or a compiled kernel never leaks into the next.
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--batch", str(args.batch), "--max-length", str(args.max_length), "--rows", str(args.rows),
               "--work", args.work, "--profile", str(args.profile), "--shape", args.shape] + (["--tiny"] if args.tiny else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "DED_PROGRESS": "0"}, check=False)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line:
            results[name] = json.loads(line[7:])
        else:
            err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            results[name] = {"config": name, "error": "out of memory" if "out of memory" in proc.stderr else err[:300]}
        r = results[name]
        print(f"{name:<14} " + (f"{r['tokens_per_s']:>10,.0f} tokens/s  MFU {r['mfu']} (6N only {r['mfu_6n']})  "
                                f"peak {r['peak_mem_gib']} GiB"
                                if "tokens_per_s" in r else f"failed: {r['error']}"), flush=True)
        print("PARTIAL " + json.dumps(summary(results, args)), flush=True)  # kept if a time cap stops the rest
        if "profile" in r:
            pr = r["profile"]
            print(f"  profile: {pr['wall_ms_per_step']} ms/step wall, {pr['busy_ms_per_step']} ms busy "
                  f"({pr['busy_share']}); " + ", ".join(f"{k} {v}" for k, v in pr["ms_per_step"].items()), flush=True)
            for k in pr["top"][:8]:
                print(f"    {k['ms_per_step']:>8.2f} ms x{k['calls_per_step']:<4} {k['category']:<17} {k['name']}", flush=True)
    print(json.dumps(summary(results, args)))


if __name__ == "__main__":
    main()
