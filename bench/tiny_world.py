"""The next demo world's probe (issue 13): labelled-operand running sums, a base pretrained on raw chains, then SFT.

    python bench/tiny_world.py --pre 2000 --copy 0 --out /tmp/tw     # the measured run below (about 4 CPU minutes)

World: "Start at 14 and add, in turn, a5 b9 c2 . What is the total?"; the trace "14 + a5 = 19 / 19 + b9 = 28 /
28 + c2 = 30", numbers 0..99 one token each (added tokens), chain length 1..5 = difficulty. The base is pretrained
on raw chains in that notation with another header ("from 14 add a5 b9 c2 ." ... "result 30"): what a base knows
before distillation; SFT then teaches the chat turn, the problem's wording and the boxed answer. Prints one JSON line.

Measured (2 shared cores, one torch thread), session 4:
- why the chain world of bench/tiny_learn.py stalls: a sum mod 10 has no first-order signal (for a fixed operand
  the result is uniform), so a 2-layer width-64 model learns "s+v=(s+v)%10" not at all in 3,000 steps (accuracy
  0.10 = chance, at lr 1e-3, 3e-3, 1e-2, with and without weight decay); plain sums with single-token numbers
  (s in 0..45, v in 0..9) reach 0.90 in 600 steps (46 s);
- pretraining on raw chains only (no copy task): raw-chain exact answer 0.04 at 500 steps, 0.52 at 1,000, 1.0 at
  1,500 and 2,000 (249 s): the operand look-up by label (an induction head) and the sums both form;
  with 30% copy tasks mixed in: 0.38 at 1,500, 0.98 at 2,000;
- SFT of that base on 200 chat rows, 3 epochs (75 steps, lr 1e-3, batch 8): loss 1.5, held-out avg 0.00: the
  student writes correct chains but not the chat turn's opening ("<think>") nor the boxed answer; 75 steps at
  1e-3 are too few to learn the format; 250 steps at 3e-3: loss 0.32, avg 0.02; 500 steps at 1e-3: loss 0.21,
  avg 0.04: the chat turn and the boxed answer are learned, the chains look right, but the operands are not read
  from the chat problem (the pretrained look-up does not carry over from the "from .. add" header to the chat
  prompt) and the chain length and boxed line are guessed. Target 0.40 not reached. Next: pretrain on raw chains
  under several headers (so the look-up is header-independent), or put the chat wording in the pretraining mix.
"""
import argparse
import json
import random
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from ded.tiny import CHAT_TEMPLATE, train_tokenizer

SUFFIX = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."
LABELS = "abcdefgh"
ap = argparse.ArgumentParser()
ap.add_argument("--pre", type=int, default=800)
ap.add_argument("--copy", type=float, default=0.0)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--kv", type=int, default=2)
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--lr", type=float, default=3e-3)
ap.add_argument("--maxlen", type=int, default=5)
ap.add_argument("--rows", type=int, default=200)
ap.add_argument("--epochs", type=float, default=3)
ap.add_argument("--sftlr", type=float, default=1e-3)
ap.add_argument("--smax", type=int, default=50)
ap.add_argument("--out", default=None, help="work directory (default: a temporary one)")
args = ap.parse_args()
torch.set_num_threads(1)
import tempfile

out = Path(args.out or tempfile.mkdtemp(prefix="tiny_world_")); out.mkdir(parents=True, exist_ok=True)
def trace(start, ops):
    lines, s = [], start
    for i, t in enumerate(ops):
        r = s + t
        lines.append(f"{s} + {LABELS[i]}{t} = {r}")
        s = r
    return "\n".join(lines), s
def tape(ops): return " ".join(f"{LABELS[i]}{t}" for i, t in enumerate(ops))
def item(rng, n):
    return rng.randint(0, args.smax), [rng.randint(0, 9) for _ in range(n)]
def problem(start, ops): return f"Start at {start} and add, in turn, {tape(ops)} . What is the total?"
brng = random.Random(1)
bench = [(n,) + item(brng, n) for n in range(1, args.maxlen + 1) for _ in range(10)]
bset = {problem(s, o) for _, s, o in bench}
trng = random.Random(0); train_items = []
while len(train_items) < args.rows:
    n = trng.randint(1, args.maxlen); s, o = item(trng, n)
    if problem(s, o) not in bset: train_items.append((n, s, o))
texts = [problem(s, o) + SUFFIX + "\n" + trace(s, o)[0] + " The answer is \\boxed{}" for _, s, o in train_items]
tok = train_tokenizer(texts, vocab_size=512)
tok.chat_template = CHAT_TEMPLATE
from tokenizers import AddedToken

tok.add_tokens([AddedToken(str(i), normalized=False, special=False) for i in range(100)])
print("tokens", tok.tokenize("3 + a5 = 8\n8 + b9 = 7"), flush=True)
vocab = len(tok)
config = Qwen2Config(vocab_size=vocab, hidden_size=args.width, intermediate_size=args.width*4, num_hidden_layers=args.layers,
    num_attention_heads=args.heads, num_key_value_heads=args.kv, max_position_embeddings=2048, tie_word_embeddings=True,
    bos_token_id=None, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=0)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(config)
rng = random.Random(0)
def raw():
    n = rng.randint(1, 5); s, o = item(rng, n)
    return f"from {s} add {tape(o)} .\n" + trace(s, o)[0] + f"\nresult {trace(s, o)[1]}"
L = 128
def batch():
    rows, labels = [], []
    for _ in range(32):
        if rng.random() < args.copy:
            n, pre, gap = rng.randint(4, 20), rng.randint(0, 12), rng.randint(0, 8)
            span = [rng.randrange(4, vocab) for _ in range(n)]
            fill = [rng.randrange(4, vocab) for _ in range(pre + gap)]
            ids = fill[:pre] + span + [1] + fill[pre:] + [2] + span
            lab = [-100] * (len(ids) - n) + span
        else:
            ids = []
            while len(ids) < L:
                ids += tok(raw() + "\n\n")["input_ids"]
            ids = ids[:L]; lab = list(ids)
        pad = L - len(ids)
        rows.append(ids + [0]*pad); labels.append(lab + [-100]*pad)
    return torch.tensor(rows), torch.tensor(labels)
def gen(model, prompts, n=120):
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    with torch.no_grad():
        g = model.generate(**enc, max_new_tokens=n, do_sample=True, temperature=0.6, top_p=0.95, pad_token_id=0)
    return tok.batch_decode(g[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
t0 = time.time()
opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
model.train()
for step in range(args.pre):
    for g in opt.param_groups: g["lr"] = args.lr * min(1, (step+1)/50)
    ids, lab = batch()
    loss = model(input_ids=ids, labels=lab).loss
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 100 == 0: print("pre", step, round(loss.item(), 3), round(time.time()-t0), flush=True)
    if step % 500 == 499:
        model.eval(); o2 = gen(model, [f"from {s} add {tape(o)} .\n" for _, s, o in bench]); model.train()
        print("  raw acc", sum(bool(re.search(r"result (\d+)", x)) and int(re.search(r"result (\d+)", x).group(1)) == trace(s, o)[1] for x, (_, s, o) in zip(o2, bench))/len(bench), repr(o2[25][:80]), flush=True)
pre_s = time.time() - t0
model.eval()
outs = gen(model, [f"from {s} add {tape(o)} .\n" for _, s, o in bench])
raw_ok = [bool(re.search(r"result (\d+)", x)) and int(re.search(r"result (\d+)", x).group(1)) == trace(s, o)[1] for x, (_, s, o) in zip(outs, bench)]
print("raw acc", sum(raw_ok)/len(bench), repr(outs[25][:100]), flush=True)
model.save_pretrained(out / "base"); tok.save_pretrained(out / "base")
from ded.params import SftParams
from ded.training.run import train

rows = [{"messages": [{"role": "user", "content": problem(s, o) + SUFFIX},
         {"role": "assistant", "content": f"<think>\n{trace(s, o)[0]}\n</think>\n\nThe answer is \\boxed{{{trace(s, o)[1]}}}"}]} for _, s, o in train_items]
(out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
def evaluate(path):
    m = AutoModelForCausalLM.from_pretrained(path).eval()
    prompts = [tok.apply_chat_template([{"role": "user", "content": problem(s, o) + SUFFIX}], tokenize=False, add_generation_prompt=True) for _, s, o in bench]
    outs = gen(m, prompts)
    by = {}
    for (n, s, o), x in zip(bench, outs):
        got = re.findall(r"\\boxed\{(\d+)\}", x)
        by.setdefault(n, []).append(bool(got) and int(got[-1]) == trace(s, o)[1])
    return {k: sum(v)/len(v) for k, v in by.items()}, sum(sum(v) for v in by.values())/len(bench), outs[25]
print("base eval", evaluate(out / "base")[:2], flush=True)
sft = SftParams(corpus=str(out / "train.jsonl"), output_dir=str(out / "student"), checkpoint_dir=str(out / "ckpt"),
                metrics_dir=str(out / "metrics"), max_length=256, learning_rate=args.sftlr, epochs=args.epochs,
                per_device_batch_size=8, gradient_accumulation_steps=1, packing=False, seed=0,
                warmup_ratio=0.05, logging_steps=10, save_steps=100000)
shutil.rmtree(out / "ckpt", ignore_errors=True)
t0 = time.time(); m = train(sft, str(out / "base"), desc="sft"); sft_s = time.time() - t0
by, avg, ex = evaluate(out / "student")
print(json.dumps({"pre": args.pre, "pre_s": round(pre_s), "raw": sum(raw_ok)/len(bench), "sft_steps": m["steps"], "sft_s": round(sft_s), "loss": m["final_loss"], "by": by, "avg": avg, "ex": ex[:150]}))
