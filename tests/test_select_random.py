"""The `random` recipe, DED's stage ablations (`select.stage`) and the paper's per-domain mix
(`select.mix_mode: per_domain`) on the demo lake under the demo profile."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ded.stages import select


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from conftest import load_demo_lake

    from ded.lake import Lake

    lake = Lake(tmp_path_factory.mktemp("demo") / "lake")
    return load_demo_lake(lake), lake


def _run(params, lake, out: Path, **sel):
    export = params.select.export.model_copy(update={"out_dir": str(out), "hf_dataset": False})
    return select.main(params, lake, diversity="none", export=export, **sel)


def _kept(lake, m) -> pl.DataFrame:
    return pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'")).filter(pl.col("kept")).sort("rank")


def _scores(lake) -> pl.DataFrame:
    return pl.from_arrow(lake.read("trajectory_scores", columns=["trajectory_id", "correct", "model", "domain"]))


def test_random_meets_budget_and_mix_from_the_chosen_teacher_and_is_seeded(demo, tmp_path):
    params, lake = demo
    a = _run(params, lake, tmp_path / "a", recipe="random", seed=1)
    b = _run(params, lake, tmp_path / "b", recipe="random", seed=1)
    c = _run(params, lake, tmp_path / "c", recipe="random", seed=2)
    assert a["rows"] == params.select.budget and a["shortfall"] == 0
    assert a["by_domain"] == {"code": 24, "math": 24}
    assert a["by_model"] == {"synthetic-concise": 48}  # select.teacher's pool (the demo ranks by accuracy)
    assert a["train_jsonl_sha256"] == b["train_jsonl_sha256"] != c["train_jsonl_sha256"]
    assert a["run_id"] != c["run_id"]  # the seed is part of the run
    steps = [s["step"] for s in a["steps"]]
    assert steps == ["teacher", "not_contaminated", "not_duplicate", "domain_mix", "budget"]  # no curation
    # not filtered on correctness: across seeds the draw reaches the teacher's wrong answers
    wrong = set()
    for seed in range(6):
        m = _run(params, lake, tmp_path / f"s{seed}", recipe="random", seed=seed)
        k = _kept(lake, m).join(_scores(lake), on="trajectory_id", suffix="_s")
        wrong |= set(k.filter(pl.col("correct") == False)["trajectory_id"].to_list())
    assert wrong


def test_random_draw_is_uniform_over_rows_not_questions(demo, tmp_path):
    """A question's rows are not drawn together: over seeds, the share of kept questions with all their
    rows kept is what a uniform row draw gives, far below the 1.0 of a question-level draw."""
    params, lake = demo
    m = _run(params, lake, tmp_path / "u", recipe="random", seed=0)
    k = _kept(lake, m)
    per_q = k.group_by("question_id").len()
    assert per_q["len"].min() == 1 and per_q.height > 48 / 3


def test_stage_ablations_add_one_step_each_at_equal_budget(demo, tmp_path):
    params, lake = demo
    chains = {}
    for stage in ("teacher", "correct", "compression", "diverse"):
        m = _run(params, lake, tmp_path / stage, recipe="ded", stage=stage)
        assert m["rows"] == params.select.budget, stage  # equal budget
        chains[stage] = [s["step"] for s in m["steps"]]
        if stage == "teacher":
            rows = pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'"))
            k = rows.join(_scores(lake), on="trajectory_id", suffix="_s")
            # the quality filters are not applied yet: wrong answers reach the budget cut
            assert k.filter((pl.col("correct") == False) & (pl.col("dropped_by").is_null()
                                                            | (pl.col("dropped_by") == "budget"))).height > 0
    assert "correct" not in chains["teacher"] and "compression" not in chains["teacher"]
    assert set(chains["correct"]) - set(chains["teacher"]) == {"correct", "format_ok", "finished", "max_tokens"}
    assert set(chains["compression"]) - set(chains["correct"]) == {"compression"}
    assert set(chains["diverse"]) - set(chains["compression"]) == {"farthest_p"}
    assert len({tuple(v) for v in chains.values()}) == 4


def test_per_domain_mix_builds_each_domain_corpus_on_its_own(demo, tmp_path):
    params, lake = demo
    joint = _run(params, lake, tmp_path / "joint", recipe="ded")
    per = _run(params, lake, tmp_path / "per", recipe="ded", mix_mode="per_domain")
    assert per["run_id"] != joint["run_id"] and per["mix_mode"] == "per_domain"
    assert per["rows"] == params.select.budget and per["by_domain"] == {"code": 24, "math": 24}
    assert set(per["per_domain"]) == {"math", "code"}
    for info in per["per_domain"].values():
        assert info["budget"] == 24 and info["rows"] == 24 and info["teachers"]
    kept = _kept(lake, per)
    assert kept["rank"].to_list() == list(range(1, 49))  # one corpus, ranks continue across domains
    # every candidate is recorded once, kept or dropped
    allrows = pl.from_arrow(lake.read("selection", filter=f"run_id = '{per['run_id']}'"))
    assert allrows["trajectory_id"].is_unique().all()
    assert allrows.height == pl.from_arrow(lake.read("selection", filter=f"run_id = '{joint['run_id']}'")).height
    # no quota is lent across domains: a domain short of rows stays short (joint would fill it)
    small = _run(params, lake, tmp_path / "small", recipe="ded", mix_mode="per_domain", budget=200)
    assert small["shortfall"] > 0
    assert all(v["rows"] <= v["budget"] for v in small["per_domain"].values())
