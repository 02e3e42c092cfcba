"""The demo's student base: a tiny Qwen2 pretrained on raw running-sum text, committed under `STUDENT_BASE`.

A real distillation starts from a pretrained base (Qwen2.5-32B has read a great deal of arithmetic) and SFT
teaches it to reason in the chat format; a randomly initialised model learns nothing from ~200 rows in a CPU
minute (docs/pipeline.md, bench/tiny_world.py). So the demo's student is pretrained first, on what a base
model would have read about running sums, and nothing else:

- raw documents "<header>\\n[<filler>]\\n14 + a5 = 19\\n19 + b9 = 28\\n28 + c2 = 30\\nresult 30", the header being
  the demo's problem wording or one of two others (so the operand look-up does not hang on one wording), the
  chain in the base notation `ded.demo.chain_lines` (the concise teacher's notation: Fact 1 of ded/demo.py);
- its "instruction tuning": `CHAT_SHARE` of the documents are chat transcripts (the demo's user turn, ded.prompts,
  and the student's own answer: the chain in `<think>`, the boxed total) of **easy-band problems only**
  (difficulty <= `demo.STUDENT_SOLVES`, one operand). So the base already answers the easy band in the chat
  turn, as the student rollouts in data/demo/student.jsonl say (Fact 3 of ded/demo.py: what compression
  removes is what this model really solves; tests/test_demo_student.py measures it), and it has never answered
  a longer chain in the chat turn: on the demo benchmark (difficulty 2-5) it writes one line and stops, ~0.
  What SFT must teach is to carry the chain to the end of the tape inside the chat turn; the verbose teacher's
  prose is new to it. (Chat transcripts that only restate the problem, tried as 30% of the documents in an
  earlier world, made it worse: the student first had to unlearn the restating.)
- no benchmark problem (the demo benchmark's problems are left out of the pretraining draws).

The tokenizer is ded.tiny's byte-level BPE trained on the demo's own text, plus one token per number 0..99
(so a sum is one learned fact). Deterministic: one torch thread, seeded draws; `tiny.json` records the build's
spec (`spec()`), which tests compare with the code's so a change of the world flags the committed base stale.

    python -m ded.demo_student [OUT_DIR]     # rebuild data/demo-student: 2,000 steps, about 5 CPU minutes
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from ded import demo
from ded.progress import progress
from ded.prompts import render_assistant, render_messages
from ded.tiny import IM_END, PAD, train_tokenizer

STEPS = 3000
CHAT_SHARE = 0.25  # documents that are chat transcripts of an easy-band problem (module docstring)
WIDTH, LAYERS, HEADS, KV_HEADS = 64, 2, 4, 2
VOCAB_BPE = 400  # BPE merges on the demo text; the 100 number tokens come on top
BATCH, LENGTH, LR, WARMUP = 32, 128, 3e-3, 50
DECAY_FROM = 0.85  # the last 15% of the steps at a tenth of the rate
SEED = 0
_HEADERS = [demo.math_problem,
            lambda s, ops: f"from {s} add {demo.operand_tape(ops)} .",
            lambda s, ops: f"Begin with {s}; then add {demo.operand_tape(ops)} ."]
_FILLERS = ["Please reason step by step, and put your final answer within \\boxed{}.", "Solution:",
            "Let us compute.", "", "Work:", "Answer below."]


def pretraining_doc(rng: random.Random, exclude: set[str], chat) -> str:
    """One document (module docstring): a raw running sum, or with probability CHAT_SHARE the chat transcript
    of an easy-band problem (`chat(messages)` renders it with the student's chat template); never a problem
    in `exclude`."""
    is_chat = rng.random() < CHAT_SHARE
    while True:
        d = rng.randint(1, demo.STUDENT_SOLVES if is_chat else 5)
        start, ops = rng.randint(0, demo.START_MAX), [rng.randint(0, 9) for _ in range(d)]
        if demo.math_problem(start, ops) not in exclude:
            break
    steps, total = demo.chain(start, ops)
    if is_chat:
        question = {"problem": demo.math_problem(start, ops), "domain": "math"}
        answer = render_assistant("\n".join(demo.chain_lines(steps)), f"The answer is \\boxed{{{total}}}")
        return chat(render_messages(question) + [{"role": "assistant", "content": answer}])
    head, fill = rng.choice(_HEADERS)(start, ops), rng.choice(_FILLERS)
    return "\n".join([head] + ([fill] if fill else []) + demo.chain_lines(steps) + [f"result {total}"])


def _chat(tok):
    return lambda messages: tok.apply_chat_template(messages, tokenize=False)


def _benchmark_problems() -> set[str]:
    return {b["problem"] for size in demo.SIZES for b in demo.demo_items(0, size)[1]}


def tokenizer_texts() -> list[str]:
    """What the BPE merges are trained on: the demo's problems, the teachers' and student's wordings, code."""
    train, bench = demo.demo_items(0, "ci")
    texts = [i["problem"] for i in train + bench] + [i.get("code", "") for i in train if i["domain"] == "code"]
    for model, style in {**demo.TEACHERS, demo.STUDENT: demo.TeacherStyle((1,) * 5, "fixed", 0, 0.0)}.items():
        for k, item in enumerate(train):
            rng = random.Random(f"tokenizer/{model}/{k}")
            texts.append(demo._response(style, item, rng.random() < 0.8, rng, k % demo._CONSISTENT_VARIANTS)[0])
    rng = random.Random("tokenizer/pretraining")
    return texts + [pretraining_doc(rng, set(), _plain_chat) for _ in range(200)]


def _plain_chat(messages: list[dict]) -> str:
    """The tokenizer's training text for a chat document (the template's markers are special tokens anyway)."""
    return "\n".join(m["content"] for m in messages)


def spec() -> dict:
    """The build's identity: architecture, schedule, and a hash of the tokenizer texts and the first documents."""
    rng = random.Random(f"ded.demo_student/{SEED}")
    exclude, chat = _benchmark_problems(), _chat(build_tokenizer())
    sample = [pretraining_doc(rng, exclude, chat) for _ in range(256)]
    digest = hashlib.sha256("\x00".join(tokenizer_texts() + sample).encode()).hexdigest()[:16]
    return {"format": "demo-student/1", "steps": STEPS, "width": WIDTH, "layers": LAYERS, "heads": HEADS,
            "kv_heads": KV_HEADS, "chat_share": CHAT_SHARE, "vocab_bpe": VOCAB_BPE, "numbers": 100, "batch": BATCH, "length": LENGTH, "lr": LR,
            "warmup": WARMUP, "decay_from": DECAY_FROM, "seed": SEED, "texts_sha256": digest}


def build_tokenizer():
    from tokenizers import AddedToken


    tok = train_tokenizer(tokenizer_texts(), vocab_size=VOCAB_BPE)
    # one token per number 0..99, matched before the BPE (longest first): "19" is one token, "a5" is "a" "5"
    tok.add_tokens([AddedToken(str(i), normalized=False, special=False) for i in range(100)])
    return tok


def build(out_dir=demo.STUDENT_BASE, steps: int = STEPS) -> Path:
    """Pretrain the demo student (module docstring) and save model + tokenizer + tiny.json to `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, Qwen2Config


    out = Path(out_dir)
    tok = build_tokenizer()
    pad, eos = tok.convert_tokens_to_ids(PAD), tok.convert_tokens_to_ids(IM_END)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=4 * WIDTH, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    rng = random.Random(f"ded.demo_student/{SEED}")
    exclude, chat = _benchmark_problems(), _chat(tok)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float sums on any machine: the build is reproducible
    losses = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = AutoModelForCausalLM.from_config(config)
            opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
            model.train()
            with progress(total=steps, desc="pretrain demo student", unit="steps") as bar:
                for step in range(steps):
                    for g in opt.param_groups:
                        g["lr"] = LR * min(1.0, (step + 1) / WARMUP) * (0.1 if step >= DECAY_FROM * steps else 1.0)
                    rows = []
                    for _ in range(BATCH):  # documents packed end to end, cut at LENGTH
                        ids: list[int] = []
                        while len(ids) < LENGTH:
                            ids += tok(pretraining_doc(rng, exclude, chat) + "\n\n")["input_ids"]
                        rows.append(ids[:LENGTH])
                    batch = torch.tensor(rows)
                    loss = model(input_ids=batch, labels=batch).loss
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if step % 100 == 0 or step == steps - 1:
                        losses.append(round(float(loss.detach()), 4))
                    bar.advance(1)
        model.eval()
    finally:
        torch.set_num_threads(threads)
    model.generation_config = GenerationConfig(eos_token_id=[eos, pad], pad_token_id=pad, bos_token_id=None)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "tiny.json").write_text(json.dumps({**spec(), "steps": steps, "pretrain_losses": losses}, indent=1) + "\n")
    return out


def is_current(path=demo.STUDENT_BASE) -> bool:
    """True when `path` holds a base built by this code (its tiny.json spec equals `spec()`)."""
    marker = Path(path) / "tiny.json"
    if not marker.exists():
        return False
    have = {k: v for k, v in json.loads(marker.read_text()).items() if k != "pretrain_losses"}
    return have == spec()


if __name__ == "__main__":
    import sys

    print(build(sys.argv[1] if len(sys.argv) > 1 else demo.STUDENT_BASE))
