"""Bench: the generation backends on CPU.

1. `transformers` backend vs plain `model.generate` on the same chat prompts, same batch size,
   same sampling (temperature 0.8, top-p 0.95), a tiny Qwen2 model built here: time ratio
   ours/baseline, target <= 1.1 (our seeded sampler and bookkeeping must cost little).
   The machine is shared (2 cores, other jobs): rounds run ours and the baseline back to back in
   alternating order (ABBA), torch uses one thread, and the ratio is the median of the per-round
   ratios of process CPU time (with one thread, the work done; wall time on a shared box also
   measures the neighbours). Wall-time ratios are printed beside it.
2. `openai` backend against the stub server (tests/openai_stub.py) in its own process, answering
   at once, one sample per request: requests/s, target >= 500 (key `requests_per_s`).

Prints one JSON line last: {"metric", "ours", "baseline", "ratio", "better", "target", ...}.
Usage: python bench/generate.py [--prompts 32] [--new-tokens 48] [--rounds 6] [--requests 4000]
"""

from __future__ import annotations

import sys

# bench/ holds scripts named like stdlib modules (select.py): keep the script folder off the path
sys.path[:] = [p for p in sys.path if p.rstrip("/") != __file__.rsplit("/", 1)[0]]

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DED_PROGRESS", "0")


def transformers_part(n_prompts: int, new_tokens: int, batch: int, rounds: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ded.backends import GenRequest, Sampling, get_backend
    from ded.params import ModelSpec
    from ded.tiny import build_tiny_model

    path = build_tiny_model(Path(tempfile.gettempdir()) / "ded-bench-generate-tiny", hidden_size=128,
                            num_layers=4, num_heads=4, vocab_size=1024)
    msgs = [[{"role": "user", "content": f"Problem {i}: compute {i} * {i + 3} and explain. " * (1 + i % 4)}]
            for i in range(n_prompts)]
    reqs = [GenRequest(key=str(i), messages=m, sampling=Sampling(0.8, 0.95, new_tokens, i)) for i, m in enumerate(msgs)]
    backend = get_backend(ModelSpec(name="tiny", model=str(path), options={"batch_size": batch}))
    backend.load()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in msgs]
    # the baseline batches the same prompts the same way (sorted by length, like ours)
    texts.sort(key=lambda t: -len(tok(t)["input_ids"]))

    def baseline() -> int:
        n = 0
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                out = model.generate(**enc, do_sample=True, temperature=0.8, top_p=0.95, top_k=0,
                                     max_new_tokens=new_tokens, pad_token_id=tok.pad_token_id)
            gen = out[:, enc["input_ids"].shape[1]:]
            n += int((gen != tok.pad_token_id).sum())
            tok.batch_decode(gen, skip_special_tokens=True)
        return n

    def ours() -> int:
        return sum(r.completion_tokens for r in backend.generate(reqs))

    def timed(fn) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        fn()
        return time.process_time() - c, time.perf_counter() - t

    ours(), baseline()  # warm-up (allocator, first-call paths)
    t_ours, t_base, tokens = [], [], ours()
    for i in range(rounds):
        if i % 2 == 0:
            t_ours.append(timed(ours))
            t_base.append(timed(baseline))
        else:
            t_base.append(timed(baseline))
            t_ours.append(timed(ours))
    ratios = [o[0] / b[0] for o, b in zip(t_ours, t_base)]
    wall = [o[1] / b[1] for o, b in zip(t_ours, t_base)]
    return {"ours_s": statistics.median(o[0] for o in t_ours), "baseline_s": statistics.median(b[0] for b in t_base),
            "ratio": statistics.median(ratios), "ratios": [round(r, 3) for r in ratios],
            "wall_ratio": statistics.median(wall), "wall_ratios": [round(r, 3) for r in wall],
            "tokens_per_run": tokens, "rounds": rounds}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openai_part(n_requests: int, concurrency: int) -> dict:
    from ded.backends import GenRequest, Sampling, get_backend
    from ded.params import ModelSpec

    port = _free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "openai_stub.py"), str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()  # "serving on ..."
        spec = ModelSpec(name="stub", backend="openai", model="stub", base_url=f"http://127.0.0.1:{port}/v1",
                         options={"concurrency": concurrency, "max_n": 1})
        reqs = [GenRequest(key=str(i), messages=[{"role": "user", "content": f"question {i}"}],
                           sampling=Sampling(0.6, 0.95, 256, i)) for i in range(n_requests)]
        list(get_backend(spec).generate(reqs[:200]))  # warm-up: connections, imports
        t = time.perf_counter()
        res = list(get_backend(spec).generate(reqs))
        secs = time.perf_counter() - t
        assert len(res) == n_requests and all(r.ok for r in res), "stub answered with errors"
    finally:
        server.terminate()
        server.wait()
    return {"requests": n_requests, "seconds": secs, "requests_per_s": n_requests / secs, "concurrency": concurrency}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    tf = transformers_part(a.prompts, a.new_tokens, a.batch, a.rounds)
    print(f"transformers: ours {tf['ours_s']:.2f}s, plain generate {tf['baseline_s']:.2f}s CPU time "
          f"({a.prompts} prompts x {a.new_tokens} new tokens, batch {a.batch}, medians of {a.rounds} rounds; "
          f"per-round CPU ratios {tf['ratios']}, wall ratios {tf['wall_ratios']})", flush=True)
    oa = openai_part(a.requests, a.concurrency)
    print(f"openai: {oa['requests']} requests in {oa['seconds']:.2f}s = {oa['requests_per_s']:.0f} req/s "
          f"(concurrency {oa['concurrency']})", flush=True)
    print(json.dumps({
        "metric": "transformers backend / plain model.generate, process CPU time on CPU, same prompts (s)",
        "ours": round(tf["ours_s"], 3), "baseline": round(tf["baseline_s"], 3),
        "ratio": round(tf["ratio"], 3), "better": "lower", "target": 1.1, "round_ratios": tf["ratios"],
        "wall_ratio": round(tf["wall_ratio"], 3), "tokens_per_run": tf["tokens_per_run"],
        "requests_per_s": round(oa["requests_per_s"], 1), "requests_per_s_target": 500,
        "openai_requests": oa["requests"], "openai_concurrency": oa["concurrency"],
        "prompts": a.prompts, "new_tokens": a.new_tokens, "batch": a.batch, "cpu_count": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
