"""Ids and reasoning splitting (ARCHITECTURE.md "Ids")."""

from ded.ids import normalize_problem, question_id, stable_hash, trajectory_id
from ded.text import split_reasoning


def test_question_id_ignores_whitespace_nfkc_and_boilerplate():
    a = "Find  $x$ if $x+1=2$.\nPlease reason step by step, and put your final answer within \\boxed{}."
    b = "Find $x$ if $x+1=2$."
    c = "Ｆind $x$ if $x+1=2$."  # full-width F: NFKC folds it
    assert question_id(a) == question_id(b) == question_id(c)
    assert normalize_problem(a) == b


def test_question_id_distinguishes_real_changes():
    assert question_id("Find x if x+1=2.") != question_id("Find x if x+1=3.")
    assert question_id("find X") != question_id("find x")  # LaTeX is case-sensitive


def test_trajectory_id_hashes_identity_not_text():
    t = trajectory_id("q_1", "m", "generated", 0)
    assert t == trajectory_id("q_1", "m", "generated", 0)
    assert len({t, trajectory_id("q_1", "m", "generated", 1), trajectory_id("q_1", "m2", "generated", 0),
                trajectory_id("q_1", "m", "imported:x", 0)}) == 4


def test_stable_hash_is_order_independent():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})


def test_split_think_markers():
    assert split_reasoning("<think>r</think>\n\nfinal") == ("r", "final", True)
    assert split_reasoning("<think>cut off") == ("cut off", "", False)
    assert split_reasoning("no markers") == (None, "no markers", True)
    assert split_reasoning("r</think>f") == ("r", "f", True)  # template put <think> in the prompt


def test_split_sky_t1_markers():
    resp = "<|begin_of_thought|>\nthink\n<|end_of_thought|>\n\n<|begin_of_solution|>\nans\n<|end_of_solution|>"
    assert split_reasoning(resp) == ("think", "ans", True)
    assert split_reasoning("<|begin_of_thought|> long and never closed")[2] is False
