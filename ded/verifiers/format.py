"""Format checks, stored as columns of every verdict (DED step 2: strictly paired `<think>`, not cut off).

- `think_paired`: exactly one opening and one closing reasoning marker of the same convention
  (`<think>`/`</think>` or `<|begin_of_thought|>`/`<|end_of_thought|>`), the open before the close,
  and no marker of the other convention. A response with no markers is not paired. With
  `implicit_open=True` a lone close counts (chat templates that put `<think>` in the prompt, as
  QwQ's and DeepSeek-R1's later templates do).
- `finished`: not cut by the length limit: `finish_reason != "length"`, and, when both are known,
  `n_tokens < max_tokens`; an unclosed reasoning block also means it was cut off.
- `format_ok = think_paired and finished`. The 16k-token length filter of the paper is a selection
  filter on `n_tokens`, not part of format_ok.

`n_tokens` is counted under a named tokenizer (`TokenCounter("Qwen/QwQ-32B")`, loaded with
`local_files_only`); without one it is an approximation, ceil(characters / 4): OpenAI's rule of
thumb for English text ("one token ≈ 4 characters", help.openai.com "What are tokens"). The
approximation is marked in the result (`n_tokens_exact=False`).
"""

from __future__ import annotations

import math

PAIRS = (("<think>", "</think>"), ("<|begin_of_thought|>", "<|end_of_thought|>"))
CHARS_PER_TOKEN = 4.0


class TokenCounter:
    """Counts tokens under a tokenizer (hub id or local path, offline), or approximates."""

    def __init__(self, tokenizer: str | None = None):
        self.name, self._tok = tokenizer, None
        if tokenizer:
            try:
                from transformers import AutoTokenizer

                self._tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
            except Exception as e:
                raise ValueError(f"cannot load tokenizer {tokenizer!r} offline ({type(e).__name__}); download it "
                                 f"first (`hf download {tokenizer}`) or set verify.tokenizer: null to approximate") from e

    @property
    def exact(self) -> bool:
        return self._tok is not None

    def count(self, text: str | None) -> int:
        text = text or ""
        if self._tok is not None:
            # A count, not a model input: verbose=False skips transformers' "sequence length is longer
            # than the specified maximum" warning, which a 16k-token trajectory trips under any tokenizer
            # whose model_max_length is shorter (the demo student's is 2,048).
            return len(self._tok(text, add_special_tokens=False, verbose=False)["input_ids"])
        return math.ceil(len(text) / CHARS_PER_TOKEN)


def think_paired(response: str | None, implicit_open: bool = False,
                 counts: list[tuple[int, int]] | None = None) -> bool:
    text = response or ""
    counts = counts if counts is not None else [(text.count(o), text.count(c)) for o, c in PAIRS]
    used = [i for i, (no, nc) in enumerate(counts) if no or nc]
    if len(used) != 1:
        return False
    i = used[0]
    no, nc = counts[i]
    open_, close = PAIRS[i]
    if implicit_open and no == 0 and nc == 1:
        return True
    return no == 1 and nc == 1 and text.find(open_) < text.find(close)


def check_format(response: str | None, finish_reason: str | None = None, n_tokens: int | None = None,
                 max_tokens: int | None = None, counter: TokenCounter | None = None,
                 implicit_open: bool = False) -> dict:
    """{format_ok, think_paired, finished, n_tokens, n_tokens_exact} for one response.

    `n_tokens` given (from generation) is kept; otherwise it is counted with `counter` (or approximated).
    """
    text = response or ""
    counts = [(text.count(o), text.count(c)) for o, c in PAIRS]  # once: each is a scan of the whole text
    paired = think_paired(text, implicit_open, counts)
    exact = n_tokens is not None or bool(counter and counter.exact)
    if n_tokens is None:
        n_tokens = (counter or TokenCounter()).count(text)
    unclosed = any(no > nc for no, nc in counts)
    finished = finish_reason != "length" and not unclosed
    if finished and max_tokens and n_tokens is not None and exact and n_tokens >= max_tokens:
        finished = False
    return {"format_ok": paired and finished, "think_paired": paired, "finished": finished,
            "n_tokens": int(n_tokens), "n_tokens_exact": exact}
