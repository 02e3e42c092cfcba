"""Twenty benchmark items planted in a question pool, four ways (issue 5's decontamination test).

Items come from ../shared/data (MATH-500 by line number, AIME 2024 by its `id`). Paraphrases were
written by hand for this test and keep every number of the original; numbers-changed variants keep the
wording and change numbers, so they are different problems that look like benchmark items.
"""

from __future__ import annotations

import re

VERBATIM = [("math500", 20), ("math500", 21), ("math500", 22), ("aime24", 66), ("aime24", 67)]
REFORMATTED = [("math500", 30), ("math500", 31), ("math500", 32), ("aime24", 68), ("aime24", 69)]

PARAPHRASED = {
    ("math500", 2): "Let the function f be given by f(x) = (3x - 2)/(x - 2). Compute the sum f(-2) + f(-1) + f(0) "
                    "and give the result as a fraction in lowest terms.",
    ("math500", 3): "Count the positive integers that divide the number 196 evenly.",
    ("math500", 5): "Split a regular hexagon into six equilateral triangles. One of these triangles has a perimeter of "
                    "21 inches. Find the hexagon's perimeter in inches.",
    ("math500", 10): "Find the smallest positive multiple of 30 all of whose decimal digits are 0s and 2s.",
    ("aime24", 61): "Triangle ABC is inscribed in a circle omega. The tangent lines to omega at B and at C meet at D, "
                    "and line AD meets omega again at P. Given AB = 5, BC = 9 and AC = 10, the length AP equals m/n "
                    "for relatively prime integers m and n. Find m + n.",
}

NUMBERS_CHANGED = {
    ("math500", 12): ("284", "220"),
    ("math500", 7): ("2x = 3y = -z", "4x = 5y = -z"),
    ("aime24", 65): ("\\sqrt{41}", "\\sqrt{37}"),
    ("aime24", 63): ("\\tfrac{1}{4}", "\\tfrac{1}{5}"),
    ("math500", 50): None,  # every number n becomes n + 3
}


def reformat(text: str) -> str:
    """Whitespace and LaTeX layout changes only: what a second copy of a benchmark often looks like."""
    t = text.replace("\\frac", "\\dfrac").replace("(", "\\left( ").replace(")", " \\right)")
    t = re.sub(r"\^(\w)", r"^{\1}", t)
    t = re.sub(r"\s+", "  ", t)
    return "\n" + t.replace(". ", ".\n\n") + "\nPlease reason step by step, and put your final answer within \\boxed{}."


def shift_numbers(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 3), text)


def planted(items: dict[tuple[str, int], str]) -> list[dict]:
    """The 20 planted pool questions: {problem, source, plant (how), benchmark, ref} from the items' texts."""
    out = []
    for key in VERBATIM:
        out.append({"problem": items[key], "plant": "verbatim", "ref": key})
    for key in REFORMATTED:
        out.append({"problem": reformat(items[key]), "plant": "reformatted", "ref": key})
    for key, text in PARAPHRASED.items():
        out.append({"problem": text, "plant": "paraphrased", "ref": key})
    for key, change in NUMBERS_CHANGED.items():
        src = items[key]
        if change is None:
            text = shift_numbers(src)
        else:
            assert change[0] in src, (key, change)
            text = src.replace(change[0], change[1])
        out.append({"problem": text, "plant": "numbers_changed", "ref": key})
    for r in out:
        r["source"] = "planted-" + r["plant"]
    return out
