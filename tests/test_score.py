"""`ded score` as a stage: tables written, summary counts, LIMO, student-side scores with a tiny LM, the rsr recipe."""

from __future__ import annotations

import polars as pl
import pytest
from lake_builder import LakeBuilder

from ded.params import parse_params
from ded.stages import score, select


def _lake(lake):
    b = LakeBuilder()
    for i in range(3):
        q = b.add_question(f"What is {i} + 1?", answer=str(i + 1))
        b.add(q, "t1", reasoning="Let me verify. Wait, perhaps. Therefore " * (i + 1), extracted=str(i + 1))
        b.add(q, "t1", reasoning="plain steps " * 3, extracted=str(i + 1))
        b.add(q, "t2", reasoning="Another way: so the answer follows.", correct=None, extracted=None, status="timeout")
        b.add(q, "stu", correct=i == 0)
    b.write(lake)
    return b


def _params(tmp_path, **score_over):
    return parse_params({"models": [{"name": "stu", "model": "none"}], "student": {"model": "stu"},
                         "score": {"verifiers": ["math"], **score_over},
                         "select": {"budget": 3, "diversity": "none", "domain_mix": {"math": 1.0},
                                    "export": {"out_dir": str(tmp_path / "corpus"), "hf_dataset": True}}})


def test_score_stage_writes_tables_and_summary(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _lake(lake)
    s = score.main(_params(tmp_path), lake)
    assert s["trajectories"] == 12 and s["questions"] == 3 and s["undecidable"] == 3 and s["models"] == 3
    assert s["with_student_rollouts"] == 3
    ts = pl.from_arrow(lake.read("trajectory_scores"))
    assert ts.height == 12 and ts["limo_score"].is_not_null().all()
    assert ts.filter(pl.col("model") == "t2")["correct"].is_null().all()
    assert (tmp_path / "receipts" / "score.json").exists()
    qs = pl.from_arrow(lake.read("question_scores")).sort("question_id")
    assert qs["teacher_pass_rate"].to_list() == [1.0, 1.0, 1.0]  # t2's undecidable runs are left out
    v = lake.version("trajectory_scores")
    score.main(_params(tmp_path), lake)
    assert lake.version("trajectory_scores") == v + 1  # derived tables are overwritten in one commit each


def test_score_needs_verdicts(lake, tmp_path):
    from ded.stages.score import ScoreError

    with pytest.raises(ScoreError, match="ded ingest"):
        score.main(_params(tmp_path), lake)
    b = LakeBuilder()
    b.add(b.add_question("q"), "m", verifier=None)
    b.write(lake)
    with pytest.raises(ScoreError, match="ded verify"):
        score.main(_params(tmp_path), lake)


def test_student_scores_rsr_teacher_and_recipe(lake, tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _lake(lake)
    p = _params(tmp_path, student_scores={"enabled": True, "model": str(tiny_model_dir), "device": "cpu",
                                          "chunk_tokens": 16})
    score.main(p, lake)
    ts = pl.from_arrow(lake.read("trajectory_scores"))
    teach = ts.filter(pl.col("model") != "stu")
    assert teach["student_rsr"].is_not_null().all() and teach["student_entropy"].is_not_null().all()
    assert ts.filter(pl.col("model") == "stu")["student_rsr"].is_null().all()  # the student's own rollouts: not scored
    ms = pl.from_arrow(lake.read("model_scores")).filter((pl.col("domain") == "all") & (pl.col("band") == "all"))
    t1 = ms.filter(pl.col("model") == "t1").row(0, named=True)
    # the RSR paper's dataset RSR: Σ mean rank / Σ mean surprisal, mean rank = RSR x mean surprisal
    mine = teach.filter(pl.col("model") == "t1")
    assert t1["mean_student_rsr"] == pytest.approx(
        (mine["student_rsr"] * mine["student_surprisal"]).sum() / mine["student_surprisal"].sum())
    # a rerun reuses every score (same model, same text): identical values
    score.main(p, lake)
    again = pl.from_arrow(lake.read("trajectory_scores")).sort("trajectory_id")
    assert again["student_rsr"].to_list() == ts.sort("trajectory_id")["student_rsr"].to_list()
    # teacher auto → RSR (no smoke tests); the rsr recipe keeps per question the lowest-RSR trajectory
    m = select.main(p.model_copy(update={"select": p.select.model_copy(update={"recipe": "rsr", "teacher": "all",
                                                                                 "require_format": False})}), lake)
    assert m["teacher"]["metric"] == "rsr"
    vals = [r["value"] for r in m["teacher"]["ranking"]]
    assert vals == sorted(vals)  # lower RSR ranks first
    sel = pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'")).filter(pl.col("kept"))
    ok = teach.filter(pl.col("correct") == True)
    best = ok.sort(["student_rsr", "trajectory_id"]).group_by("question_id", maintain_order=True).first()
    assert set(sel["trajectory_id"]) == set(best["trajectory_id"]) and sel.height == 3
    from datasets import load_from_disk

    assert len(load_from_disk(str(tmp_path / "corpus" / "hf"))) == 3


def test_recipes_need_their_scores(lake, tmp_path, monkeypatch):
    from ded.selectors.recipes import RecipeError

    monkeypatch.chdir(tmp_path)
    _lake(lake)
    score.main(_params(tmp_path), lake)
    p = _params(tmp_path)
    with pytest.raises(RecipeError, match="student_scores.enabled"):
        select.main(p.model_copy(update={"select": p.select.model_copy(update={"recipe": "rsr"})}), lake)


def test_plain_rerun_keeps_student_scores(lake, tmp_path, tiny_model_dir, monkeypatch):
    """`ded score` with student scoring off (every profile) carries the earlier scores forward, so the
    rsr recipe still works and the next enabled run recomputes nothing; a changed text or another
    scoring model or setting is not carried."""
    from ded.scorers import student

    monkeypatch.chdir(tmp_path)
    _lake(lake)
    on = {"enabled": True, "model": str(tiny_model_dir), "device": "cpu", "chunk_tokens": 16}
    p_on = _params(tmp_path, student_scores=on)
    score.main(p_on, lake)
    first = pl.from_arrow(lake.read("trajectory_scores")).sort("trajectory_id")
    scored = first.filter(pl.col("student_rsr").is_not_null())
    assert scored.height == 9 and scored["student_scorer"].str.contains("rank_cap=100").all()
    ms_on = pl.from_arrow(lake.read("model_scores")).filter((pl.col("domain") == "all") & (pl.col("band") == "all"))

    p_off = _params(tmp_path, student_scores={"model": str(tiny_model_dir)})  # enabled: false, as in every profile
    score.main(p_off, lake)
    kept = pl.from_arrow(lake.read("trajectory_scores")).sort("trajectory_id")
    cols = ["trajectory_id", "student_model", "student_text_hash", "student_rsr", "student_entropy", "student_tokens"]
    assert kept.select(cols).equals(first.select(cols))
    ms_off = pl.from_arrow(lake.read("model_scores")).filter((pl.col("domain") == "all") & (pl.col("band") == "all"))
    assert ms_off.sort("model")["mean_student_rsr"].to_list() == \
        pytest.approx(ms_on.sort("model")["mean_student_rsr"].to_list(), nan_ok=True)
    m = select.main(p_off.model_copy(update={"select": p_off.select.model_copy(
        update={"recipe": "rsr", "teacher": "all", "require_format": False})}), lake)
    assert m["teacher"]["metric"] == "rsr"

    # the next enabled run reuses every carried score: the model is never called
    def boom(*a, **k):
        raise AssertionError("student model ran although every score was cached")

    monkeypatch.setattr(student.StudentScorer, "score", boom)
    monkeypatch.setattr(student.StudentScorer, "score_many", boom)
    score.main(p_on, lake)
    assert pl.from_arrow(lake.read("trajectory_scores")).sort("trajectory_id")["student_rsr"].to_list() == \
        first["student_rsr"].to_list()

    # another scoring model (or other scorer settings): nothing stale is carried
    for other in ({"model": str(tmp_path / "another-student")},
                  {"model": str(tiny_model_dir), "rank_cap": 10}):
        score.main(_params(tmp_path, student_scores=other), lake)
        assert "student_rsr" not in lake.dataset("trajectory_scores").schema.names
        ms = pl.from_arrow(lake.read("model_scores"))
        assert ms["mean_student_rsr"].is_null().all() and ms["rsr_source"].is_null().all()
        monkeypatch.undo()
        monkeypatch.chdir(tmp_path)
        score.main(p_on, lake)  # back to the original scores (computed again: the cache was dropped)
        monkeypatch.setattr(student.StudentScorer, "score", boom)
        monkeypatch.setattr(student.StudentScorer, "score_many", boom)

    # a trajectory whose text changed loses its score; the others keep theirs
    tid = scored["trajectory_id"][0]
    lake.merge("trajectories", [{**lake.read("trajectories", filter=f"trajectory_id = '{tid}'").to_pylist()[0],
                                 "reasoning": "an edited trace"}], update=True)
    score.main(p_off, lake)
    after = pl.from_arrow(lake.read("trajectory_scores")).filter(pl.col("student_rsr").is_not_null())
    assert tid not in after["trajectory_id"].to_list() and after.height == 8
