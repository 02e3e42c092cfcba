"""GPQA-Diamond: hub schema -> items, seeded shuffle, letter extraction, grading."""

import json
from collections import Counter

import pytest

from ded.benchmarks import gpqa
from ded.verifiers import choice

# Two rows in the documented hub schema of Idavidrein/gpqa (gpqa_diamond.csv); texts written for the test.
HUB_ROWS = [
    {"Record ID": "recA1", "Question": "Which particle mediates the electromagnetic force?",
     "Correct Answer": "photon", "Incorrect Answer 1": "gluon", "Incorrect Answer 2": " W boson\n",
     "Incorrect Answer 3": "graviton", "High-level domain": "Physics", "Subdomain": "Particle physics"},
    {"Record ID": "recB2", "Question": "What is the oxidation state of Mn in KMnO4?",
     "Correct Answer": "+7", "Incorrect Answer 1": "+2", "Incorrect Answer 2": "+4",
     "Incorrect Answer 3": "+6", "High-level domain": "Chemistry", "Subdomain": "Inorganic"},
]


def test_items_from_hub_rows():
    items = gpqa.items_from_hub_rows(HUB_ROWS)
    assert [i["item_id"] for i in items] == ["recA1", "recB2"]
    assert json.loads(items[0]["choices"]) == ["photon", "gluon", "W boson", "graviton"]
    assert items[0]["answer"] == "photon" and items[0]["domain"] == "science"
    with pytest.raises(ValueError, match="Idavidrein/gpqa"):
        gpqa.items_from_hub_rows([{"Question": "q"}])


def test_shuffle_is_seeded_per_item_and_independent_of_order():
    choices = ["photon", "gluon", "W boson", "graviton"]
    a = gpqa.shuffled("recA1", choices, "photon", seed=0)
    assert a == gpqa.shuffled("recA1", choices, "photon", seed=0)
    opts, letter = a
    assert sorted(opts) == sorted(choices) and opts["ABCD".index(letter)] == "photon"
    # over many items the correct letter is spread over A-D (not always A, as in the stored order)
    letters = Counter(gpqa.shuffled(f"item{i}", choices, "photon", seed=0)[1] for i in range(400))
    assert set(letters) == set("ABCD") and min(letters.values()) > 60
    # another seed gives another layout for most items
    moved = sum(gpqa.permutation(f"item{i}", 0) != gpqa.permutation(f"item{i}", 1) for i in range(100))
    assert moved > 80
    with pytest.raises(ValueError, match="not among its choices"):
        gpqa.shuffled("x", choices, "electron", seed=0)


def test_format_question_lists_lettered_options():
    q = gpqa.format_question("Q?", ["a", "b", "c", "d"])
    assert q.endswith("Q?\n\nA) a\nB) b\nC) c\nD) d") and "'Answer: $LETTER'" in q


@pytest.mark.parametrize("text,letter", [
    ("Some thinking.\nAnswer: C", "C"),
    ("Answer: A is tempting, but...\n\nAnswer: (B)", "B"),
    ("**Answer:** **D**", "D"),
    ("Final: $\\boxed{B}$", "B"),
    ("So the answer is (A).", "A"),
    ("blah\nC", "C"),
    ("Answer: a mixture of both", None),
    ("I cannot decide.", None),
    ("", None),
    (None, None),
])
def test_extract_letter(text, letter):
    assert choice.extract_letter(text) == letter


def test_grade():
    assert choice.grade("Answer: B", "B") == {"status": "correct", "correct": True, "extracted": "B"}
    assert choice.grade("Answer: C", "B")["status"] == "wrong"
    assert choice.grade("no idea", "B") == {"status": "no_answer", "correct": False, "extracted": None}


def test_option_text_fallback_when_the_value_is_boxed():
    opts = ["+2", "+7", "+4", "+6"]
    assert choice.option_text_fallback("<think>x</think> so \\boxed{+7}", opts, "B")["correct"] is True
    assert choice.option_text_fallback("\\boxed{\\text{+4}}", opts, "B")["extracted"] == "C"
    assert choice.option_text_fallback("\\boxed{5}", opts, "B") is None  # no option says 5
    assert choice.option_text_fallback("<think>cut off \\boxed{+7}", opts, "B") is None  # unclosed: no answer
