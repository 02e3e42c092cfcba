"""ded.backends.base: requests, fingerprints, grouping of samples, token apportioning."""

import pytest

from ded.backends import (
    GenRequest,
    Sampling,
    apportion,
    fingerprint,
    get_backend,
    group_samples,
)
from ded.params import ModelSpec

MSG = [{"role": "user", "content": "What is 2+2?"}]


def test_request_needs_exactly_one_of_messages_or_prompt():
    with pytest.raises(ValueError, match="exactly one of `messages`"):
        GenRequest(key="k")
    with pytest.raises(ValueError, match="exactly one of `messages`"):
        GenRequest(key="k", messages=MSG, prompt="x")
    assert GenRequest(key="k", prompt="x").is_chat is False


def test_fingerprint_changes_with_every_input_and_only_then():
    s = Sampling(0.6, 0.95, 100, 0)
    base = fingerprint("m|id", MSG, s, 0)
    assert base == fingerprint("m|id", [dict(MSG[0])], Sampling(0.6, 0.95, 100, 0), 0)
    others = [fingerprint("m|id2", MSG, s, 0), fingerprint("m|id", [{"role": "user", "content": "x"}], s, 0),
              fingerprint("m|id", MSG, Sampling(0.7, 0.95, 100, 0), 0),
              fingerprint("m|id", MSG, Sampling(0.6, 0.95, 101, 0), 0),
              fingerprint("m|id", MSG, Sampling(0.6, 0.95, 100, 1), 0), fingerprint("m|id", MSG, s, 1)]
    assert len({base, *others}) == 7


def test_group_samples_by_prompt_and_sampling_in_sample_order():
    def req(p, i, t=0.6):
        return GenRequest(key=f"{p}{i}{t}", messages=[{"role": "user", "content": p}],
                          sampling=Sampling(t, 0.95, 10, 100 + i), sample_idx=i)

    reqs = [req("a", 2), req("b", 0), req("a", 0), req("a", 1), req("a", 3, t=1.0), req("a", 4)]
    groups = group_samples(reqs, max_n=2)
    assert [[r.key for r in g] for g in groups] == [["a00.6", "a10.6"], ["a20.6", "a40.6"], ["b00.6"], ["a31.0"]]
    assert [len(g) for g in group_samples(reqs, max_n=1)] == [1] * 6
    with pytest.raises(ValueError):
        group_samples(reqs, 0)


def test_apportion_sums_to_the_total_and_follows_length():
    parts = apportion(100, ["a" * 10, "a" * 30, "a" * 60])
    assert sum(parts) == 100 and parts[0] < parts[1] < parts[2]
    assert apportion(7, ["x"]) == [7]
    assert apportion(None, ["x", "y"]) == [None, None]


def test_get_backend_names_the_choices():
    spec = ModelSpec(name="m", model="x")
    object.__setattr__(spec, "backend", "tgi")  # bypass validation: a spec from elsewhere
    with pytest.raises(ValueError, match="choose one of transformers, openai, vllm"):
        get_backend(spec)
    assert get_backend(ModelSpec(name="m", model="x", backend="openai")).name == "openai"


def test_reopen_think_restores_a_template_opened_block():
    from ded.backends.base import reopen_think
    from ded.text import split_reasoning

    prompt = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n"
    cut = reopen_think(prompt, "let me see, 2+2 is")  # cut off by max_tokens
    assert cut == "<think>\nlet me see, 2+2 is" and split_reasoning(cut)[2] is False
    assert reopen_think(prompt, "<think>x</think>4") == "<think>x</think>4"
    assert reopen_think("<|im_start|>assistant\n", "4") == "4"
