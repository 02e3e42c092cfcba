"""Format checks (ded.verifiers.format)."""

from __future__ import annotations

import pytest

from ded.verifiers.format import TokenCounter, check_format, think_paired


@pytest.mark.parametrize("text,ok", [
    ("<think>a</think>b", True),
    ("<|begin_of_thought|>a<|end_of_thought|><|begin_of_solution|>b<|end_of_solution|>", True),
    ("no markers", False),
    ("<think>a", False),
    ("a</think>b", False),
    ("</think>a<think>b", False),
    ("<think>a</think><think>b</think>", False),
    ("<think>a</think> <|end_of_thought|>", False),
])
def test_think_pairing_is_strict(text, ok):
    assert think_paired(text) is ok


def test_implicit_open_accepts_a_lone_close():
    assert think_paired("reasoning</think>final", implicit_open=True)
    assert not think_paired("reasoning</think>final")


def test_finished_and_format_ok():
    f = check_format("<think>a</think>b", finish_reason="stop", n_tokens=10, max_tokens=100)
    assert f == {"format_ok": True, "think_paired": True, "finished": True, "n_tokens": 10, "n_tokens_exact": True}
    assert not check_format("<think>a</think>b", finish_reason="length")["finished"]
    assert not check_format("<think>a</think>b", n_tokens=100, max_tokens=100)["finished"]
    assert not check_format("<think>a and on", finish_reason=None)["finished"]


def test_token_count_approximation_and_missing_tokenizer():
    f = check_format("x" * 41)
    assert f["n_tokens"] == 11 and f["n_tokens_exact"] is False
    with pytest.raises(ValueError, match="verify.tokenizer"):
        TokenCounter("no-such-org/no-such-tokenizer-ded")


def test_named_tokenizer_counts_exactly(tiny_model_dir):
    c = TokenCounter(str(tiny_model_dir))
    f = check_format("<think>hello</think>world", counter=c)
    assert f["n_tokens_exact"] and f["n_tokens"] == c.count("<think>hello</think>world") > 0
