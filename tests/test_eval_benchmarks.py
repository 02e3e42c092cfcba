"""The real benchmark copies of ../shared/data through evaluate's item selection, and oracle answers graded.

AIME 2024 (two shapes), AIME 2025 (QwQ prompts with the instruction appended), MATH-500 (LaTeX answers) and
LiveCodeBench (date window, difficulties): the counts are the files' and an oracle that boxes each gold after
a closed think scores 1.0, the same oracle cut off inside its think scores 0.0.
"""

import pytest

from ded.evaluation.runner import select_items
from ded.lake import Lake
from ded.params import parse_params
from ded.stages.evaluate import evaluate_responses


def params_for(shared, tmp_path, **evaluate):
    return parse_params({
        "benchmarks": {
            "aime24": {"path_or_hub": str(shared / "aime24" / "qwen25math_aime24_test.jsonl")},
            "aime24_rllm": {"path_or_hub": str(shared / "aime24" / "rllm_aime24_test.json")},
            "aime25": {"path_or_hub": str(shared / "aime25" / "qwq_aime25.jsonl")},
            "math500": {"path_or_hub": str(shared / "math500" / "math500_test.jsonl")},
            "lcb": {"path_or_hub": str(shared / "lcb" / "lcb_v5_test_2408_2501_joined.jsonl"), "domain": "code"},
        },
        "evaluate": {"metrics_dir": str(tmp_path / "metrics"), "bootstrap": 200, "grade_workers": 2, **evaluate},
    })


def test_item_counts_and_lcb_selection(shared_data, tmp_path):
    lake = Lake(tmp_path / "lake")
    p = params_for(shared_data, tmp_path)
    counts = {b: len(select_items(lake, p, b)[0]) for b in ("aime24", "aime24_rllm", "aime25", "math500", "lcb")}
    assert counts == {"aime24": 30, "aime24_rllm": 30, "aime25": 30, "math500": 500, "lcb": 279}
    aime25 = select_items(lake, p, "aime25")[0]
    assert not any("Please reason step by step" in it["problem"] for it in aime25)  # instruction stripped
    p2 = params_for(shared_data, tmp_path, lcb_start="2024-08-01", lcb_end="2025-02-01", lcb_difficulties=["hard"])
    items, dropped, notes = select_items(lake, p2, "lcb")
    assert len(items) == 123 and dropped == {"difficulty easy": 67, "difficulty medium": 89}
    assert "public tests only" in notes[0] and "2024-08-03 to 2025-01-04" in notes[1]


@pytest.mark.parametrize("benchmark", ["aime25", "math500"])
def test_oracle_scores_one_and_cut_off_oracle_zero(shared_data, tmp_path, benchmark):
    lake = Lake(tmp_path / "lake")
    p = params_for(shared_data, tmp_path)
    items = select_items(lake, p, benchmark)[0]
    good = [{"item_id": it["item_id"], "response": f"<think>checked</think>\nThe answer is $\\boxed{{{it['answer']}}}$."}
            for it in items]
    assert evaluate_responses(lake, p, benchmark, "oracle", good)["metrics"]["avg_at_n"] == 1.0
    cut = [{"item_id": it["item_id"], "response": f"<think>so it is \\boxed{{{it['answer']}}} and"} for it in items]
    e = evaluate_responses(lake, p, benchmark, "cut-oracle", cut)
    assert e["metrics"]["avg_at_n"] == 0.0 and e["grading"]["no_answer"]["unclosed_reasoning"] == len(items)
