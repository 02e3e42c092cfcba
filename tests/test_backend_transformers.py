"""ded.backends.transformers with a tiny Qwen2 model built from a config, on CPU."""

import pytest

from ded.backends import GenRequest, Sampling, get_backend
from ded.backends.sampling import seeded_uniform
from ded.params import ModelSpec

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module", params=["generate", "fast"])
def backend(tiny_model_dir, request):
    b = get_backend(ModelSpec(name="tiny", model=str(tiny_model_dir), options={"batch_size": 4, "engine": request.param}))
    b.load()
    assert b.engine == request.param
    yield b
    b.close()


def reqs(questions=3, k=3, temperature=0.8, max_tokens=12, seed=0):
    return [GenRequest(key=f"q{q}#{i}", messages=[{"role": "user", "content": f"What is {q} + {q}?" * (q + 1)}],
                       sampling=Sampling(temperature, 0.9, max_tokens, seed + i), sample_idx=i)
            for q in range(questions) for i in range(k)]


def texts(backend, requests):
    return {r.key: r for r in backend.generate(requests)}


def test_k_samples_per_question_distinct_and_identical_across_runs(backend):
    first = texts(backend, reqs())
    assert set(first) == {f"q{q}#{i}" for q in range(3) for i in range(3)}
    for q in range(3):
        samples = [first[f"q{q}#{i}"] for i in range(3)]
        assert [s.sample_idx for s in samples] == [0, 1, 2]
        assert len({s.text for s in samples}) == 3  # each sample has its own seed
    again = texts(backend, reqs())
    assert {k: r.text for k, r in again.items()} == {k: r.text for k, r in first.items()}
    other_seed = texts(backend, reqs(seed=100))
    assert all(other_seed[k].text != first[k].text for k in first)


def test_a_sample_does_not_depend_on_its_batch(backend):
    full = texts(backend, reqs())
    backend.batch_size = 1
    try:
        alone = texts(backend, reqs()[::-1])
    finally:
        backend.batch_size = 4
    assert {k: r.text for k, r in alone.items()} == {k: r.text for k, r in full.items()}


def test_counts_and_finish_reasons(backend):
    res = texts(backend, reqs(max_tokens=12))
    for r in res.values():
        assert r.prompt_tokens > 0
        if r.finish_reason == "length":
            assert r.completion_tokens == 12
        else:  # stopped at end of turn: the eos is counted, not shown
            assert r.finish_reason == "stop" and r.completion_tokens <= 12 and "<|im_end|>" not in r.text


def test_greedy_is_deterministic_and_ignores_the_seed(backend):
    a = texts(backend, reqs(temperature=0.0, k=2))
    assert a["q1#0"].text == a["q1#1"].text


def test_sampler_matches_plain_sampling_in_distribution():
    # the seeded uniforms are uniform: mean 1/2, variance 1/12, no step/seed correlation
    import statistics

    us = [seeded_uniform(seed, step) for seed in range(50) for step in range(40)]
    assert 0 < min(us) and max(us) < 1
    assert abs(statistics.mean(us) - 0.5) < 0.02 and abs(statistics.pvariance(us) - 1 / 12) < 0.005
    assert seeded_uniform(1, 0) != seeded_uniform(0, 1)


def test_raw_prompts_and_a_tokenizer_without_chat_template(backend, tiny_model_dir):
    (r,) = backend.generate([GenRequest(key="raw", prompt="2 + 2 =", sampling=Sampling(0.0, 1.0, 5, 0))])
    assert r.ok and r.completion_tokens <= 5
    template = backend.tokenizer.chat_template
    backend.tokenizer.chat_template = None
    try:
        with pytest.raises(Exception, match="no chat template"):
            list(backend.generate(reqs(1, 1)))
    finally:
        backend.tokenizer.chat_template = template


def test_max_tokens_beyond_the_context_is_clamped(tiny_model_dir, tmp_path):
    from ded.tiny import build_tiny_model

    small = build_tiny_model(tmp_path / "short", max_position=48)
    b = get_backend(ModelSpec(name="short", model=str(small)))
    res = list(b.generate(reqs(1, 1, temperature=0.0, max_tokens=500)))
    assert res[0].prompt_tokens + res[0].completion_tokens <= 48


def test_missing_model_names_the_setting(tmp_path):
    b = get_backend(ModelSpec(name="nope", model=str(tmp_path / "absent")))
    with pytest.raises(Exception, match="models\\[\\].model"):
        b.load()


def test_a_template_that_opens_think_gives_the_whole_assistant_turn(backend):
    from ded.text import split_reasoning

    template = backend.tokenizer.chat_template
    backend.tokenizer.chat_template = template.replace("'<|im_start|>assistant\\n' -}}{%- endif", "'<|im_start|>assistant\\n<think>\\n' -}}{%- endif")
    try:
        assert backend.render(reqs(1, 1)[0]).endswith("<think>\n")
        (r,) = backend.generate(reqs(1, 1, temperature=0.0, max_tokens=6))
    finally:
        backend.tokenizer.chat_template = template
    assert r.text.startswith("<think>\n")
    if r.finish_reason == "length" and "</think>" not in r.text:
        assert split_reasoning(r.text) == (r.text[len("<think>"):].strip(), "", False)
