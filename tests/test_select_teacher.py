"""Teacher ranking (`select.teacher: auto`): a metric that does not separate the candidates cannot rank them."""

from __future__ import annotations

import logging

import polars as pl

from ded.selectors.teacher import choose_teachers, rank_teachers


def scores(**cols) -> pl.DataFrame:
    """model_scores' overall rows for three teachers whose names sort against their accuracy, plus a student."""
    models = ["alpha", "beta", "gamma", "stu"]
    base = {"model": models, "domain": ["all"] * 4, "band": ["all"] * 4,
            "is_student": [False, False, False, True], "n": [9] * 4,
            "accuracy": [0.5, 0.7, 0.9, 0.2]}
    for k, v in cols.items():
        base[k] = pl.Series(k, v, dtype=pl.Float64)
    return pl.DataFrame(base)


def order(ranking):
    return [r["model"] for r in ranking]


def test_auto_skips_a_smoke_score_without_spread_and_says_so(caplog):
    # the demo's tiny student scores 0 in every smoke test: smoke would rank by model name (alpha first)
    caplog.set_level(logging.WARNING, logger="ded.selectors.teacher")
    metric, ranking = rank_teachers(scores(smoke_score=[0.0, 0.0, 0.0, None]), "auto")
    assert metric == "accuracy"
    assert order(ranking) == ["gamma", "beta", "alpha"] and choose_teachers("auto", ranking) == ["gamma"]
    msg = caplog.text
    assert "smoke skipped: smoke_score is 0 for every candidate (no spread)" in msg
    assert "ranked by accuracy" in msg and "smoke > rsr > entropy > accuracy" in msg


def test_auto_falls_through_to_the_next_metric_with_spread(caplog):
    caplog.set_level(logging.WARNING, logger="ded.selectors.teacher")
    # smoke has no spread; RSR (lower is better) does, and outranks accuracy
    metric, ranking = rank_teachers(scores(smoke_score=[0.25, 0.25, 0.25, None],
                                           mean_student_rsr=[1.0, 3.0, 2.0, 5.0]), "auto")
    assert metric == "rsr" and order(ranking) == ["alpha", "gamma", "beta"]
    assert "smoke skipped" in caplog.text and "ranked by rsr" in caplog.text
    # a smoke score for only one of three candidates does not compare them either
    caplog.clear()
    metric, ranking = rank_teachers(scores(smoke_score=[0.9, None, None, None]), "auto")
    assert metric == "accuracy" and order(ranking)[0] == "gamma"
    assert "only one of the 3 candidates has a smoke_score" in caplog.text


def test_auto_with_an_informative_smoke_score_is_silent(caplog):
    caplog.set_level(logging.WARNING, logger="ded.selectors.teacher")
    metric, ranking = rank_teachers(scores(smoke_score=[0.6, 0.1, 0.3, None]), "auto")
    assert metric == "smoke" and order(ranking) == ["alpha", "gamma", "beta"]
    # a metric nobody computed (RSR without student scores) is passed over without a warning of its own
    metric, _ = rank_teachers(scores(), "auto")
    assert metric == "accuracy"
    assert caplog.text == ""


def test_accuracy_alone_is_a_warning_that_says_how_to_get_a_student_signal():
    from ded.selectors.teacher import accuracy_fallback_warning

    metric, ranking = rank_teachers(scores(), "auto")
    w = accuracy_fallback_warning("auto", "auto", metric, ranking)
    assert w and "chose 'gamma' by verified accuracy alone" in w
    assert "no candidate has a smoke-test score, an RSR or an entropy under the student" in w
    assert "`ded smoke`" in w and "score.student_scores.enabled: true" in w
    # signals that exist but tie are named
    metric, ranking = rank_teachers(scores(smoke_score=[0.0, 0.0, 0.0, None]), "auto")
    assert "(smoke_score) do not separate the candidates" in accuracy_fallback_warning("auto", "auto", metric, ranking)
    # a ranking by a student signal, accuracy asked for by name, or a teacher named: no warning
    metric, ranking = rank_teachers(scores(smoke_score=[0.6, 0.1, 0.3, None]), "auto")
    assert accuracy_fallback_warning("auto", "auto", metric, ranking) is None
    metric, ranking = rank_teachers(scores(), "accuracy")
    assert accuracy_fallback_warning("auto", "accuracy", metric, ranking) is None
    assert accuracy_fallback_warning("alpha", "auto", "accuracy", ranking) is None


def test_explicit_metric_without_spread_is_kept_with_a_warning_and_ties_broken_by_later_metrics(caplog):
    caplog.set_level(logging.WARNING, logger="ded.selectors.teacher")
    metric, ranking = rank_teachers(scores(smoke_score=[0.0, 0.0, 0.0, None]), "smoke")
    assert metric == "smoke"  # what was asked for
    assert order(ranking) == ["gamma", "beta", "alpha"]  # ties by the later metrics (accuracy), not by name
    assert "select.teacher_metric: smoke cannot rank the teachers: smoke_score is 0 for every candidate" in caplog.text
    assert "rsr then entropy then accuracy then model name" in caplog.text


def test_no_metric_separates_the_teachers(caplog):
    caplog.set_level(logging.WARNING, logger="ded.selectors.teacher")
    df = scores(smoke_score=[0.0, 0.0, 0.0, None]).with_columns(pl.lit(0.5).alias("accuracy"))
    metric, ranking = rank_teachers(df, "auto")
    assert metric == "accuracy" and order(ranking) == ["alpha", "beta", "gamma"]
    assert "no metric separates the candidates, so ties are broken by model name" in caplog.text
