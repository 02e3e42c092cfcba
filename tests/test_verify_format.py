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


def test_counting_a_text_longer_than_the_model_context_does_not_warn(tiny_model_dir, caplog):
    """A token count is not a model input: a 16k-token trajectory under a 2,048-token tokenizer must not
    log transformers' "Token indices sequence length is longer than the specified maximum" warning."""
    import logging

    caplog.set_level(logging.WARNING)
    c = TokenCounter(str(tiny_model_dir))
    limit = c._tok.model_max_length
    text = "<think>" + "the sum of 7 and 8 is 15; " * limit + "</think>done"
    n = c.count(text)
    assert n > limit
    assert n == len(c._tok.encode(text, add_special_tokens=False, verbose=False))
    assert "Token indices sequence length" not in caplog.text
