"""ded.tiny: an offline tiny Qwen2 model + ChatML tokenizer for tests."""

import hashlib

import pytest

from ded.tiny import (
    IM_END,
    PAD,
    THINK_CLOSE,
    THINK_OPEN,
    build_tiny_model,
    train_tokenizer,
)

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+3?"},
    {"role": "assistant", "content": "<think>2 plus 3 is 5.</think>The answer is \\boxed{5}."},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), texts=["A tiny corpus of problems."])


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_loads_offline_with_auto_classes(tiny, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tok)
    assert tok.eos_token == IM_END and tok.pad_token == PAD
    assert tok.padding_side == "left"
    ids = tok("hello world", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], len(tok))


def test_chat_template_is_chatml_with_generation_prompt(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    text = tok.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are terse.<|im_end|>\n"
                    "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n")


def test_assistant_mask_covers_exactly_the_answer_and_its_eos(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    out = tok.apply_chat_template(MESSAGES, tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(masked) == MESSAGES[2]["content"] + IM_END
    assert out["assistant_masks"][-1] == 0  # the trailing "\n" is not trained on


def test_think_tags_survive_skip_special_tokens_and_text_round_trips(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    s = "Héllo 😀\n\tdef f(x): return x**2 <think>ok</think> \\boxed{42}"
    ids = tok.encode(s)
    assert tok.decode(ids) == s
    think_ids = tok.convert_tokens_to_ids([THINK_OPEN, THINK_CLOSE])
    assert all(i in ids for i in think_ids)  # one token each, not split into bytes
    decoded = tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True)
    assert decoded == s  # eos dropped, think tags kept


def test_same_arguments_same_bytes_other_seed_other_weights(tiny, tmp_path):
    again = build_tiny_model(tmp_path / "a", texts=["A tiny corpus of problems."])
    for name in ["tokenizer.json", "model.safetensors", "config.json"]:
        assert _sha(again / name) == _sha(tiny / name), name
    other = build_tiny_model(tmp_path / "b", texts=["A tiny corpus of problems."], seed=1)
    assert _sha(other / "tokenizer.json") == _sha(tiny / "tokenizer.json")
    assert _sha(other / "model.safetensors") != _sha(tiny / "model.safetensors")


def test_rebuild_is_skipped_when_arguments_match(tiny):
    before = (tiny / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny, texts=["A tiny corpus of problems."]) == tiny
    assert (tiny / "model.safetensors").stat().st_mtime_ns == before


def test_bad_arguments_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=100 is too small"):
        train_tokenizer([], vocab_size=100)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        build_tiny_model(tmp_path, hidden_size=30, num_heads=4)


def test_digits_are_single_tokens(tiny):
    """As in Qwen2's tokenizer: a number is spelled digit by digit (no merged "12" or "345" tokens), so its
    value is visible to a model digit by digit, whatever merges the training text would suggest."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    pieces = [t.lstrip("\u0120") for t in tok.tokenize("What is 4738 + 2915? 13, carry 1")]
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("4738") + list("2915") + list("13") + ["1"]
    merged = train_tokenizer(["1234 1234 1234 5678 5678 12 12 12"] * 50, vocab_size=300)
    assert all(len(t.lstrip("\u0120")) == 1 for t in merged.tokenize("1234 5678") if t.strip("\u0120"))


def test_pretraining_is_deterministic_and_recorded(tmp_path):
    """pretrain_steps > 0: copy spans, then one-digit sums (ded.tiny.pretrain); the same arguments give the
    same weights, the marker records the losses, and the loss falls from uniform (log 384 = 5.95)."""
    import json

    a = build_tiny_model(tmp_path / "a", texts=["1 + 2 = 3"], pretrain_steps=30)
    b = build_tiny_model(tmp_path / "b", texts=["1 + 2 = 3"], pretrain_steps=30)
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
    plain = build_tiny_model(tmp_path / "c", texts=["1 + 2 = 3"])
    assert _sha(plain / "model.safetensors") != _sha(a / "model.safetensors")
    spec = json.loads((a / "tiny.json").read_text())
    assert spec["pretrain_steps"] == 30 and spec["pretrain_losses"][0] > spec["pretrain_losses"][-1]
    assert build_tiny_model(a, texts=["1 + 2 = 3"], pretrain_steps=30) == a  # cached: the losses do not count
