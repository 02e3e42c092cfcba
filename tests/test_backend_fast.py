"""The transformers backend's fast engine (ded.backends.fast_decode) against `model.generate`.

Tiny models of each supported family, built from configs with the locally trained tokenizer:
greedy and seeded samples must be token-for-token those of the generate engine (fp32 on CPU).
"""

import shutil

import pytest

from ded.backends import GenRequest, Sampling, get_backend
from ded.backends.sampling import seed_key, seeded_uniform, uniforms
from ded.params import ModelSpec

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def family_model(tiny_dir, tmp_path, family):
    """A tiny model of `family` sharing the tiny tokenizer."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        LlamaConfig,
        MistralConfig,
        Qwen3Config,
    )

    out = tmp_path / family
    out.mkdir()
    for f in tiny_dir.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("special_tokens_map.json", "chat_template.jinja"):
            shutil.copy(f, out / f.name)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).config
    common = dict(vocab_size=base.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  eos_token_id=base.eos_token_id, pad_token_id=base.pad_token_id, bos_token_id=None)
    cfg = {"llama": lambda: LlamaConfig(**common, rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0,
                                                                   "factor": 8.0, "low_freq_factor": 1.0,
                                                                   "high_freq_factor": 4.0,
                                                                   "original_max_position_embeddings": 128}),
           "qwen3": lambda: Qwen3Config(**common, head_dim=16),
           "mistral": lambda: MistralConfig(**common, sliding_window=8)}[family]()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
    return out


def requests():
    msgs = [[{"role": "user", "content": f"What is {q} + {q}? " * (1 + 2 * q)}] for q in range(4)]
    out = [GenRequest(key=f"g{q}", messages=m, sampling=Sampling(0.0, 1.0, 24, 0)) for q, m in enumerate(msgs)]
    out += [GenRequest(key=f"s{q}#{i}", messages=m, sampling=Sampling(0.9, 0.9, 24, 10 + i), sample_idx=i)
            for q, m in enumerate(msgs) for i in range(2)]
    out += [GenRequest(key=f"k{q}", messages=m, sampling=Sampling(0.7, 0.95, 24, q, top_k=20)) for q, m in enumerate(msgs)]
    return out


def run(path, engine, batch_size):
    b = get_backend(ModelSpec(name="m", model=str(path), options={"engine": engine, "batch_size": batch_size}))
    res = {r.key: (r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens) for r in b.generate(requests())}
    return b, res


@pytest.mark.parametrize("family", ["qwen2", "llama", "qwen3"])
def test_fast_engine_gives_the_generate_engines_tokens(family, tiny_model_dir, tmp_path):
    path = tiny_model_dir if family == "qwen2" else family_model(tiny_model_dir, tmp_path, family)
    b_gen, slow = run(path, "generate", 5)
    b_fast, fast = run(path, "fast", 3)  # other batch boundaries, other padding
    assert (b_gen.engine, b_fast.engine) == ("generate", "fast")
    assert fast == slow
    assert len({fast[f"s{q}#{i}"][0] for q in range(4) for i in range(2)}) == 8


def test_auto_picks_fast_when_supported_and_falls_back_for_sliding_window(tiny_model_dir, tmp_path):
    b = get_backend(ModelSpec(name="m", model=str(tiny_model_dir)))
    b.load()
    assert b.engine == "fast"
    mistral = family_model(tiny_model_dir, tmp_path, "mistral")
    b = get_backend(ModelSpec(name="m", model=str(mistral)))
    b.load()
    assert b.engine == "generate"
    with pytest.raises(Exception, match="sliding-window attention"):
        get_backend(ModelSpec(name="m", model=str(mistral), options={"engine": "fast"})).load()


def test_device_uniforms_are_the_python_ones_bit_for_bit():
    import torch

    seeds = [0, 1, 7, 2**40 + 5, -3, 2**63 - 1]
    keys = torch.tensor([seed_key(s) for s in seeds], dtype=torch.int64)
    for step in (0, 1, 2, 511, 16383):
        got = uniforms(keys, step)[:, 0].tolist()
        want = torch.tensor([seeded_uniform(s, step) for s in seeds], dtype=torch.float32).tolist()
        assert got == want
