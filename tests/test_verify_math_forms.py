"""Answer forms where our math verdicts and the Qwen2.5-Math harness's could differ: each decided here.

One test per form (docs/verification.md, "Answer forms"): percent signs, trailing words and units, an
interval against a list of solutions, a choice letter written `(E)` or `E`, `\\approx`, equivalent
equations of a plane, a time of day, and how readings combine (an undecided reading is never a False).
"""

from __future__ import annotations

import pytest

from ded.verifiers import VERIFIER_VERSIONS, grade_many
from ded.verifiers.math import MathPool, grade_math_pairs, readings


@pytest.fixture(scope="module")
def pool():
    with MathPool(workers=2, timeout_s=10) as p:
        yield p


def verdicts(pool, pairs):
    return [r[1] for r in grade_math_pairs(pairs, pool=pool)]


def test_percent_sign_is_a_unit_and_a_percent_is_also_its_fraction(pool):
    # the sign is the unit the question asks in: 25\% = 25 either way round (the harness drops it too)
    right = [("25\\%", "25"), ("198\\%", "198"), ("25", "25\\%"), ("25\\%", "25 \\%"), ("25\\%", "25\\text{ percent}"),
             ("25\\%", "0.25"), ("0.25", "25\\%"), ("12.5\\%", "\\frac{1}{8}")]
    # no sign anywhere: 0.25 is not 25 (the harness accepts it, reading every number as a possible percent)
    wrong = [("25", "0.25"), ("25\\%", "0.25\\%"), ("25\\%", "20"), ("25\\%", "2.5")]
    assert verdicts(pool, right) == [True] * len(right)
    assert verdicts(pool, wrong) == [False] * len(wrong)


def test_trailing_words_and_units_are_dropped_on_both_sides(pool):
    right = [("100\\text{ square units}", "100"), ("100", "100\\text{ square units}"), ("48^\\circ", "48"),
             ("\\$6", "6"), ("6", "\\$6.00"), ("5", "5 \\text{ cm}"), ("10", "\\text{10 ways}"), ("\\text{10 ways}", "10")]
    assert verdicts(pool, right) == [True] * len(right)
    # a known leniency, kept (math-verify's): the unit is not compared, so a wrong unit with the right number passes
    assert verdicts(pool, [("5\\text{ cm}", "5\\text{ m}")]) == [True]
    assert verdicts(pool, [("100\\text{ square units}", "10\\text{ square units}")]) == [False]


def test_a_time_of_day_is_compared_as_text(pool):
    # real row: MATH idx 3, gold \text{4:30 p.m.}, responses \boxed{4:30 \text{ p.m.}}
    assert verdicts(pool, [("\\text{4:30 p.m.}", "4:30 \\text{ p.m.}"), ("\\text{4:30 p.m.}", "4:30 p.m."),
                           ("\\text{4:30 p.m.}", "4:30"), ("\\text{4:30 p.m.}", "5:30 \\text{ p.m.}")]) == [
        True, True, False, False]  # a bare 4:30 does not say afternoon


def test_a_gold_written_as_text_compares_as_words(pool):
    # math-verify parses words as products of commuting symbols, so `seat` would equal `east`
    assert verdicts(pool, [("\\text{east}", "\\text{seat}"), ("\\text{even}", "neve"), ("\\text{Evelyn}", "\\text{Navin}")]) == [
        False] * 3
    assert verdicts(pool, [("\\text{east}", "\\text{East}"), ("\\text{Devon}", "Devon"), ("\\text{no solution}", "No solution")]) == [
        True] * 3
    assert grade_math_pairs([("\\text{east}", "\\text{seat}")], pool=pool)[0][2] == "text compare"


def test_an_interval_is_not_a_list_of_solutions(pool):
    # [-2, 7] is a continuum, "-2, 7" two points: different answers, in both directions (the harness strips
    # the brackets and calls them equal); a set of the solutions in any order is the list
    assert verdicts(pool, [("-2, 7", "[-2, 7]"), ("[-2, 7]", "-2, 7"), ("(1, 3)", "[1, 3]"), ("(1,3)", "(1,3]")]) == [
        False] * 4
    assert verdicts(pool, [("-2, 7", "7, -2"), ("-2, 7", "\\{-2, 7\\}"), ("-2, 7", "x = -2 \\text{ or } x = 7"),
                           ("[-2, 7]", "x \\in [-2,7]"), ("[-2,7)", "[-2, 7)")]) == [True] * 5
    # not converted: an inequality is not read as the interval it describes
    assert verdicts(pool, [("[-2, 7]", "-2 \\le x \\le 7")]) == [False]


def test_a_choice_letter_in_any_wrapping_compares_as_a_letter(pool):
    golds = ["E", "(E)", "\\text{(E)}", "\\textbf{(E)}", "\\text{E}"]
    answers = ["E", "(E)", "\\text{(E)}", "\\textbf{(E)}", "\\mathrm{(E)}", "(E) 12", "\\text{(E) } 12"]
    pairs = [(g, a) for g in golds for a in answers]
    res = grade_math_pairs(pairs, pool=pool)
    assert all(r[:2] == ("correct", True) and r[2] == "letter compare" for r in res), [(p, r) for p, r in zip(pairs, res)]
    assert verdicts(pool, [("\\text{(E)}", "B"), ("\\text{(E)}", "\\textbf{(D)}"), ("E", "(D) 12")]) == [False] * 3
    # the value of the option is not the letter: questions carry no choices to map it
    assert grade_math_pairs([("\\text{(C)}", "12")], pool=pool)[0][:2] == ("parse_error", False)


def test_approx_counts_the_exact_value_and_its_rounding_not_a_bare_rounding_of_an_exact_gold(pool):
    assert verdicts(pool, [("\\frac{1}{3}", "\\frac{1}{3} \\approx 0.33"), ("0.33", "\\frac{1}{3} \\approx 0.33"),
                           ("3.1", "\\pi \\approx 3.1"), ("3.14", "x \\approx 3.14"), ("3.14", "\\approx 3.14")]) == [True] * 5
    assert verdicts(pool, [("\\frac{1}{3}", "\\approx 0.333"), ("\\frac{1}{3}", "\\frac{1}{4} \\approx 0.25"),
                           ("0.33", "\\frac{1}{4} \\approx 0.25")]) == [False] * 3
    assert readings("0.33", "\\frac{1}{3} \\approx 0.33")[1:] == [
        ("0.33", "\\frac{1}{3}", "one side of \\approx"), ("0.33", "0.33", "one side of \\approx")]


def test_equations_of_one_plane_are_equal_whatever_their_scale_or_side(pool):
    # the answer is the plane; scaling or moving terms does not change it (the harness accepts only a sign flip)
    right = [("2x - y + 3z = 8", "4x - 2y + 6z = 16"), ("2x - y + 3z - 8 = 0", "2x - y + 3z = 8"),
             ("2x - y + 3z - 8 = 0", "4x - 2y + 6z = 16"),
             ("2x - y + 3z - 8 = 0", "-2x + y - 3z + 8 = 0"), ("y = 2x + 3", "2x - y + 3 = 0")]
    wrong = [("2x - y + 3z - 8 = 0", "2x - y + 3z - 9 = 0"), ("x + 2y = 3", "x + 2y = 4"), ("y = x^2", "y = x")]
    assert verdicts(pool, right) == [True] * len(right)
    assert verdicts(pool, wrong) == [False] * len(wrong)


def test_thousands_separators_and_mixed_numbers(pool):
    assert verdicts(pool, [("10{,}000", "10000"), ("900,\\!000,\\!000", "900000000"), ("3,\\!250", "3250"),
                           ("1\\frac{1}{10}", "\\frac{11}{10}"), ("1\\frac{1}{10}", "1.1")]) == [True] * 5
    assert verdicts(pool, [("1\\frac{1}{10}", "1 \\frac{1}{9}")]) == [False]


def test_the_detail_names_the_reading_that_decided_and_the_version_moved():
    (r,) = grade_math_pairs([("25\\%", "0.25")], workers=1)
    assert r[:2] == ("correct", True) and r[2].endswith("(percent read as a fraction)")
    assert VERIFIER_VERSIONS["math"] == "math-2"  # verdicts changed: `ded verify` regrades math-1 rows


def test_an_undecided_reading_makes_the_pair_undecided_never_wrong(pool, monkeypatch):
    import ded.verifiers.math as m

    real = m._grade_flat

    def fake(pairs, *a):  # the alternative reading (percent as a fraction) times out
        out = real(pairs, *a)
        return [("timeout", None, "math-verify exceeded 10 s") if p == ("\\frac{1}{4}", "0.3") else r
                for p, r in zip(pairs, out)]

    monkeypatch.setattr(m, "_grade_flat", fake)
    (r,) = grade_math_pairs([("25\\%", "0.3")], pool=pool)
    assert r[:2] == ("timeout", None)


def test_grade_many_reports_progress_in_items_not_readings(pool):
    done = []
    items = [{"domain": "math", "response": f"\\boxed{{{a}}}", "answer": g}
             for g, a in [("25\\%", "0.25"), ("3", "3"), ("0.33", "\\frac13 \\approx 0.33")]]
    res = grade_many(items, math_pool=pool, on_done=done.append, show_progress=False)
    assert [r["correct"] for r in res] == [True, True, True] and sum(done) == 3
