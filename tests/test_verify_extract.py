"""Answer and code extraction (ded.verifiers.extract)."""

from __future__ import annotations

from ded.verifiers.extract import (
    extract_code,
    extract_math,
    extract_math_answer,
    last_boxed,
)


def test_last_boxed_balances_nested_braces():
    assert last_boxed(r"first \boxed{1} then \boxed{\frac{1}{\sqrt{2}}} done") == r"\frac{1}{\sqrt{2}}"
    assert last_boxed(r"\fbox{x^{2}}") == "x^{2}"
    assert last_boxed(r"\boxed 5.") == "5"
    assert last_boxed(r"\boxed{\{1,2\}}") == r"\{1,2\}"
    assert last_boxed(r"\boxed{unclosed") is None


def test_math_rules_in_order():
    assert extract_math(r"so \boxed{42}. The answer is 7") == ("42", "boxed")
    assert extract_math("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.") == (r"\frac{3}{4}", "final_answer")
    assert extract_math("Final Answer: $12$") == ("12", "final_answer")
    assert extract_math("Thus, the answer is 3.5. Done") == ("3.5", "answer_is")
    assert extract_math("She walks 9 km; that takes 204 minutes.") == ("204", "last_number")
    assert extract_math("I do not know.") == (None, "no_answer")
    assert extract_math_answer("answer: 1,000 apples") == "1000"


def test_unclosed_reasoning_is_no_answer():
    assert extract_math(r"<think>maybe \boxed{3} ... and then") == (None, "unclosed_reasoning")
    assert extract_math(r"<|begin_of_thought|> so \boxed{25}") == (None, "unclosed_reasoning")
    assert extract_math(r"<think>guess \boxed{3}</think> The result is \boxed{4}.") == ("4", "boxed")


def test_closed_reasoning_with_cut_summary_uses_the_reasoning_box():
    text = (r"<|begin_of_thought|> ... m + n = 33. \boxed{33} <|end_of_thought|>"
            r"<|begin_of_solution|> We solve: a = -\frac{7}{24}, b = -\frac{3}{8} +")
    assert extract_math(text) == ("33", "reasoning_boxed")


def test_code_extraction():
    resp = "Idea.\n```python\nprint(1)\n```\nAnd better:\n```python\nprint(2)\n```\nDone."
    assert extract_code(resp) == "print(2)"
    assert extract_code("```\nx = input()\nprint(x)\n```") == "x = input()\nprint(x)"
    assert extract_code("text\n```python\nprint(3)\n```\n```text\nsample output\n```") == "print(3)"
    assert extract_code("```python\ndef f():\n    return 1") == "def f():\n    return 1"  # cut off
    assert extract_code("def f(x):\n    return x + 1\n") == "def f(x):\n    return x + 1"  # bare code
    assert extract_code("The answer is to use a heap.") is None
    assert extract_code("<think>```python\nprint(1)\n```") is None
