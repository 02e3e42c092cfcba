"""Answer extraction: the final math answer or the program in a response.

Extraction reads `final`, the text after the reasoning (`ded.text.split_reasoning`); a response
without reasoning markers is all final. An opened, never-closed `<think>` (or
`<|begin_of_thought|>`) means the model was cut off: there is no answer, even if the unfinished
reasoning contains a `\\boxed{}` (a guess mid-thought is not a committed answer).

Math, in order (the first rule that matches wins; the rule is returned as `method`):
1. `boxed`: the last `\\boxed{…}` / `\\fbox{…}` (nested braces balanced), or `\\boxed 5`.
2. `final_answer`: the last "Final Answer: …" (Minerva / Hendrycks-MATH style), up to the line end,
   with "The final answer is $X$. I hope it is correct." unwrapped.
3. `answer_is`: the last "the answer is …", up to the end of the sentence or line.
4. `reasoning_boxed`: the last `\\boxed{…}` of a *closed* reasoning block, when the final part has
   no answer of its own (Sky-T1 responses whose `<|begin_of_solution|>` summary was cut off after
   the reasoning had concluded with `\\boxed{33}`).
5. `last_number`: the last number in the final text. This fallback is the Qwen2.5-Math evaluation
   harness's (`extract_answer(..., use_last_number=True)` in QwenLM/Qwen2.5-Math `parser.py`), which
   is the harness whose recorded scores we are checked against; it makes short-CoT answers such as
   "… so she spends 204 minutes." gradable.

Code: the last fenced block (```python …``` or a bare ``` fence). Fallback, in order: a final
fence opened but never closed (cut-off output) gives the text after it; otherwise the whole final
text when it parses as Python and defines a function/class or reads input (models that answer
with bare code). Anything else is no answer.
"""

from __future__ import annotations

import ast
import re

from ded.text import (  # last_boxed: also used by extractors here
    last_boxed,
    split_reasoning,
)

_FINAL_ANSWER = re.compile(r"final\s+answer\s*(?:is)?\s*[:：]?\s*(.+)", re.IGNORECASE)
_MINERVA = re.compile(r"final answer is\s*\$?(.+?)\$?\.?\s*I hope it is correct", re.IGNORECASE | re.DOTALL)
_ANSWER_IS = re.compile(r"the\s+(?:final\s+)?answer\s+is\s*[:：]?\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPEN_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n")


def final_text(response: str | None) -> tuple[str, bool]:
    """(final text, closed): the part of a response an answer may come from."""
    _reasoning, final, closed = split_reasoning(response)
    return final, closed


def _clean_inline(ans: str) -> str:
    ans = ans.strip()
    boxed = last_boxed(ans)
    if boxed is not None:
        return boxed
    ans = ans.strip().strip("*").strip()
    if ans.startswith("$") and ans.count("$") >= 2:
        ans = ans[1:ans.index("$", 1)]
    elif ans.startswith("\\(") and "\\)" in ans:
        ans = ans[2:ans.index("\\)")]
    elif ans.startswith("\\[") and "\\]" in ans:
        ans = ans[2:ans.index("\\]")]
    ans = ans.strip().rstrip(".").strip()
    return ans


def extract_math(text: str | None) -> tuple[str | None, str]:
    """(answer or None, method) from a full response; method names the rule that fired or why none did."""
    reasoning, final, closed = split_reasoning(text)
    if not closed:
        return None, "unclosed_reasoning"
    if not final.strip() and not reasoning:
        return None, "empty"
    boxed = last_boxed(final)
    if boxed is not None and boxed != "":
        return boxed, "boxed"
    m = list(_MINERVA.finditer(final))
    if m:
        return _clean_inline(m[-1].group(1)), "final_answer"
    m = list(_FINAL_ANSWER.finditer(final))
    if m:
        ans = _clean_inline(m[-1].group(1).splitlines()[0] if m[-1].group(1) else "")
        if ans:
            return ans, "final_answer"
    m = list(_ANSWER_IS.finditer(final))
    if m:
        line = m[-1].group(1).splitlines()[0]
        ans = _clean_inline(re.split(r"(?<!\\)\.(?:\s|$)", line)[0])
        if ans:
            return ans, "answer_is"
    boxed = last_boxed(reasoning or "")
    if boxed:  # closed reasoning ending in a boxed answer, summary cut off or answer-less (Sky-T1)
        return boxed, "reasoning_boxed"
    nums = _NUMBER.findall(final)
    if nums:
        return nums[-1].replace(",", "").rstrip("."), "last_number"
    return None, "no_answer"


def extract_math_answer(text: str | None) -> str | None:
    """The final math answer of a response, or None (see the module doc for the rules)."""
    return extract_math(text)[0]


def extract_code(text: str | None) -> str | None:
    """The program in a response: the last fenced block, else the documented fallbacks, else None."""
    final, closed = final_text(text)
    if not closed or not final.strip():
        return None
    blocks = _FENCE.findall(final)
    if blocks:
        code_blocks = [b for lang, b in blocks if lang.lower() in ("", "python", "python3", "py")]
        body = (code_blocks or [b for _lang, b in blocks])[-1]
        return body.strip("\n") or None
    opens = list(_OPEN_FENCE.finditer(final))
    if opens:  # a fence opened and never closed: the model was cut off inside its code
        return final[opens[-1].end():].strip("\n") or None
    try:
        ast.parse(final)
    except (SyntaxError, ValueError):
        return None
    if re.search(r"^\s*(def |class |import |from \S+ import )|input\(|sys\.stdin", final, re.MULTILINE):
        return final.strip("\n")
    return None
