"""ded.backends.vllm through its public interface, with a stand-in `vllm` module (vLLM is not installed).

What this exercises: request grouping into SamplingParams(n=...), chat rendering, the mapping of
RequestOutput/CompletionOutput fields back to results, chunking. What it cannot: the real engine.
"""

import sys
import types
from types import SimpleNamespace

import pytest

from ded.backends import GenRequest, Sampling, get_backend
from ded.errors import MissingDependency
from ded.params import ModelSpec


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


def fake_vllm(calls):
    mod = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        def __init__(self, model, **options):
            calls.append(("init", model, options))

        def get_tokenizer(self):
            return FakeTokenizer()

        def generate(self, prompts, params, use_tqdm=True):
            calls.append(("generate", list(prompts), [p.kw for p in params]))
            outs = []
            for prompt, p in zip(prompts, params):
                n = p.kw["n"]
                reasons = ["abort" if "ABORT" in prompt and i == 1 else ("length" if i == 2 else "stop") for i in range(n)]
                # vLLM lists outputs by index; shuffle to check we sort by it
                comp = [SimpleNamespace(index=i, text=f"{prompt}|{i}|{p.kw['seed']}", token_ids=list(range(i + 1)),
                                        finish_reason=reasons[i]) for i in reversed(range(n))]
                outs.append(SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=comp))
            return outs

    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    return mod


def requests(prompts, k, seed=10):
    return [GenRequest(key=f"{p}#{i}", messages=[{"role": "user", "content": p}],
                       sampling=Sampling(0.7, 0.9, 64, seed + i), sample_idx=i) for p in prompts for i in range(k)]


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    backend = get_backend(ModelSpec(name="big", backend="vllm", model="Qwen/QwQ-32B"))
    with pytest.raises(MissingDependency, match=r"pip install 'ded\[gpu\]'"):
        list(backend.generate(requests(["p"], 1)))


def test_samples_of_a_prompt_become_one_engine_request_with_n(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(calls))
    spec = ModelSpec(name="big", backend="vllm", model="/models/qwq",
                     options={"tensor_parallel_size": 2, "max_n": 4, "chunk": 1})
    res = {r.key: r for r in get_backend(spec).generate(requests(["p1", "p2"], 3))}
    assert calls[0] == ("init", "/models/qwq", {"tensor_parallel_size": 2})  # own options not passed on
    gens = [c for c in calls if c[0] == "generate"]
    assert len(gens) == 2  # chunk=1: one engine call per prompt group
    assert gens[0][1] == ["<user>p1<assistant>"]
    assert gens[0][2] == [{"n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "seed": 10}]
    assert set(res) == {f"p{q}#{i}" for q in (1, 2) for i in range(3)}
    r = res["p2#1"]
    assert r.text == "<user>p2<assistant>|1|10" and r.sample_idx == 1
    assert (r.prompt_tokens, r.completion_tokens, r.finish_reason) == (3, 2, "stop")
    assert res["p2#2"].finish_reason == "length"


def test_aborted_outputs_are_errors_and_raw_prompts_pass_through(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(calls))
    backend = get_backend(ModelSpec(name="big", backend="vllm", model="m"))
    reqs = [GenRequest(key=f"k{i}", prompt="RAW ABORT", sampling=Sampling(seed=i), sample_idx=i) for i in range(3)]
    res = {r.key: r for r in backend.generate(reqs)}
    assert calls[-1][1] == ["RAW ABORT"]
    assert res["k1"].finish_reason == "error" and "abort" in res["k1"].error
    assert res["k0"].ok and res["k2"].finish_reason == "length"


def test_a_template_opened_think_is_put_back():
    from ded.backends.vllm import VLLMBackend

    out = SimpleNamespace(prompt_token_ids=[1], outputs=[SimpleNamespace(index=0, text="thinking...", token_ids=[5],
                                                                        finish_reason="length")])
    (r,) = VLLMBackend.results(requests(["p"], 1), out, prompt_text="<assistant><think>\n")
    assert r.text == "<think>\nthinking..." and r.finish_reason == "length"
