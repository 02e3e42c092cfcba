"""`ded select` on a synthetic lake with planted facts (ded, limo, s1k recipes; teacher choice; export)."""

from __future__ import annotations

import json
import logging

import numpy as np
import polars as pl
import pytest
from lake_builder import LakeBuilder

from ded.params import parse_params
from ded.stages import score, select
from ded.stages.select import SelectError

RICH = ("Let me verify this carefully. Wait, perhaps another approach works: suppose we check the "
        "parity. Therefore the sum is even, hence the claim; let me double-check again. ")
COPY = "We add the numbers one by one and obtain the total, which is the answer we report here. "


def build(lake, student_pass: dict[str, float]):
    """12 questions (6 math M0-M5, 6 code C0-C5); teacher `good` has, per question: one wrong, one
    unfinished, one with bad format, one too long, 3 near-copies and 2 planted distinct traces;
    teacher `bad` answers 4 times with idx % 5 correct; the student answers twice."""
    b = LakeBuilder()
    facts: dict[str, dict] = {"qid": {}, "distinct": set(), "copies": set(), "rejects": {}, "rich": {}}
    for dom, prefix in (("math", "M"), ("code", "C")):
        for i in range(6):
            name = f"{prefix}{i}"
            q = b.add_question(f"Question {name}: what is {i} + {i}?", domain=dom, answer=str(2 * i))
            facts["qid"][name] = q
            facts["rejects"][b.add(q, "good", correct=False, reasoning=f"wrong {name}")] = "correct"
            facts["rejects"][b.add(q, "good", response=f"<think>\nunfinished {name} " + "x " * 50, reasoning=None,
                                   finish_reason="length")] = "finished"
            facts["rejects"][b.add(q, "good", format_ok=False, reasoning=f"bad format {name}")] = "format_ok"
            facts["rejects"][b.add(q, "good", n_tokens=20_000, reasoning=f"too long {name}")] = "max_tokens"
            for k in range(3):
                facts["copies"].add(b.add(q, "good", reasoning=COPY * 6 + f"{k}", n_tokens=900 + k))
            rich = b.add(q, "good", reasoning=RICH * 8 + name, n_tokens=3000)
            facts["rich"][name] = rich
            other = b.add(q, "good", reasoning=f"Direct formula for {name}: {i} times two is {2 * i}, done.", n_tokens=200)
            facts["distinct"] |= {rich, other}
            for k in range(4):
                b.add(q, "bad", correct=k < i % 5, reasoning=f"bad {name} {k}", n_tokens=500)
            solved = round(2 * student_pass.get(name, 0.0))
            for k in range(2):
                b.add(q, "stu", correct=k < solved, reasoning=f"student {name} {k}")
    b.write(lake)
    return facts


def vectors(lake, facts):
    """Question embeddings in two planted clusters per domain: {0,1,2} near e0, {3,4,5} near e1."""
    rng = np.random.default_rng(0)
    rows = []
    for name, q in sorted(facts["qid"].items()):
        base = np.eye(8)[0 if int(name[1]) < 3 else 1]
        rows.append({"id": q, "chunk": 0, "vector": (base + 0.01 * rng.standard_normal(8)).astype(np.float32).tolist(),
                     "embedding_model": "planted", "text_hash": "x"})
    lake.append("question_vectors", rows)


def params_for(tmp_path, **select_over):
    sel = {"budget": 10, "p": 3, "student_pass_max": 0.5, "export": {"out_dir": str(tmp_path / "corpus"), "hf_dataset": False}}
    sel.update(select_over)
    return parse_params({"models": [{"name": "stu", "model": "none"}], "student": {"model": "stu"},
                         "score": {"verifiers": ["math"]}, "select": sel})


@pytest.fixture
def planted(lake, tmp_path):
    facts = build(lake, {"M0": 1.0, "M1": 1.0, "C0": 1.0, "M2": 0.5})
    vectors(lake, facts)
    lake.append("smoke_results", [{"model": "good", "benchmark": "aime24", "score": 0.7, "n": 30},
                                  {"model": "bad", "benchmark": "aime24", "score": 0.3, "n": 30}])
    score.main(params_for(tmp_path), lake)
    return lake, facts


def _sel(lake, run_id):
    return pl.from_arrow(lake.read("selection", filter=f"run_id = '{run_id}'"))


def test_ded_recipe_planted_facts(planted, tmp_path, caplog):
    lake, facts = planted
    m = select.main(params_for(tmp_path), lake)
    # auto picks the planted best teacher by smoke test, though `bad` has no wrong answers on easy questions
    assert m["teacher"]["metric"] == "smoke" and m["teacher"]["chosen"] == ["good"]
    assert [r["model"] for r in m["teacher"]["ranking"]] == ["good", "bad"]
    sel = _sel(lake, m["run_id"])
    kept = sel.filter(pl.col("kept"))
    # the budget is met exactly with the asked mix
    assert kept.height == 10 and m["by_domain"] == {"code": 5, "math": 5} and m["shortfall"] == 0
    assert sorted(kept["rank"].to_list()) == list(range(1, 11))
    # wrong, unfinished, badly formatted and too long trajectories are never selected, each dropped by its filter
    for tid, step in facts["rejects"].items():
        row = sel.filter(pl.col("trajectory_id") == tid).row(0, named=True)
        assert not row["kept"] and row["dropped_by"] == step
    # compression drops exactly the questions the student solves above the threshold (M0, M1, C0; M2 at 0.5 stays)
    compressed = set(sel.filter(pl.col("dropped_by") == "compression")["question_id"].unique().to_list())
    assert compressed == {facts["qid"][n] for n in ("M0", "M1", "C0")}
    # farthest-P (P=3) over 5 survivors keeps both planted distinct traces and exactly one near-copy
    fp = sel.filter(pl.col("dropped_by").is_null() | (pl.col("dropped_by") == "budget"))
    for qid, ids in fp.group_by("question_id").agg("trajectory_id").iter_rows():
        ids = set(ids)
        assert len(ids) == 3 and len(ids & facts["distinct"]) == 2 and len(ids & facts["copies"]) == 1, qid
    # k-center: the first two math questions come from different planted clusters
    order = kept.filter(pl.col("domain") == "math").sort("rank")["question_id"].unique(maintain_order=True).to_list()
    names = {v: k for k, v in facts["qid"].items()}
    assert (int(names[order[0]][1]) < 3) != (int(names[order[1]][1]) < 3)
    # reasons carry every filter and score
    r = json.loads(kept.row(0, named=True)["reasons"])
    assert r["filters"]["correct"] and r["filters"]["compression"] and r["filters"]["budget"]
    assert {"student_pass_rate", "n_tokens", "lev_min_dist", "pick"} <= set(r["scores"])


def test_domain_mix_and_shortfall(planted, tmp_path, caplog):
    lake, _facts = planted
    m = select.main(params_for(tmp_path, domain_mix={"math": 0.7, "code": 0.3}), lake)
    assert m["rows"] == 10 and m["by_domain"] == {"code": 3, "math": 7}
    with caplog.at_level(logging.WARNING):
        m = select.main(params_for(tmp_path, budget=100), lake)
    # math: 4 questions x 3, code: 5 x 3 = 27 rows survive; 73 short, said loudly
    assert m["rows"] == 27 and m["shortfall"] == 73
    assert "fewer than the budget of 100" in caplog.text


def test_reproducible_and_idempotent(planted, tmp_path):
    lake, _facts = planted
    p1 = params_for(tmp_path / "a")
    m1 = select.main(p1, lake)
    m2 = select.main(params_for(tmp_path / "b"), lake)
    assert m1["run_id"] == m2["run_id"] and m1["written"] and not m2["written"]
    a = (tmp_path / "a" / "corpus" / "train.jsonl").read_bytes()
    assert a == (tmp_path / "b" / "corpus" / "train.jsonl").read_bytes()
    assert m1["train_jsonl_sha256"] == m2["train_jsonl_sha256"]
    first = json.loads(a.splitlines()[0])
    assert [x["role"] for x in first["messages"]] == ["user", "assistant"]
    assert first["messages"][1]["content"].startswith("<think>\n") and "</think>\n\n" in first["messages"][1]["content"]
    manifest = json.loads((tmp_path / "a" / "corpus" / "manifest.json").read_text())
    assert manifest["rows"] == 10 and manifest["input_versions"]["trajectory_scores"] is not None
    assert manifest["sources"] == [{"source": "synthetic", "license": "CC0-1.0", "rows": 10}]
    m3 = select.main(params_for(tmp_path / "c", p=2), lake)
    assert m3["run_id"] != m1["run_id"]  # params are part of the run id
    assert _sel(lake, m1["run_id"]).height == 12 * 13  # every teacher candidate is recorded


def test_explain(planted, tmp_path):
    from ded.selectors.explain import ExplainError, explain

    lake, facts = planted
    select.main(params_for(tmp_path), lake)
    wrong = next(t for t, s in facts["rejects"].items() if s == "correct")
    text = explain(lake, wrong)
    assert "DROPPED by correct" in text and "correct=FAIL" in text and "compression=" in text
    text = explain(lake, facts["qid"]["M0"])
    assert "0 of 13 trajectories kept" in text and "compression" in text
    with pytest.raises(ExplainError):
        explain(lake, "t_nope")
    # an unknown run is named as such (not "not a candidate of run …"), and a run id is a value, not SQL
    with pytest.raises(ExplainError, match=r"selection run 'sel_nosuch' is not in lake .*\(ded, "):
        explain(lake, wrong, "sel_nosuch")
    with pytest.raises(ExplainError, match="is not in lake"):
        explain(lake, wrong, "x' OR run_id LIKE '%")


def test_teacher_choice_by_name_and_all(planted, tmp_path):
    from ded.selectors.teacher import TeacherError

    lake, _facts = planted
    m = select.main(params_for(tmp_path, teacher="bad", diversity="none"), lake)
    assert m["teacher"]["chosen"] == ["bad"] and set(m["by_model"]) == {"bad"}
    m = select.main(params_for(tmp_path, teacher="all", diversity="none"), lake)
    assert m["teacher"]["chosen"] == ["good", "bad"]
    with pytest.raises(TeacherError, match="not a scored model"):
        select.main(params_for(tmp_path, teacher="nobody"), lake)


def test_limo_recipe(planted, tmp_path):
    lake, facts = planted
    m = select.main(params_for(tmp_path, recipe="limo", teacher="good", budget=4,
                               limo={"reference_models": ["bad"], "min_correct": 1, "max_correct": 3}), lake)
    sel = _sel(lake, m["run_id"])
    window = set(sel.filter(pl.col("dropped_by") == "solve_window")["question_id"].unique().to_list())
    # `bad` solves question i idx % 5 times of 4: i = 0, 4, 5 (0, 4, 0 correct) are outside 1-3
    assert window == {facts["qid"][f"{p}{i}"] for p in "MC" for i in (0, 4, 5)}
    kept = sel.filter(pl.col("kept"))
    assert kept.height == 4 and set(kept["trajectory_id"]) <= set(facts["rich"].values())  # best rule score


def test_a_recipe_that_selects_nothing_fails_and_says_why(planted, tmp_path):
    """LIMO's window (1-3 correct, out of 32 samples of one strong model) on a lake where the reference
    models solve every question more often: an error that names the step, the solve counts and the fix,
    with the candidates still recorded (explainable) and no empty corpus written over the old one."""
    lake, facts = planted
    p = params_for(tmp_path, recipe="limo", teacher="good", budget=4, limo={"reference_models": ["good"]})
    with pytest.raises(SelectError) as e:
        select.main(p, lake)
    msg = str(e.value)
    # 12 questions x (3 near-copies, the rich and the direct trace) reach the window
    assert "recipe limo selected nothing: step solve_window dropped the last 60 candidates" in msg
    # `good` answers each question 9 times, all but the planted wrong one correct
    assert "9 attempts and was solved 8 times (questions by solve count: 8: 12), none within 1-3" in msg
    assert "select.limo.reference_models" in msg and "{min_correct: 8, max_correct: 8}" in msg
    assert "teacher 156→108" in msg and "solve_window 60→0. Nothing was exported" in msg
    assert not (tmp_path / "corpus" / "train.jsonl").exists()
    run = msg.split("--run-id ")[1].split()[0].rstrip(")`;,")
    assert _sel(lake, run).height == 12 * 13 and _sel(lake, run)["kept"].sum() == 0
    # a reference model that never answered: said so
    with pytest.raises(SelectError, match=r"reference models \['nobody'\] have no scored trajectories"):
        select.main(params_for(tmp_path, recipe="limo", teacher="good", limo={"reference_models": ["nobody"]}), lake)


def test_s1k_recipe_samples_reproducibly(planted, tmp_path):
    lake, facts = planted
    p = {"recipe": "s1k", "teacher": "good", "budget": 6, "s1k": {"solver_models": ["stu"]}}
    m1 = select.main(params_for(tmp_path / "a", **p), lake)
    select.main(params_for(tmp_path / "b", **p), lake)
    assert (tmp_path / "a/corpus/train.jsonl").read_bytes() == (tmp_path / "b/corpus/train.jsonl").read_bytes()
    sel = _sel(lake, m1["run_id"])
    solved = set(sel.filter(pl.col("dropped_by") == "not_solved_by_solvers")["question_id"].unique().to_list())
    assert solved == {facts["qid"][n] for n in ("M0", "M1", "C0", "M2")}  # the student solved these at least once
    kept = sel.filter(pl.col("kept"))
    assert kept.height == 6 and kept["question_id"].n_unique() == 6
    assert not set(kept["trajectory_id"]) & {t for t, s in facts["rejects"].items() if s != "correct"}
    m3 = select.main(params_for(tmp_path / "c", seed=1, **p), lake)
    assert m3["run_id"] != m1["run_id"]


def test_missing_scores_say_what_to_run(lake, tmp_path):
    from ded.stages.select import SelectError

    with pytest.raises(SelectError, match="run `ded score` first"):
        select.main(params_for(tmp_path), lake)
    build(lake, {})
    score.main(params_for(tmp_path), lake)
    with pytest.raises(SelectError, match="ded embed"):
        select.main(params_for(tmp_path), lake)  # kcenter without question vectors


def test_cli_score_select_explain(planted, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from ded.cli import app

    lake, facts = planted
    pf = tmp_path / "params.yaml"
    p = params_for(tmp_path).model_dump(mode="json")
    pf.write_text(yaml.safe_dump(p))
    run = CliRunner()
    base = ["--lake", lake.root, "--params", str(pf)]
    r = run.invoke(app, [*base, "score"])
    assert r.exit_code == 0, r.output
    assert "score: 180 trajectories of 12 questions by 3 models" in r.output and "teachers by smoke" in r.output
    r = run.invoke(app, [*base, "select", "--budget", "12"])
    assert r.exit_code == 0, r.output
    assert "select: 12 rows" in r.output and "compression" in r.output
    r = run.invoke(app, [*base, "select", "--explain", facts["qid"]["C0"]])
    assert r.exit_code == 0 and "DROPPED by compression" in r.output
    r = run.invoke(app, [*base, "select", "--budget", "500"])
    assert r.exit_code == 0 and "WARNING: recipe ded found only 27 rows" in r.output


def test_s1k_judges_difficulty_only_where_the_solvers_answered(planted, tmp_path, caplog):
    """A solver model with no answers in the lake must not make every question look hard (s1 keeps only what
    its solvers fail); a domain key the questions lack and a non-uniform domain_mix are warned about."""
    lake, _ = planted
    with pytest.raises(SelectError, match=r"solvers_attempted.*select.s1k.solver_models \['nobody'\].*ded generate"):
        select.main(params_for(tmp_path / "a", recipe="s1k", teacher="good", budget=6,
                               s1k={"solver_models": ["nobody"]}), lake)
    m = select.main(params_for(tmp_path / "b", recipe="s1k", teacher="good", budget=6,
                               s1k={"solver_models": ["stu"], "domain_key": "metadata.subject"},
                               domain_mix={"math": 0.7, "code": 0.3}), lake)
    steps = {s["step"]: s for s in m["steps"]}
    assert steps["solvers_attempted"]["in"] == steps["solvers_attempted"]["out"] > 0  # `stu` answered every question
    assert "domain_key='metadata.subject' is empty for 100% of the candidates" in caplog.text
    assert "recipe s1k draws domains uniformly" in caplog.text


def test_limo_first_pass_drops_what_the_weak_model_solves(planted, tmp_path):
    """LIMO's first pass: questions a weaker model solves are too easy, before the strong model's solve window."""
    lake, facts = planted
    base = {"recipe": "limo", "teacher": "good", "limo": {"min_correct": 0, "max_correct": 99}}
    plain = select.main(params_for(tmp_path / "a", **base), lake)
    m = select.main(params_for(tmp_path / "b", **{**base, "limo": {**base["limo"], "weak_models": ["stu"]}}), lake)
    sel = _sel(lake, m["run_id"])
    easy = set(sel.filter(pl.col("dropped_by") == "not_easy")["question_id"].unique().to_list())
    assert easy == {facts["qid"][n] for n in ("M0", "M1", "C0", "M2")}  # the student solved these at least once
    kept = set(sel.filter(pl.col("kept"))["question_id"].to_list())
    assert kept and not kept & easy
    assert easy & set(_sel(lake, plain["run_id"]).filter(pl.col("kept"))["question_id"].to_list())  # kept without it
    with pytest.raises(SelectError, match=r"select.limo.weak_models \['nobody'\]"):
        select.main(params_for(tmp_path / "c", **{**base, "limo": {**base["limo"], "weak_models": ["nobody"]}}), lake)


def test_s1k_keeps_only_the_domains_of_domain_mix(planted, tmp_path):
    """s1k draws uniformly among domains, but only among those select.domain_mix lets in ({math: 1}: no code)."""
    lake, _ = planted
    m = select.main(params_for(tmp_path, recipe="s1k", teacher="good", budget=6, domain_mix={"math": 1.0}), lake)
    assert m["by_domain"] == {"math": 6}
    sel = _sel(lake, m["run_id"])
    code = sel.filter(pl.col("domain") == "code")
    assert code.height and not code["kept"].any() and "domain_mix" in set(code["dropped_by"].to_list())
    assert all(json.loads(r)["filters"]["domain_mix"] is False for r in code["reasons"])
    assert {s["step"] for s in m["steps"]} >= {"domain_mix", "s1k_sample"}


def test_auto_teacher_by_accuracy_alone_is_warned_about(lake, tmp_path, caplog):
    """No smoke test and no student scores: `select.teacher: auto` falls back to accuracy and says so, with how to
    get a student signal, on the console, in the manifest, in the teacher step and in every row's reasons."""
    import yaml
    from typer.testing import CliRunner

    from ded.cli import app

    build(lake, {})
    score.main(params_for(tmp_path), lake)
    caplog.set_level(logging.WARNING)
    m = select.main(params_for(tmp_path, diversity="none"), lake)
    w = m["teacher"]["warning"]
    assert m["teacher"]["metric"] == "accuracy" and w and "by verified accuracy alone" in w
    assert "`ded smoke`" in w and "score.student_scores.enabled: true" in w
    assert w in caplog.text
    step = next(s for s in m["steps"] if s["step"] == "teacher")
    assert "no student signal" in step["why"]
    reasons = json.loads(_sel(lake, m["run_id"])["reasons"][0])
    assert reasons["teacher"] == {"metric": "accuracy", "no_student_signal": True}
    pf = tmp_path / "params.yaml"
    pf.write_text(yaml.safe_dump(params_for(tmp_path, diversity="none").model_dump(mode="json")))
    r = CliRunner().invoke(app, ["--lake", lake.root, "--params", str(pf), "select"])
    assert r.exit_code == 0, r.output
    assert "WARNING: select.teacher: auto chose" in r.output
    # a smoke score that ranks the teachers: no warning
    lake.append("smoke_results", [{"model": "good", "benchmark": "aime24", "score": 0.7, "n": 30},
                                  {"model": "bad", "benchmark": "aime24", "score": 0.3, "n": 30}])
    score.main(params_for(tmp_path), lake)
    m = select.main(params_for(tmp_path, diversity="none"), lake)
    assert m["teacher"]["metric"] == "smoke" and m["teacher"]["warning"] is None
