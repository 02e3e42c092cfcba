"""Splitting a response into its reasoning and its final answer.

Two marker conventions are in the field: `<think>…</think>` (DeepSeek-R1, QwQ, Qwen3) and
`<|begin_of_thought|>…<|end_of_thought|>` then `<|begin_of_solution|>…<|end_of_solution|>`
(Sky-T1, OpenThoughts). An opened, never-closed reasoning block means the model was cut off:
there is no final answer (`closed=False`, `final=""`).
"""

from __future__ import annotations

import re

_PAIRS = [
    ("<think>", "</think>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
]
_SOLUTION = re.compile(r"<\|begin_of_solution\|>(.*?)(?:<\|end_of_solution\|>|$)", re.DOTALL)


def split_reasoning(response: str | None) -> tuple[str | None, str, bool]:
    """Return (reasoning or None, final, closed).

    - no markers: (None, whole response, True)
    - opened and closed: (text inside, text after the close, True)
    - opened, never closed: (text after the open, "", False)
    - a close without an open (templates that put `<think>` in the prompt): (text before, text after, True)
    """
    text = response or ""
    for open_, close in _PAIRS:
        i = text.find(open_)
        j = text.find(close, i + len(open_) if i >= 0 else 0)
        if i < 0 and j < 0:
            continue
        if i >= 0 and j < 0:
            return text[i + len(open_):].strip(), "", False
        start = i + len(open_) if i >= 0 else 0
        reasoning, final = text[start:j], text[j + len(close):]
        m = _SOLUTION.search(final)
        if m:
            final = m.group(1)
        return reasoning.strip(), final.strip(), True
    return None, text.strip(), True


_BOX = re.compile(r"\\(?:boxed|fbox)\s*")


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{…}`/`\\fbox{…}` with balanced braces (None when absent or unbalanced)."""
    starts = [m.end() for m in _BOX.finditer(text)]
    for start in reversed(starts):
        if start < len(text) and text[start] == "{":
            depth, i = 0, start
            while i < len(text):
                c = text[i]
                if c == "\\" and i + 1 < len(text):  # skip escaped braces \{ \}
                    i += 2
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        return text[start + 1:i].strip()
                i += 1
            continue  # unbalanced: try an earlier box
        m = re.match(r"([^\s$.,;]+)", text[start:])  # "\boxed 5" form
        if m:
            return m.group(1)
    return None
