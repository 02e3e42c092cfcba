"""Tiny offline models for tests, demos and CPU benches.

`build_tiny_model(out_dir)` trains a byte-level BPE tokenizer on local text, wraps it as a
`PreTrainedTokenizerFast` with ChatML special tokens and a chat template, builds a randomly
initialised Qwen2-architecture model from a config, and saves both to `out_dir`, so that
`AutoTokenizer.from_pretrained(out_dir)` and `AutoModelForCausalLM.from_pretrained(out_dir)`
work with no network (ARCHITECTURE.md: "Models in tests are tiny and built from a config with a
locally trained tokenizer").

The chat template is ChatML (the Qwen2.5 / QwQ format) and wraps assistant content in
`{% generation %}…{% endgeneration %}`, which is what `apply_chat_template(...,
return_assistant_tokens_mask=True)` and TRL's `assistant_only_loss=True` look for.

A build is cached: `out_dir/tiny.json` records the arguments and a hash of the texts, and a
second call with the same arguments returns at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
PAD = "<|endoftext|>"
# Order fixes the ids: specials get ids 0..3, before the 256 byte symbols.
SPECIAL_TOKENS = [PAD, IM_START, IM_END, "<unk>"]
# As in QwQ/Qwen3 tokenizers, the think tags are added tokens but *not* special: decoding with
# skip_special_tokens=True keeps them, so a generated response still carries its <think> block.
THINK_TOKENS = [THINK_OPEN, THINK_CLOSE]

# ChatML, as Qwen2.5 writes it, with the assistant turn (content and its closing <|im_end|>)
# marked for assistant-only loss. The "\n" after <|im_end|> stays outside the mark: the model
# never has to predict it, it stops at <|im_end|> (the eos).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# A small built-in corpus so the tokenizer learns some merges with no texts given: chat
# scaffolding, math and code vocabulary, the reasoning words recipes count (LIMO's rule score).
_BUILTIN_CORPUS = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>",
    "<|im_start|>user\nSolve the problem. Put the final answer in \\boxed{}.<|im_end|>",
    ("<think>Let me think step by step. First, we compute the sum. Wait, let me verify: "
     "2 + 3 = 5, so the answer is 5. Alternatively, check again. Therefore the result holds."
     "</think>The answer is \\boxed{5}."),
    "Find all real x such that x^2 - 5x + 6 = 0. The roots are x = 2 and x = 3.",
    "What is the remainder when 2^{10} is divided by 7? Since 2^3 = 8 = 1 mod 7, 2^{10} = 2.",
    "def solve(n):\n    total = 0\n    for i in range(n):\n        total += i * i\n    return total\n",
    "import sys\nn = int(sys.stdin.readline())\nprint(sum(range(n)))\n",
    "Hmm, but perhaps I made a mistake. Let me double-check the calculation again carefully.",
    "The probability is \\frac{1}{6} because there are 6 equally likely outcomes.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 100 1000 + - * / = ( ) [ ] { } < > ^ _ , . ; : ! ?",
]


def _spec(texts, vocab_size, hidden_size, num_layers, num_heads, max_position, seed, pretrain_steps=0) -> dict:
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    return {
        "format": 2,  # 2: digits split one per token
        "pretrain_steps": pretrain_steps,
        "texts_sha256": digest,
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "max_position": max_position,
        "seed": seed,
    }


def train_tokenizer(texts: list[str], vocab_size: int = 384, max_length: int = 2048):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts` (plus the built-in corpus)."""
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    minimum = 256 + len(SPECIAL_TOKENS) + len(THINK_TOKENS)
    if vocab_size < minimum:
        raise ValueError(f"vocab_size={vocab_size} is too small: byte-level BPE needs at least "
                         f"{minimum} (256 bytes + special and think tokens)")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # Every digit its own token, as Qwen2's tokenizer splits them: a number's value is then spelled digit by
    # digit, which is what lets a tiny student learn column arithmetic (merged "12"/"345" tokens would
    # make each sum a fact to memorise instead of a carry to compute).
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(THINK_TOKENS),
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts) + _BUILTIN_CORPUS, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token="<unk>",
        additional_special_tokens=[IM_START],
        model_max_length=max_length,
        padding_side="left",  # decoder-only generation pads on the left
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


PRETRAIN_BATCH = 32
PRETRAIN_LENGTH = 64
COPY_SHARE = 0.57  # of the pretraining steps: copying only (then copying and one-digit sums)


def _pretrain_batch(rng, vocab: int, tokenizer, sums: float) -> tuple[list[list[int]], list[list[int]]]:
    """One batch of the generic pretraining mixture: (input ids, labels), padded to PRETRAIN_LENGTH.

    A share 1 - `sums` of the rows are copy tasks: random tokens, a span, more random tokens, the span again (loss on
    the repeat): spans and gaps vary in length, so only an induction head (find the earlier copy,
    read what followed it) solves them, not a fixed offset. The others are lines of one-digit sums,
    "8 + 6 = 14" and "8 + 6 + 1 = 15" (loss on every token).
    """
    rows, labels = [], []
    for _ in range(PRETRAIN_BATCH):
        if rng.random() >= sums:
            n, pre, gap = rng.randint(4, 20), rng.randint(0, 12), rng.randint(0, 8)
            span = [rng.randrange(len(SPECIAL_TOKENS), vocab) for _ in range(n)]
            fill = [rng.randrange(len(SPECIAL_TOKENS), vocab) for _ in range(pre + gap)]
            ids = fill[:pre] + span + [1] + fill[pre:] + [2] + span
            lab = [-100] * (len(ids) - n) + span
        else:
            lines = []
            for _ in range(7):
                a, b, c = rng.randint(0, 9), rng.randint(0, 9), rng.choice([0, 0, 1])
                lines.append(f"{a} + {b}" + (f" + {c}" if c else "") + f" = {a + b + c}")
            ids = tokenizer("\n".join(lines))["input_ids"][:PRETRAIN_LENGTH]
            lab = list(ids)
        pad = PRETRAIN_LENGTH - len(ids)
        rows.append(ids + [0] * pad)
        labels.append(lab + [-100] * pad)
    return rows, labels


def pretrain(model, tokenizer, steps: int, seed: int = 0, lr: float = 3e-3) -> list[float]:
    """Pretrain `model` in place for `steps` AdamW steps on the generic mixture (`_pretrain_batch`).

    What any real language model can do before it is distilled on reasoning: copy what it has read
    (induction heads) and one-digit sums. A random 2-layer model needs ~600 steps to grow an
    induction head (before that it copies nothing from the prompt, and SFT on a small corpus cannot
    teach it in a CPU minute: measured in docs/pipeline.md). No task format, no chat turn, no
    multi-digit number: a base pretrained so scores 0 on the demo benchmarks. Deterministic for a
    seed: one thread, seeded data. The first `COPY_SHARE` of the steps copy only (the induction head forms
    faster alone: mixed from the start, 1,500 steps left it copying badly), the rest mix copies and sums
    half and half. Returns the loss every 100 steps.
    """
    import random

    import torch

    rng = random.Random(f"ded.tiny.pretrain/{seed}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float sums on any machine: the build is reproducible
    losses = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
            model.train()
            for step in range(steps):
                sums = 0.0 if step < COPY_SHARE * steps else 0.5
                ids, labels = _pretrain_batch(rng, model.config.vocab_size, tokenizer, sums)
                out = model(input_ids=torch.tensor(ids), labels=torch.tensor(labels))
                opt.zero_grad()
                out.loss.backward()
                opt.step()
                if step % 100 == 0 or step == steps - 1:
                    losses.append(round(float(out.loss.detach()), 4))
            model.eval()
    finally:
        torch.set_num_threads(threads)
    return losses


def build_tiny_model(
    out_dir,
    texts: list[str] | None = None,
    vocab_size: int = 384,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_position: int = 2048,
    seed: int = 0,
    pretrain_steps: int = 0,
) -> Path:
    """Build (or reuse) a tiny Qwen2 model + tokenizer in `out_dir` and return its path.

    Random weights, seeded: the same arguments give the same weights. `texts` (e.g. the problems
    of a test lake) shape the tokenizer's merges; the built-in corpus makes it work with none.
    `pretrain_steps` > 0 then pretrains it on copying and one-digit sums (`pretrain`): the demo's
    student, which must learn from a small corpus in a CPU minute.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, Qwen2Config

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} must be divisible by num_heads={num_heads}")
    out = Path(out_dir)
    texts = list(texts or [])
    spec = _spec(texts, vocab_size, hidden_size, num_layers, num_heads, max_position, seed, pretrain_steps)
    marker = out / "tiny.json"
    if marker.exists() and {k: v for k, v in json.loads(marker.read_text()).items() if k != "pretrain_losses"} == spec:
        return out
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = train_tokenizer(texts, vocab_size=vocab_size, max_length=max_position)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    # Two KV heads when possible: grouped-query attention like the real Qwen2 models, so code
    # paths that depend on num_key_value_heads != num_attention_heads are exercised.
    kv_heads = 2 if num_heads % 2 == 0 else num_heads
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 4,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=ids[IM_END],
        pad_token_id=ids[PAD],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    if pretrain_steps:
        spec["pretrain_losses"] = pretrain(model, tokenizer, pretrain_steps, seed)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids[IM_END], ids[PAD]],
        pad_token_id=ids[PAD],
        bos_token_id=None,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    marker.write_text(json.dumps(spec, indent=1))
    return out
