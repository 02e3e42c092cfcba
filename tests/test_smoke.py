"""`ded smoke`: the smoke set, the per-teacher corpus, the short SFT, evaluation into smoke_results."""

from __future__ import annotations

import json

import pytest

from ded.demo import write_demo_sources
from ded.errors import DedError
from ded.params import parse_params

TEACHERS = ["synthetic-concise", "synthetic-sloppy"]


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory):
    from ded.ingest import ingest_paths
    from ded.lake import Lake

    root = tmp_path_factory.mktemp("smoke")
    src = write_demo_sources(root / "data", size="ci")
    lake = Lake(root / "lake")
    ingest_paths(lake, [src["math_questions"], src["code_questions"]], kind="questions", source="demo")
    ingest_paths(lake, [src[f"teacher_{t}"] for t in TEACHERS], kind="trajectories", source="demo")
    return root, lake, src


def _params(root, src, tiny_model_dir, **smoke):
    settings = {"teachers": TEACHERS, "limit": 6, "n": 1, "eval_limit": 1, "max_tokens": 8, "benchmarks": ["demo-math"],
                    "out_dir": str(root / "smoke"), "sft": {"max_steps": 1, "max_length": 256}}
    settings.update(smoke)
    return parse_params({
        "lake": {"root": str(root / "lake")},
        "models": [{"name": "demo-student", "model": str(tiny_model_dir), "sampling": {"max_tokens": 8}}],
        "student": {"model": "demo-student"},
        "benchmarks": {"demo-math": {"path_or_hub": str(src["bench_math"]), "domain": "math"}},
        "sft": {"per_device_batch_size": 2, "gradient_accumulation_steps": 1, "packing": False},
        "evaluate": {"bootstrap": 100, "grade_workers": 1},
        "smoke": settings,
    })


def test_smoke_set_is_shared_limited_and_one_sample_per_question(demo_lake, tiny_model_dir):
    from ded.stages.smoke import smoke_rows

    root, lake, src = demo_lake
    p = _params(root, src, tiny_model_dir)
    a = smoke_rows(lake, p.smoke, "synthetic-concise")
    b = smoke_rows(lake, p.smoke, "synthetic-sloppy")
    assert len(a) == len(b) == 6
    assert [r["question_id"] for r in a] == [r["question_id"] for r in b]  # the same questions for every teacher
    assert {r["model"] for r in a} == {"synthetic-concise"}
    assert len({r["question_id"] for r in a}) == 6
    code_only = _params(root, src, tiny_model_dir, questions="domain = 'code'", limit=None)
    assert {r["domain"] for r in smoke_rows(lake, code_only.smoke, "synthetic-sloppy")} == {"code"}
    with pytest.raises(DedError, match="not in smoke.teachers"):
        smoke_rows(lake, p.smoke, "nobody")
    with pytest.raises(DedError, match="share no question"):
        smoke_rows(lake, _params(root, src, tiny_model_dir, teachers=["synthetic-concise", "ghost"]).smoke,
                   "synthetic-concise")


def test_cut_off_answers_are_kept_verbatim(demo_lake, tiny_model_dir):
    from ded.stages.smoke import corpus_rows

    root, _, src = demo_lake
    p = _params(root, src, tiny_model_dir)
    rows = [{"question_id": "q1", "trajectory_id": "t1", "domain": "math", "problem": "What is 1 + 1?",
             "response": "<think>\n1 + 1 = 2\n</think>\n\n\\boxed{2}"},
            {"question_id": "q2", "trajectory_id": "t2", "domain": "math", "problem": "What is 2 + 2?",
             "response": "<think>\nlet me see, 2 + 2"}]
    out = corpus_rows(rows, p)
    assert out[0]["messages"][-1]["content"] == "<think>\n1 + 1 = 2\n</think>\n\n\\boxed{2}"
    assert out[1]["messages"][-1]["content"] == "<think>\nlet me see, 2 + 2"  # no invented </think>
    assert out[0]["messages"][0]["role"] == "user" and "What is 1 + 1?" in out[0]["messages"][0]["content"]


def test_smoke_trains_evaluates_and_records_results(demo_lake, tiny_model_dir, monkeypatch):
    from ded.stages.smoke import main

    root, lake, src = demo_lake
    monkeypatch.chdir(root)
    p = _params(root, src, tiny_model_dir)
    out = main(p, lake, teacher="synthetic-sloppy")
    d = root / "smoke" / "synthetic-sloppy"
    assert out["corpus_size"] == 6 and len((d / "train.jsonl").read_text().splitlines()) == 6
    assert (d / "model" / "config.json").exists() and (d / "metrics" / "loss.csv").exists()
    assert (d / "metrics" / "demo-math.json").exists()
    receipt = json.loads((d / "receipt.json").read_text())
    assert receipt["teacher"] == "synthetic-sloppy" and receipt["tables"]["smoke_results"]["rows"] >= 1
    res = lake.read("smoke_results").to_pylist()
    row = next(r for r in res if r["model"] == "synthetic-sloppy" and r["benchmark"] == "demo-math")
    assert row["corpus_size"] == 6 and row["n"] == 1 and 0.0 <= row["score"] <= 1.0
    # the score's 95% interval is evaluate's item bootstrap, as metrics/<benchmark>.json writes it
    metrics = json.loads((d / "metrics" / "demo-math.json").read_text())
    (entry,) = metrics["models"].values()
    assert [row["score_ci_low"], row["score_ci_high"]] == pytest.approx(entry["metrics"]["avg_at_n_ci"])
    assert row["score_ci_low"] <= row["score"] <= row["score_ci_high"] and row["ci_level"] == 0.95
    assert row["student_entropy"] > 0 and row["train_loss"] > 0
    # student_entropy is the untrained student's token entropy on the teacher's corpus (DED's measure),
    # not the trainer's first logged step
    from ded.stages.smoke import student_corpus_stats

    rows = [json.loads(x) for x in (d / "train.jsonl").read_text().splitlines()]
    direct = student_corpus_stats(str(tiny_model_dir), rows, max_tokens=256)
    assert row["student_entropy"] == pytest.approx(direct["student_entropy"], rel=1e-6)
    assert row["student_rsr"] == pytest.approx(direct["student_rsr"], rel=1e-6) and row["student_surprisal"] > 0
    assert receipt["student"]["student_tokens"] == direct["student_tokens"] > 0
    trained = student_corpus_stats(str(d / "model"), rows, max_tokens=256)
    assert row["trained_entropy"] == pytest.approx(trained["student_entropy"], rel=1e-6)
    samples = lake.read("eval_samples", columns=["model"]).column("model").to_pylist()
    assert samples and all(m.startswith("smoke:synthetic-sloppy:") for m in samples)  # apart from the student's
    main(p, lake, teacher="synthetic-sloppy")  # a rerun updates the row, never duplicates it
    again = [r for r in lake.read("smoke_results").to_pylist() if r["model"] == "synthetic-sloppy"]
    assert len(again) == 1


def test_score_interval_comes_from_the_metrics_entry_and_is_null_when_undecided():
    from ded.stages.smoke import _score

    entry = {"metrics": {"avg_at_n": 0.5, "items": 40, "avg_at_n_ci": [0.35, 0.65]}}
    assert _score(entry) == (0.5, 40, 0.35, 0.65)
    assert _score({"metrics": {"avg_at_n": float("nan"), "items": 0, "avg_at_n_ci": [float("nan")] * 2}}) == \
        (None, 0, None, None)
    assert _score({"metrics": {"avg_at_n": 0.25, "items": 4}}) == (0.25, 4, None, None)  # an old entry: no interval


def test_student_corpus_stats_are_token_weighted_over_the_corpus(tiny_model_dir):
    """The corpus entropy weighs every response token once (a long answer counts more than a short
    one); RSR is the RSR paper's dataset RSR over the rows: Σ mean clipped rank / Σ mean surprisal."""
    from ded.scorers.student import StudentScorer
    from ded.stages.smoke import student_corpus_stats

    user = [{"role": "user", "content": "What is 2 + 3?"}]
    rows = [{"messages": user + [{"role": "assistant", "content": "<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}"}]},
            {"messages": user + [{"role": "assistant", "content": "<think>\nWe add 2 and 3. " * 6 + "\n</think>\n\n5"}]}]
    scorer = StudentScorer(str(tiny_model_dir))
    each = [scorer.score(r["messages"][:-1], r["messages"][-1]["content"]) for r in rows]
    n = [e["student_tokens"] for e in each]
    assert n[1] > 2 * n[0] > 0
    got = student_corpus_stats(str(tiny_model_dir), rows)
    assert got["student_tokens"] == sum(n)
    assert got["student_entropy"] == pytest.approx(sum(e["student_entropy"] * k for e, k in zip(each, n)) / sum(n))
    assert got["student_rsr"] == pytest.approx(sum(e["student_rank"] for e in each) / sum(e["student_surprisal"] for e in each))
    pooled = sum(e["student_rank"] * k for e, k in zip(each, n)) / sum(e["student_surprisal"] * k for e, k in zip(each, n))
    assert got["student_rsr"] != pytest.approx(pooled, rel=1e-6)  # not the token-pooled ratio
    # capped at max_tokens response tokens per row (the SFT's max_length)
    assert student_corpus_stats(str(tiny_model_dir), rows, max_tokens=3)["student_tokens"] == 6


def test_no_teachers_is_a_clear_error(demo_lake, tiny_model_dir):
    from ded.stages.smoke import main

    root, lake, src = demo_lake
    with pytest.raises(DedError, match="smoke.teachers is empty"):
        main(_params(root, src, tiny_model_dir, teachers=[]), lake)
