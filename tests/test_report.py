"""`ded report` from lake tables: sections with their numbers, and 'not yet computed' for missing tables."""

import json
import random
import re

import pytest

from ded.lake import Lake
from ded.report import write_report
from ded.report.data import gather, latest_selection_run
from ded.report.render import to_html, to_markdown

RUN = "sel_run_1"


def build_lake(root, n_q=40, per_q=4):
    """A small lake with planted facts: 40 questions (24 math, 16 code), 4 trajectories each, a selection that
    keeps 2 trajectories of every question whose student pass rate is <= 0.5, and two models."""
    rng = random.Random(0)
    lake = Lake(root)
    questions, trajs, sel, qs = [], [], [], []
    for i in range(n_q):
        qid = f"q{i:03d}"
        dom = "math" if i < 24 else "code"
        questions.append({"question_id": qid, "domain": dom, "source": f"src_{dom}", "problem": f"P{i}",
                          "license": "MIT"})
        student = (i % 5) / 4  # 0, .25, .5, .75, 1
        qs.append({"question_id": qid, "teacher_pass_rate": (i % 4) / 3, "student_pass_rate": student})
        for j in range(per_q):
            tid = f"t{i:03d}_{j}"
            model = "teacher-a" if j % 2 == 0 else "teacher-b"
            trajs.append({"trajectory_id": tid, "question_id": qid, "model": model, "sample_idx": j,
                          "response": "x" * rng.randint(100, 5000), "n_tokens": rng.randint(50, 4000)})
            if j == 3:
                dropped = "correct"
            elif student > 0.5:
                dropped = "student_pass_rate"
            elif j == 2:
                dropped = "farthest_p"
            else:
                dropped = None
            sel.append({"run_id": RUN, "trajectory_id": tid, "recipe": "ded", "question_id": qid,
                        "kept": dropped is None, "dropped_by": dropped, "rank": j,
                        # the recipe's steps in order (ded/selectors write reasons.filters ordered)
                        "reasons": json.dumps({"filters": {"correct": j != 3, "student_pass_rate": student <= 0.5,
                                                           "farthest_p": j != 2}, "scores": {}})})
    lake.append("questions", questions)
    lake.append("trajectories", trajs)
    lake.append("question_scores", qs)
    lake.append("selection", sel)
    lake.append("model_scores", [
        {"model": "teacher-a", "domain": "all", "band": "all", "accuracy": 0.71, "n": 80},
        {"model": "teacher-b", "domain": "all", "band": "all", "accuracy": 0.55, "n": 80},
        {"model": "teacher-a", "domain": "math", "band": "all", "accuracy": 0.9, "n": 48},
    ])
    return lake


def write_metrics(d):
    d.mkdir()
    lcb = {"benchmark": "lcb", "models": {"student": {
        "metrics": {"items": 3, "samples": 3, "samples_per_item": 1, "avg_at_n": 1 / 3, "avg_at_n_ci": [0.0, 1.0],
                    "pass_at_k": {"1": 1 / 3}, "ci_level": 0.95},
        "by_difficulty": {"easy": {"items": 2, "avg_at_n": 0.5}, "hard": {"items": 1, "avg_at_n": 0.0}},
        "notes": ["graded on public tests only (2.7 per problem on average)"]}}}
    (d / "lcb.json").write_text(json.dumps(lcb))
    doc = {"benchmark": "aime24", "models": {"student": {
        "metrics": {"items": 30, "samples": 480, "samples_per_item": 16, "avg_at_n": 0.4125,
                    "avg_at_n_ci": [0.30, 0.52], "pass_at_k": {"1": 0.4125, "16": 0.7}, "ci_level": 0.95},
        "notes": []}}}
    (d / "aime24.json").write_text(json.dumps(doc))


def test_sections_carry_the_planted_numbers(tmp_path):
    lake = build_lake(tmp_path / "lake")
    write_metrics(tmp_path / "metrics")
    assert latest_selection_run(lake) == RUN
    data = gather(lake, metrics_dir=tmp_path / "metrics")
    funnel = [(r["step"], r["dropped"], r["remaining"]) for r in data.section("funnel").rows]
    # 40 questions x 4: one 'correct' drop each (40); student_pass_rate > .5 for i%5 in {3,4}: 16 questions x 3;
    # the other 24 questions: one farthest_p drop and two kept. Steps come in the recipe's order, not by size.
    assert funnel == [("correct", 40, 120), ("student_pass_rate", 48, 72), ("farthest_p", 24, 48),
                      ("kept", None, 48)]
    mix = data.section("mix")
    assert sum(r["trajectories"] for r in mix.rows if r["domain"] == "math") == 2 * 15  # i<24 with i%5<3
    assert "math 30 (62%)" in mix.text and "code 18 (38%)" in mix.text
    lb = data.section("leaderboard")
    assert [r["model"] for r in lb.rows] == ["teacher-a", "teacher-b"] and "accuracy" in lb.text
    pvs = {r["group"]: r for r in data.section("pass_vs_selection").rows}
    assert pvs["selected"]["questions"] == 24 and pvs["not selected"]["questions"] == 16
    assert pvs["not selected"]["mean student_pass_rate"] == pytest.approx((0.75 + 1.0) / 2)
    ev = data.section("evaluation").rows
    assert ev[0]["benchmark"] == "aime24" and ev[0]["95% CI"] == "[0.300, 0.520]"
    assert ev[1]["note"] == "by difficulty: easy 0.500 (2), hard 0.000 (1); graded on public tests only (2.7 per problem on average)"
    assert "160 trajectories" in data.section("lengths").text and "48 selected" in data.section("lengths").text
    assert all(s.missing is None for s in data.sections), [s.missing for s in data.sections if s.missing]


def test_html_is_self_contained_and_card_has_the_tables(tmp_path):
    lake = build_lake(tmp_path / "lake")
    write_metrics(tmp_path / "metrics")
    paths = write_report(lake, out_dir=tmp_path / "out", metrics_dir=tmp_path / "metrics")
    html = paths["html"].read_text()
    assert html.count("<svg") >= 6  # funnel, leaderboard, difficulty, lengths, pass-vs-selection, mix, eval
    # nothing the browser would fetch: no src/href outside the page, no script, no @import or url()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", html), "external reference in the report"
    assert "<script" not in html and "@import" not in html and "url(" not in html
    card = paths["card"].read_text()
    assert "| recipe | step | dropped | remaining | share dropped |" in card
    assert "| ded | correct | 40 | 120 | 25.0% |" in card and "| ded | kept |  | 48 | kept 30.0% |" in card
    assert "| aime24 | student | 30 | 16 | 0.4125 | [0.300, 0.520] |" in card


def test_missing_tables_name_the_command(tmp_path):
    lake = Lake(tmp_path / "empty")
    data = gather(lake, metrics_dir=tmp_path / "nometrics")
    missing = {s.key: s.missing for s in data.sections}
    assert "run `ded select`" in missing["funnel"]
    assert "run `ded score`" in missing["leaderboard"] and "run `ded score`" in missing["difficulty"]
    assert "run `ded evaluate`" in missing["evaluation"]
    assert "run `ded ingest`" in missing["lengths"]
    html, card = to_html(data), to_markdown(data)
    assert html.count("not yet computed") >= 6 and "_not yet computed: run `ded evaluate`" in card


def test_eval_samples_without_metrics_files(tmp_path):
    lake = Lake(tmp_path / "lake")
    rows = [{"run_id": "r", "benchmark": "math500", "item_id": f"i{i}", "sample_idx": s, "model": "m",
             "correct": [True, False, None][(i + s) % 3]} for i in range(4) for s in range(3)]
    lake.append("eval_samples", rows)
    ev = gather(lake, metrics_dir=tmp_path / "none").section("evaluation")
    # every item has one True, one False, one None -> 0.5 each; undecided left out
    assert ev.rows[0]["avg@n"] == 0.5 and ev.missing is None


def test_unknown_selection_run_is_an_error_that_lists_the_runs(tmp_path):
    from ded.errors import DedError

    lake = build_lake(tmp_path / "lake")
    with pytest.raises(DedError, match=r"selection run 'sel_nosuch' is not in lake .*sel_run_1 \(ded"):
        gather(lake, metrics_dir=tmp_path / "m", selection_run="sel_nosuch")
    with pytest.raises(DedError, match="has no selection yet"):
        gather(Lake(tmp_path / "empty"), metrics_dir=tmp_path / "m", selection_run="sel_run_1")
    assert not (tmp_path / "reports").exists()
    assert gather(lake, metrics_dir=tmp_path / "m", selection_run=RUN).selection_run == RUN


def test_lines_chart_places_points_and_rejects_bad_input():
    import pytest

    from ded.report.svg import lines

    svg = lines({"a": [(100, 0.2), (10, 0.1)], "b": [(100, 0.5)]}, title="t <x>", xlabel="size", ylabel="acc",
                log_x=True)
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 3
    assert "t &lt;x&gt;" in svg and "(log scale)" in svg and "<script" not in svg
    pts = svg.split('<polyline points="')[1].split('"')[0].split()
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in pts)
    assert x0 < x1 and y0 > y1  # sorted by x; the higher accuracy is drawn higher (smaller y)
    with pytest.raises(ValueError, match="positive"):
        lines({"a": [(0, 1.0)]}, title="t", xlabel="x", ylabel="y", log_x=True)
    with pytest.raises(ValueError, match="at least one point"):
        lines({"a": []}, title="t", xlabel="x", ylabel="y")


def test_an_empty_lake_is_an_error_not_an_empty_report(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "lake").mkdir()
    out = subprocess.run([sys.executable, "-m", "ded", "report"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120, check=False)
    assert out.returncode == 2 and out.stderr.startswith("error:") and "dvc repro" in out.stderr
    assert not (tmp_path / "reports").exists()
