"""sql/score/*.sql and sql/select/*.sql, each on a small fixture with the expected rows written out."""

from __future__ import annotations

import math

import polars as pl
import pyarrow as pa
import pytest
from lake_builder import LakeBuilder

from ded.schema import STUDENT_SCHEMA
from ded.sql import connect, run_sql_file
from ded.stages.score import materialize

P = {"verifiers": ["math", "judge"], "student": "stu", "chars_per_token": 3.5, "band_hard": 0.3, "band_easy": 0.7}


def _frame(con, table: str) -> pl.DataFrame:
    return pl.from_arrow(con.sql(f"SELECT * FROM {table}").to_arrow_table())


def _chain(con, upto: str, **over) -> pl.DataFrame:
    p = {**P, **over}
    for name in ["trusted_verdicts", "trajectory_scores", "answer_clusters", "question_scores"]:
        materialize(con, name, **p)
        if name == upto:
            break
    if upto == "model_scores":
        con.register("student_scores", STUDENT_SCHEMA.empty_table())
        materialize(con, "model_scores", **p)
    return _frame(con, upto)


@pytest.fixture
def fx(lake):
    b = LakeBuilder()
    q1 = b.add_question("What is 20 + 5?", answer="25")
    q2 = b.add_question("Print 7.", domain="code", answer="7")
    t = {}
    t["a"] = b.add(q1, "m1", correct=True, extracted="25")
    t["b"] = b.add(q1, "m1", correct=True, extracted="025")
    t["c"] = b.add(q1, "m2", correct=True, extracted=" $25$ ")
    t["d"] = b.add(q1, "m2", correct=False, extracted="07")
    t["e"] = b.add(q1, "m3", correct=False, extracted="7")
    t["f"] = b.add(q1, "m3", correct=None, extracted=None, status="timeout")  # undecidable
    t["s1"] = b.add(q1, "stu", correct=True, extracted="25")
    t["s2"] = b.add(q1, "stu", correct=False, extracted="1")
    t["g"] = b.add(q2, "m1", correct=False, extracted="\\left( 1 \\right)", n_tokens=None,
                   response="x" * 35, reasoning=None, format_ok=None, finish_reason="length")
    b.write(lake)
    # a second opinion on t_a from the judge (math decided first, so it is ignored) and on t_f
    lake.merge("verdicts", [
        {"trajectory_id": t["a"], "verifier": "judge", "status": "wrong", "correct": False, "extracted": "24"},
        {"trajectory_id": t["f"], "verifier": "judge", "status": "correct", "correct": True, "extracted": "25",
         "format_ok": True},
        {"trajectory_id": t["g"], "verifier": "imported", "status": "wrong", "correct": True, "format_ok": False},
    ])
    lake.append("contamination", [{"question_id": q2, "benchmark": "lcb", "item_id": "x1", "method": "ngram", "score": 1.0},
                                   {"question_id": q2, "benchmark": "aime24", "item_id": "x2", "method": "ngram", "score": 0.9}])
    lake.append("duplicates", [{"question_id": q1, "group_id": "g1", "representative": q1, "method": "exact"},
                               {"question_id": q2, "group_id": "g1", "representative": q1, "method": "exact"}])
    lake.append("smoke_results", [{"model": "m1", "benchmark": "aime24", "score": 0.4, "n": 30},
                                  {"model": "m1", "benchmark": "math500", "score": 0.8, "n": 500}])
    return lake, q1, q2, t


def test_trusted_verdicts(fx):
    lake, _q1, _q2, t = fx
    con = connect(lake, read_only=False)
    tv = {r["trajectory_id"]: r for r in _chain(con, "trusted_verdicts").to_dicts()}
    assert tv[t["a"]]["verifier"] == "math" and tv[t["a"]]["correct"] is True  # preferred verifier decided
    assert tv[t["f"]]["verifier"] == "judge" and tv[t["f"]]["correct"] is True  # math undecided → next decided one
    assert tv[t["g"]]["verifier"] == "math" and tv[t["g"]]["format_ok"] is False  # format from the untrusted verdict
    con2 = connect(lake, read_only=False)
    only = _chain(con2, "trusted_verdicts", verifiers=["imported"])
    assert only["trajectory_id"].to_list() == [t["g"]]  # imported labels only when asked


def test_trajectory_scores(fx):
    lake, _q1, _q2, t = fx
    con = connect(lake, read_only=False)
    ts = {r["trajectory_id"]: r for r in _chain(con, "trajectory_scores").to_dicts()}
    assert len(ts) == 9
    assert {ts[t[k]]["answer_key"] for k in "abc"} == {"=gold"}  # correct answers share one key
    assert ts[t["d"]]["answer_key"] == "7" and ts[t["e"]]["answer_key"] == "7"  # "07" = "7"
    assert ts[t["f"]]["answer_key"] == "=gold"  # the judge proved it correct
    assert ts[t["g"]]["answer_key"] == "(1)"  # \left \right and spaces removed
    assert ts[t["s1"]]["is_student"] and not ts[t["a"]]["is_student"]
    g = ts[t["g"]]
    assert g["n_tokens"] == 10 and g["n_tokens_estimated"]  # 35 chars / 3.5
    assert g["finished"] is False  # finish_reason = length
    assert g["format_ok"] is False and g["domain"] == "code"
    assert ts[t["a"]]["format_ok"] is True and ts[t["a"]]["finished"] is True and ts[t["a"]]["n_tokens"] == 1000


@pytest.mark.parametrize("response,fmt,finished", [
    ("<think>a</think>b", True, True),
    ("<think>a<think>b</think>c", False, True),
    ("</think>a<think>b", False, False),
    ("<think>never closed", False, False),
    ("<|begin_of_thought|>a<|end_of_thought|><|begin_of_solution|>b<|end_of_solution|>", True, True),
    ("<|begin_of_thought|>cut off", False, False),
    ("no markers at all", False, True),
])
def test_format_and_finished_from_text(lake, response, fmt, finished):
    b = LakeBuilder()
    q = b.add_question("q")
    b.add(q, "m", response=response, format_ok=None)
    b.write(lake)
    row = _chain(connect(lake, read_only=False), "trajectory_scores").row(0, named=True)
    assert (row["format_ok"], row["finished"], row["format_from_text"]) == (fmt, finished, True)


def test_answer_clusters(fx):
    lake, q1, _q2, _t = fx
    ac = _chain(connect(lake, read_only=False), "answer_clusters").filter(pl.col("question_id") == q1).sort("rank")
    # teachers' answered attempts of q1: a, b, c, f correct (one cluster), d, e = "7"; student left out
    assert ac.select("answer_key", "size", "is_correct", "rank").rows() == [("=gold", 4, True, 1), ("7", 2, False, 2)]
    assert ac["share"].to_list() == pytest.approx([4 / 6, 2 / 6])
    assert ac["label"].to_list() == ["25", "07"]  # most frequent raw text, ties: smallest


def test_question_scores(fx):
    lake, q1, q2, _t = fx
    qs = {r["question_id"]: r for r in _chain(connect(lake, read_only=False), "question_scores").to_dicts()}
    a = qs[q1]
    assert a["attempts"] == 8 and a["teacher_attempts"] == 6
    assert a["teacher_correct"] == 4 and a["teacher_undecided"] == 0  # the judge decided t_f
    assert a["teacher_pass_rate"] == pytest.approx(4 / 6)
    assert a["student_attempts"] == 2 and a["student_pass_rate"] == pytest.approx(0.5)
    assert a["n_models"] == 3 and a["n_models_correct"] == 3  # m3 through the judge on t_f
    assert a["n_clusters"] == 2 and a["majority_answer"] == "25" and a["majority_correct"]
    assert a["agreement"] == pytest.approx(4 / 6)
    assert a["answer_entropy"] == pytest.approx(-(4 / 6 * math.log2(4 / 6) + 2 / 6 * math.log2(2 / 6)))
    assert a["band"] == "medium" and not a["contaminated"] and not a["is_duplicate"] and a["duplicate_group"] == "g1"
    b = qs[q2]
    assert b["teacher_pass_rate"] == 0.0 and b["band"] == "hard" and b["student_pass_rate"] is None
    assert b["contaminated"] and b["contaminated_by"] == "aime24,lcb"
    assert b["is_duplicate"] and b["duplicate_of"] == q1


def test_question_scores_undecided_left_out(lake):
    b = LakeBuilder()
    q = b.add_question("q")
    b.add(q, "m", correct=True)
    b.add(q, "m", correct=None, status="timeout")
    b.add(q, "m", correct=False)
    b.write(lake)
    row = _chain(connect(lake, read_only=False), "question_scores").row(0, named=True)
    assert row["teacher_pass_rate"] == pytest.approx(0.5) and row["teacher_undecided"] == 1


def test_model_scores(fx):
    lake, _q1, _q2, _t = fx
    ms = _chain(connect(lake, read_only=False), "model_scores")
    m1 = {(r["domain"], r["band"]): r for r in ms.filter(pl.col("model") == "m1").to_dicts()}
    assert set(m1) == {("all", "all"), ("math", "all"), ("code", "all"), ("all", "medium"), ("all", "hard"),
                       ("math", "medium"), ("code", "hard")}
    assert m1[("all", "all")]["n"] == 3 and m1[("all", "all")]["accuracy"] == pytest.approx(2 / 3)
    assert m1[("math", "medium")]["accuracy"] == 1.0 and m1[("code", "hard")]["accuracy"] == 0.0
    assert m1[("all", "all")]["median_tokens"] == 1000 and m1[("all", "all")]["mean_tokens"] == pytest.approx(670)
    assert m1[("all", "all")]["format_ok_share"] == pytest.approx(2 / 3)
    assert m1[("all", "all")]["smoke_score"] == pytest.approx(0.6)  # mean over its two smoke benchmarks
    m3 = ms.filter((pl.col("model") == "m3") & (pl.col("domain") == "all") & (pl.col("band") == "all")).row(0, named=True)
    assert m3["undecided"] == 0 and m3["accuracy"] == 0.5 and m3["smoke_score"] is None
    stu = ms.filter(pl.col("model") == "stu")
    assert stu["is_student"].all()


def test_select_sql_files(fx):
    lake, q1, _q2, t = fx
    con = connect(lake, read_only=False)
    _chain(con, "question_scores")
    cand = pl.from_arrow(run_sql_file(con, "select/candidates", ref_models=["m1"], solver_models=["m3"],
                                      weak_models=["m3"]))
    assert cand.height == 7 and not cand["is_student"].any()  # the student's rollouts are not candidates
    r = cand.filter(pl.col("trajectory_id") == t["a"]).row(0, named=True)
    assert (r["ref_correct"], r["ref_attempts"], r["solver_correct"]) == (2, 2, 1)
    assert (r["solver_attempts"], r["weak_correct"], r["weak_attempts"]) == (2, 1, 2)  # m3: 1 of its 2 right
    assert r["student_pass_rate"] == pytest.approx(0.5) and r["source"] == "synthetic"
    g = cand.filter(pl.col("trajectory_id") == t["g"]).row(0, named=True)
    assert g["contaminated"] and g["is_duplicate"]
    every = pl.from_arrow(run_sql_file(con, "select/candidates", ref_models=[], solver_models=[], weak_models=[]))
    assert every.filter(pl.col("question_id") == q1)["ref_correct"].unique().to_list() == [4]
    con.register("wanted", pa.table({"trajectory_id": [t["a"], t["g"]]}))
    texts = dict(run_sql_file(con, "select/texts").to_pylist()[i].values() for i in range(2))
    assert texts == {t["a"]: "Let me think.", t["g"]: "x" * 35}  # reasoning, else the response
    con.register("kept", pa.table({"trajectory_id": [t["c"], t["a"]], "rank": [1, 2]}))
    rows = run_sql_file(con, "select/corpus_rows").to_pylist()
    assert [r["trajectory_id"] for r in rows] == [t["c"], t["a"]] and rows[0]["problem"] == "What is 20 + 5?"


def test_trajectory_n_tokens_prefers_the_generator_then_the_verifier_then_the_estimate(lake):
    """trajectories.n_tokens first, else the trusted verdict's token count, else chars / chars_per_token."""
    b = LakeBuilder()
    q = b.add_question("What is 1 + 1?", answer="2")
    gen = b.add(q, "m", correct=True, extracted="2", n_tokens=500)
    ver = b.add(q, "m", correct=True, extracted="2", n_tokens=None)
    est = b.add(q, "m", correct=True, extracted="2", n_tokens=None)
    b.write(lake)
    lake.merge("verdicts", [{"trajectory_id": gen, "verifier": "math", "n_tokens": 7},
                            {"trajectory_id": ver, "verifier": "math", "n_tokens": 123}], update=True)
    ts = {r["trajectory_id"]: r for r in _chain(connect(lake), "trajectory_scores").to_dicts()}
    assert (ts[gen]["n_tokens"], ts[gen]["n_tokens_estimated"]) == (500, False)
    assert (ts[ver]["n_tokens"], ts[ver]["n_tokens_estimated"]) == (123, False)
    assert ts[est]["n_tokens_estimated"] is True


def test_summary_sql_counts_what_score_prints(fx):
    """sql/score/summary.sql: one row of the counts `ded score` prints, over this run's temp tables."""
    from ded.stages.score import summarize

    lake, _q1, _q2, _t = fx
    con = connect(lake, read_only=False)
    _chain(con, "model_scores")
    s = summarize(con)
    ts = _frame(con, "trajectory_scores")
    assert s["trajectories"] == ts.height == 9
    assert s["correct"] == ts["correct"].fill_null(False).sum()
    assert s["undecidable"] == ts.filter(pl.col("verifier").is_not_null() & pl.col("correct").is_null()).height
    assert s["without_trusted_verdict"] == ts["verifier"].is_null().sum()
    assert s["n_tokens_estimated"] == 1  # t_g: no token count anywhere
    assert (s["questions"], s["contaminated"], s["duplicates"], s["with_student_rollouts"]) == (2, 1, 1, 1)
    assert s["models"] == 4  # m1, m2, m3 and the student, one 'all' row each
    assert set(s) == {"trajectories", "without_trusted_verdict", "undecidable", "correct", "n_tokens_estimated",
                      "format_from_text", "questions", "contaminated", "duplicates", "with_student_rollouts",
                      "benchmark_near_duplicates", "models"}


def test_stages_keep_their_sql_in_files():
    """Queries live in sql/<stage>/*.sql (run through ded.sql): no string in these modules, docstrings
    aside, is a query (the project writes SQL keywords in capitals). score's `materialize` keeps its
    CREATE TEMP TABLE wrapper: it stores a file's query under the file's name, as dbt does."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for mod in ["ded/stages/score.py", "ded/stages/verify.py", "ded/stages/generate.py", "ded/search/query.py"]:
        tree = ast.parse((root / mod).read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        hits = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and id(n) not in docs and re.search(r"\bSELECT\b", n.value)]
        assert not hits, f"{mod} builds SQL inline: {hits}; move it to sql/<stage>/<name>.sql"


def test_model_scores_student_entropy_token_weighted_and_smoke_fallback(fx):
    """mean_student_entropy weights each trajectory by its scored tokens (DED's per-token mean, as
    `ded smoke` computes it); a model without per-trajectory student scores takes its smoke run's
    student_entropy / student_rsr on its overall row, and *_source says where each came from."""
    lake, _q1, _q2, t = fx
    con = connect(lake, read_only=False)
    con.execute("DROP VIEW smoke_results")
    con.register("smoke_results", pa.table({
        "model": ["m1", "m3", "m3"], "benchmark": ["aime24", "aime24", "math500"], "score": [0.4, 0.2, 0.6],
        "n": [30, 30, 500], "student_entropy": [9.0, 0.4, 0.4], "student_rsr": [9.0, 1.5, 1.5],
        "trained_entropy": [0.1, 0.2, 0.2]}))
    _chain(con, "question_scores")
    stu = [{"trajectory_id": t["a"], "student_model": "stu", "student_text_hash": "h1", "student_tokens": 100,
            "student_entropy": 1.0, "student_rsr": 2.0, "student_surprisal": 1.0, "student_scorer": None},
           {"trajectory_id": t["b"], "student_model": "stu", "student_text_hash": "h2", "student_tokens": 300,
            "student_entropy": 0.5, "student_rsr": 4.0, "student_surprisal": 1.0, "student_scorer": None}]
    con.register("student_scores", pa.Table.from_pylist(stu, schema=STUDENT_SCHEMA))
    materialize(con, "model_scores", **P)
    ms = _frame(con, "model_scores")
    rows = {(r["model"], r["domain"], r["band"]): r for r in ms.to_dicts()}
    m1 = rows[("m1", "all", "all")]
    assert m1["mean_student_entropy"] == pytest.approx((1.0 * 100 + 0.5 * 300) / 400)  # not the plain 0.75
    assert m1["mean_student_rsr"] == pytest.approx(3.0) and m1["n_student_scored"] == 2
    assert (m1["entropy_source"], m1["rsr_source"]) == ("trajectories", "trajectories")  # its smoke values unused
    m3 = rows[("m3", "all", "all")]
    assert m3["mean_student_entropy"] == pytest.approx(0.4) and m3["mean_student_rsr"] == pytest.approx(1.5)
    assert (m3["entropy_source"], m3["rsr_source"]) == ("smoke", "smoke") and m3["n_student_scored"] == 0
    assert m3["smoke_score"] == pytest.approx(0.4)
    m3_parts = ms.filter((pl.col("model") == "m3") & ((pl.col("domain") != "all") | (pl.col("band") != "all")))
    assert m3_parts.height > 0 and m3_parts["mean_student_rsr"].is_null().all()  # smoke is not split by domain/band
    assert m3_parts["rsr_source"].is_null().all()
    m2 = rows[("m2", "all", "all")]
    assert m2["mean_student_rsr"] is None and m2["rsr_source"] is None  # neither source


def test_model_scores_rsr_is_the_papers_dataset_rsr(fx):
    """A teacher's RSR is the RSR paper's dataset RSR, Σ_i mean clipped rank_i / Σ_i mean surprisal_i
    (UmeanNever/RankSurprisalRatio rsr_cal.py compute_sample_metrics), not the mean of per-trajectory ratios.

    Hand-computed: trajectory a, ranks [1, 3], surprisals [0.5, 1.5] nats: RSR 4/2 = 2, mean rank 2, mean
    surprisal 1. Trajectory b, ranks [1, 1, 1, 250 -> clipped 100], surprisals [0.1, 0.1, 0.1, 2.7]: RSR 103/3,
    mean rank 25.75, mean surprisal 0.75. Trajectory g (code), 5 tokens the student is certain of: RSR
    undefined (null), mean rank 1, surprisal 0. Dataset RSR = (2 + 25.75 + 1) / (1 + 0.75 + 0) = 16.4286;
    the mean of the defined ratios would be (2 + 34.33) / 2 = 18.17; math alone (a, b): 27.75 / 1.75 = 15.857.
    """
    lake, _q1, _q2, t = fx
    con = connect(lake, read_only=False)
    _chain(con, "question_scores")
    row = {"student_model": "stu", "student_scorer": None, "student_entropy": 1.0}
    stu = [{**row, "trajectory_id": t["a"], "student_text_hash": "a", "student_tokens": 2,
            "student_rsr": 4 / 2, "student_surprisal": 2 / 2},
           {**row, "trajectory_id": t["b"], "student_text_hash": "b", "student_tokens": 4,
            "student_rsr": 103 / 3.0, "student_surprisal": 3.0 / 4},
           {**row, "trajectory_id": t["g"], "student_text_hash": "g", "student_tokens": 5,
            "student_rsr": None, "student_surprisal": 0.0}]
    con.register("student_scores", pa.Table.from_pylist(stu, schema=STUDENT_SCHEMA))
    materialize(con, "model_scores", **P)
    rows = {(r["model"], r["domain"], r["band"]): r for r in _frame(con, "model_scores").to_dicts()}
    m1 = rows[("m1", "all", "all")]
    assert m1["mean_student_rsr"] == pytest.approx(28.75 / 1.75) and m1["n_student_scored"] == 3
    assert m1["mean_student_rsr"] != pytest.approx((2 + 103 / 3) / 2)
    assert rows[("m1", "math", "all")]["mean_student_rsr"] == pytest.approx(27.75 / 1.75)
    # g alone: certain of every token, no surprisal: undefined, not infinite
    assert rows[("m1", "code", "all")]["mean_student_rsr"] is None


def test_finished_is_the_verdicts_fact_and_text_only_stands_in(lake):
    """`finished` has one owner, the verify stage's format check (it also counts a response that used its whole
    token budget as cut off, which no text shows): trajectory_scores reads the verdict's column; only a
    trajectory no verdict describes gets the text check (and says so in format_from_text)."""
    b = LakeBuilder()
    q = b.add_question("What is 2 + 3?", answer="5")
    full = b.add(q, "m", correct=True, extracted="5")  # text: closed, finish_reason stop
    bare = b.add(q, "m", correct=True, extracted="5", response="<think>\ncut here", reasoning=None,
                 finish_reason="length", format_ok=None)
    b.write(lake)
    lake.merge("verdicts", [{"trajectory_id": full, "verifier": "math", "status": "correct", "correct": True,
                             "extracted": "5", "format_ok": False, "finished": False, "think_paired": True}],
               update=True)
    con = connect(lake)
    ts = _chain(con, "trajectory_scores").filter(pl.col("trajectory_id").is_in([full, bare])).sort("trajectory_id")
    got = {r["trajectory_id"]: (r["finished"], r["format_ok"], r["format_from_text"]) for r in ts.to_dicts()}
    assert got[full] == (False, False, False)  # the verdict's, though its text looks finished
    assert got[bare] == (False, False, True)  # no format on its verdict: the text check, flagged
