"""Every recipe on the demo lake under the demo profile: rows, or an error that says why and how to fix it.

The demo has 3 teachers x 3 samples per question and solves every question 4-9 times of 9, so LIMO's
paper window (1-3 correct of 32 samples) kept nothing; the demo profile's `select.limo` is scaled to it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ded.selectors.recipes import RecipeError
from ded.stages import score, select
from ded.stages.select import SelectError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo sources ingested, verified and scored under pipelines/demo.yaml (no embed: diversity none)."""
    from conftest import load_demo_lake

    from ded.lake import Lake

    lake = Lake(tmp_path_factory.mktemp("demo") / "lake")
    params = load_demo_lake(lake)
    return params, lake


def _run(params, lake, out: Path, **sel):
    export = params.select.export.model_copy(update={"out_dir": str(out), "hf_dataset": False})
    return select.main(params, lake, diversity="none", export=export, **sel)


def _kept(lake, m) -> pl.DataFrame:
    return pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'")).filter(pl.col("kept"))


def test_limo_on_the_demo_keeps_the_budget_within_its_window(demo, tmp_path):
    params, lake = demo
    lo, hi = params.select.limo.min_correct, params.select.limo.max_correct
    assert (lo, hi) == (1, 8) and params.select.limo.reference_models == []
    m = _run(params, lake, tmp_path / "limo", recipe="limo")
    assert m["rows"] == params.select.budget == 48 and m["shortfall"] == 0
    window = next(s for s in m["steps"] if s["step"] == "solve_window")
    assert window["out"] > 0 and window["dropped"] > 0  # questions every attempt solves are left out
    kept = _kept(lake, m)
    assert kept["question_id"].is_unique().all()  # LIMO: one trajectory per question
    solves = pl.from_arrow(lake.read("trajectory_scores", columns=["question_id", "model", "correct", "is_student"]))
    counts = (solves.filter(~pl.col("is_student")).group_by("question_id")
              .agg(pl.col("correct").cast(pl.Int64).sum().alias("k"), pl.len().alias("n")))
    got = counts.join(kept.select("question_id"), on="question_id")
    assert got.height == 48 and got["n"].to_list() == [9] * 48
    assert got["k"].min() >= lo and got["k"].max() <= hi
    # LIMO's paper window does not transfer to 9 attempts: a precise error, not an empty corpus
    paper = params.select.limo.model_copy(update={"min_correct": 1, "max_correct": 3})
    with pytest.raises(SelectError, match=r"9 attempts and was solved 4-9 times.*none within 1-3"):
        _run(params, lake, tmp_path / "paper", recipe="limo", limo=paper)


def test_s1k_on_the_demo(demo, tmp_path):
    params, lake = demo
    m = _run(params, lake, tmp_path / "s1k", recipe="s1k")
    assert m["rows"] == 48 and m["shortfall"] == 0
    assert _kept(lake, m)["question_id"].is_unique().all()


def test_rsr_on_the_demo_needs_student_scores_and_says_how(demo, tmp_path, tiny_model_dir):
    params, lake = demo
    with pytest.raises(RecipeError, match=r"student_rsr.*ded score --student-scores"):
        _run(params, lake, tmp_path / "rsr", recipe="rsr")
    # the fix it names: score the teachers' trajectories under a student (here the tests' tiny model), the chosen
    # teacher's only (select.teacher is fixed: every teacher's rows would cost ~3x the time for rows never read)
    scored = params.model_copy(update={"score": params.score.model_copy(update={
        "student_scores": params.score.student_scores.model_copy(update={
            "enabled": True, "model": str(tiny_model_dir), "models": [params.select.teacher]})})})
    score.main(scored, lake)
    m = _run(scored, lake, tmp_path / "rsr2", recipe="rsr")
    assert m["rows"] == 48 and m["shortfall"] == 0
    kept = _kept(lake, m)
    assert kept["question_id"].is_unique().all() and kept.height == 48
