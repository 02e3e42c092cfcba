"""ded generate: plan, dry run, resume by fingerprint, batched commits, kills and failures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from openai_stub import Action, StubServer

from ded.errors import DedError
from ded.ids import question_id
from ded.lake import Lake
from ded.params import ParamsError, parse_params
from ded.stages.generate import main, plan

REPO = Path(__file__).resolve().parents[1]


def add_questions(lake, n, domain="math"):
    rows = [{"question_id": question_id(f"Compute {i} times {i}."), "domain": domain, "source": "test",
             "problem": f"Compute {i} times {i}."} for i in range(n)]
    lake.merge("questions", rows)
    return rows


def params_for(srv, n=2, **generate):
    return {"models": [{"name": "api", "backend": "openai", "model": "stub", "base_url": srv.url,
                        "price_in": 1.0, "price_out": 4.0,
                        "sampling": {"temperature": 0.7, "max_tokens": 64, "n": n, "seed": 3},
                        "options": {"max_n": 1, "backoff_s": 0.01, "max_retries": 2}}],
            "generate": {"models": ["api"], **generate}}


def test_generates_rows_then_sends_nothing_on_rerun(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the receipt lands in tmp
    add_questions(lake, 4)
    with StubServer() as srv:
        params = parse_params(params_for(srv))
        out = main(params, lake, echo=lambda s: None)
        assert out["models"]["api"]["generated"] == 8 and srv.calls == 8
        srv.reset_counts()
        again = main(params, lake, echo=lambda s: None)
        assert srv.calls == 0 and again["models"]["api"]["skipped"] == 8
    t = lake.read("trajectories").to_pylist()
    assert len(t) == 8 and {r["sample_idx"] for r in t} == {0, 1}
    r = t[0]
    assert r["origin"] == "generated" and r["model"] == "api" and r["finish_reason"] == "stop"
    assert r["reasoning"].startswith("Let me think") and r["final"].startswith("The answer is")
    assert r["prompt"].startswith("Compute") and "\\boxed{}" in r["prompt"]
    gp = json.loads(r["gen_params"])
    assert gp["seed"] == 3 + r["sample_idx"] and gp["temperature"] == 0.7 and gp["backend"] == "openai"
    assert r["n_tokens"] == gp["completion_tokens"] > 0
    assert len({x["fingerprint"] for x in t}) == 8 and len({x["trajectory_id"] for x in t}) == 8
    assert json.loads((tmp_path / "receipts" / "generate.json").read_text())["tables"]["trajectories"]["rows"] == 8


def test_more_samples_later_sends_only_the_new_ones(lake):
    add_questions(lake, 3)
    with StubServer() as srv:
        main(parse_params(params_for(srv, n=2)), lake, echo=lambda s: None)
        srv.reset_counts()
        main(parse_params(params_for(srv, n=3)), lake, echo=lambda s: None)
        assert srv.calls == 3 and {b["seed"] for b in srv.bodies} == {5}  # sample_idx 2 only
    assert lake.count("trajectories") == 9


def test_dry_run_counts_missing_tokens_and_cost(lake):
    add_questions(lake, 5)
    with StubServer() as srv:
        params = parse_params(params_for(srv, n=2, limit=3))
        (row,) = main(params, lake, dry=True)["dry_run"]
        assert srv.calls == 0
        assert (row["questions"], row["requests"], row["done"], row["missing"]) == (3, 6, 0, 6)
        assert row["est_output_tokens"] == 6 * 64 and row["output_basis"].startswith("max_tokens")
        assert row["est_prompt_tokens"] > 0
        assert row["est_cost"] == pytest.approx((row["est_prompt_tokens"] * 1.0 + 6 * 64 * 4.0) / 1e6, rel=1e-3)
        main(params, lake, echo=lambda s: None)
        (after,) = main(parse_params(params_for(srv, n=2)), lake, dry=True)["dry_run"]
    assert (after["done"], after["missing"]) == (6, 4) and after["output_basis"] == "observed mean"


def test_failed_requests_are_not_saved_and_the_rerun_retries_them(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    add_questions(lake, 3)
    bad = json.dumps([{"content": "Compute 1 times 1.\n\nPlease reason step by step, and put your final answer "
                                  "within \\boxed{}.", "role": "user"}], sort_keys=True)

    def script(n, body):
        return Action("status", status=400) if json.dumps(body["messages"], sort_keys=True) == bad else Action()

    with StubServer(script=script) as srv:
        with pytest.raises(DedError, match="(?s)rerun `ded generate`.*api: 2 failed.*HTTP 400"):
            main(parse_params(params_for(srv)), lake, echo=lambda s: None)
    assert lake.count("trajectories") == 4
    assert not (tmp_path / "receipts" / "generate.json").exists()
    with StubServer() as srv:
        main(parse_params(params_for(srv)), lake, echo=lambda s: None)
        assert srv.calls == 2
    assert lake.count("trajectories") == 6


def test_interrupt_keeps_committed_batches(lake):
    from ded.backends import get_backend
    from ded.stages.generate import generate_model

    add_questions(lake, 10)
    with StubServer() as srv:
        params = parse_params(params_for(srv, n=1, commit_rows=3))
        spec = params.model("api")
        inner = get_backend(spec)

        class Interrupting:
            name = "interrupting"

            def generate(self, requests):
                for i, r in enumerate(inner.generate(requests)):
                    if i == 7:
                        raise KeyboardInterrupt
                    yield r

            def close(self):
                pass

        with pytest.raises(KeyboardInterrupt):
            generate_model(spec, lake, params, backend=Interrupting())
        assert lake.count("trajectories") == 7  # two full commits + the 1 in the final commit
        srv.reset_counts()
        main(params, lake, echo=lambda s: None)
        assert srv.calls == 3
    assert lake.count("trajectories") == 10


def test_killed_process_then_rerun_sends_only_the_missing(lake, tmp_path):
    add_questions(lake, 30)
    with StubServer(delay=0.1) as srv:
        cfg = params_for(srv, n=1, commit_rows=2, commit_seconds=0.2)
        cfg["models"][0]["options"]["concurrency"] = 2
        cfg["lake"] = {"root": str(lake.root)}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "DED_PROGRESS": "0", "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "ded", "--params", str(tmp_path / "params.yaml"), "generate"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while lake.count("trajectories") < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        kept = lake.count("trajectories")
        assert 4 <= kept < 30
        srv.reset_counts()
        main(parse_params(cfg), lake, echo=lambda s: None)
        assert srv.calls == 30 - kept
        sent = set(srv.prompts)
    assert lake.count("trajectories") == 30
    done_before = {r["prompt"] for r in lake.read("trajectories").to_pylist()} - {json.loads(p)[0]["content"] for p in sent}
    assert len(done_before) == kept  # the rerun asked for exactly the prompts the killed run had not committed


def test_stale_samples_are_kept_unless_replace_stale(lake):
    add_questions(lake, 2)
    with StubServer() as srv:
        main(parse_params(params_for(srv, n=1)), lake, echo=lambda s: None)
        changed = params_for(srv, n=1)
        changed["models"][0]["sampling"]["temperature"] = 1.0
        msgs = []
        srv.reset_counts()
        main(parse_params(changed), lake, echo=msgs.append)
        assert srv.calls == 0 and "2 samples were generated with other prompts or sampling" in msgs[0]
        changed["generate"]["replace_stale"] = True
        main(parse_params(changed), lake, echo=msgs.append)
        assert srv.calls == 2
    t = lake.read("trajectories").to_pylist()
    assert len(t) == 2 and all(json.loads(r["gen_params"])["temperature"] == 1.0 for r in t)


def test_questions_predicate_and_clear_errors(lake):
    add_questions(lake, 2)
    lake.merge("questions", [{"question_id": question_id("Write a loop."), "domain": "code", "source": "t",
                              "problem": "Write a loop."}])
    with StubServer() as srv:
        (p,) = plan(parse_params(params_for(srv, questions="domain = 'code'")), lake)
        assert p.questions == 1 and len(p.missing) == 2
        with pytest.raises(Exception, match="invalid predicate|must be one boolean"):
            plan(parse_params(params_for(srv, questions="domain = 'code'; DROP TABLE questions")), lake)
        with pytest.raises(DedError, match="generate.models is empty"):
            plan(parse_params({**params_for(srv), "generate": {"models": []}}), lake)
        with pytest.raises(ParamsError, match="no model named 'ghost'"):
            plan(parse_params(params_for(srv)), lake, models=["ghost"])
    with pytest.raises(DedError, match="run `ded ingest` first"):
        plan(parse_params(params_for(srv)), Lake(lake.root + "-empty"))


def test_student_rollouts_with_the_tiny_model_are_reproducible(tmp_path, tiny_model_dir):
    cfg = {"models": [{"name": "student", "model": str(tiny_model_dir), "options": {"batch_size": 6},
                       "sampling": {"temperature": 0.8, "max_tokens": 8, "n": 3, "seed": 0}}],
           "student": {"model": "student"}, "generate": {"models": ["student"]}}
    tables = []
    for run in ("a", "b"):
        lake = Lake(tmp_path / run)
        add_questions(lake, 2)
        main(parse_params(cfg), lake, echo=lambda s: None)
        tables.append(sorted((r["question_id"], r["sample_idx"], r["response"], r["fingerprint"])
                             for r in lake.read("trajectories").to_pylist()))
    assert tables[0] == tables[1] and len(tables[0]) == 6
    for qid in {r[0] for r in tables[0]}:
        rows = [r for r in tables[0] if r[0] == qid]
        assert sorted(r[1] for r in rows) == [0, 1, 2] and len({r[2] for r in rows}) == 3


def test_cli_dry_run_prints_missing_and_cost(lake, tmp_path):
    from typer.testing import CliRunner

    from ded.cli import app

    add_questions(lake, 2)
    with StubServer() as srv:
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(params_for(srv)))
        res = CliRunner().invoke(app, ["--lake", str(lake.root), "--params", str(tmp_path / "p.yaml"),
                                       "generate", "--dry-run"])
        assert srv.calls == 0
    assert res.exit_code == 0, res.output
    assert "missing requests: 4" in res.output and "estimated cost: $" in res.output


def test_question_chunks_bound_memory_and_cover_every_question(lake):
    add_questions(lake, 7)
    with StubServer() as srv:
        out = main(parse_params(params_for(srv, n=2, chunk_questions=3)), lake, echo=lambda s: None)
        assert srv.calls == 14
    stats = out["models"]["api"]
    assert (stats["requested"], stats["generated"], stats["commits"]) == (14, 14, 3)  # one commit per chunk
    assert lake.count("trajectories") == 14


def test_empty_models_is_a_noop_that_still_writes_the_receipt(lake, tmp_path, monkeypatch):
    """The demo imports every trajectory: `dvc repro` must get past generate with a receipt, exit 0."""
    from typer.testing import CliRunner

    from ded.cli import app

    monkeypatch.chdir(tmp_path)  # the receipt lands in tmp
    add_questions(lake, 2)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"generate": {"models": []}}))
    res = CliRunner().invoke(app, ["--lake", str(lake.root), "--params", str(tmp_path / "p.yaml"), "generate"])
    assert res.exit_code == 0, res.output
    assert "nothing to generate: generate.models is empty" in res.output
    receipt = json.loads((tmp_path / "receipts" / "generate.json").read_text())
    assert receipt["stage"] == "generate" and receipt["models"] == {}
    assert receipt["tables"]["trajectories"]["rows"] == 0 and not lake.exists("trajectories")


def test_local_model_retrained_in_place_gets_new_fingerprints(tmp_path):
    """Fingerprints of a local model directory follow its content; a hub id's do not depend on disk."""
    from ded.params import parse_params
    from ded.stages.generate import build_requests

    model_dir = tmp_path / "student"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"a": 1}')
    params = parse_params({"models": [{"name": "s", "model": str(model_dir)}, {"name": "h", "model": "org/hub-model"}]})
    qs = [{"question_id": "q_1", "problem": "1+1?", "domain": "math"}]
    before = [r.key for r in build_requests(params.model("s"), qs, params)]
    assert before == [r.key for r in build_requests(params.model("s"), qs, params)]  # unchanged: same keys
    (model_dir / "config.json").write_text('{"a": 2}')  # retrained in place
    after = [r.key for r in build_requests(params.model("s"), qs, params)]
    assert set(before).isdisjoint(after)
    hub = [r.key for r in build_requests(params.model("h"), qs, params)]
    assert hub == [r.key for r in build_requests(params.model("h"), qs, params)]


def test_question_filter_limit_and_chunks_come_from_the_sql_file(lake):
    """sql/generate/questions.sql: the --where predicate, --limit and question_id order, chunk by chunk."""
    from ded.stages.generate import load_questions, question_chunks

    rows = add_questions(lake, 6) + add_questions(lake, 0)
    lake.merge("questions", [{"question_id": "q_code", "domain": "code", "source": "test", "problem": "Print 1."}])
    ids = sorted(r["question_id"] for r in rows)
    every = load_questions(lake)
    assert [q["question_id"] for q in every] == sorted(ids + ["q_code"]) and "ingested_at" not in every[0]
    assert [q["question_id"] for q in load_questions(lake, "domain = 'math'")] == ids
    assert [q["question_id"] for q in load_questions(lake, "domain = 'math'", limit=2)] == ids[:2]
    assert [q["question_id"] for q in load_questions(lake, limit=0)] == []
    assert [len(c) for c in question_chunks(lake, "domain = 'math'", size=4)] == [4, 2]
    with pytest.raises(DedError, match="question filter .*nope"):
        load_questions(lake, "nope = 1")  # parses, does not bind: one line, not a traceback
    with pytest.raises(Exception, match="must be one boolean expression|invalid predicate"):
        load_questions(lake, "1 = 1; DROP TABLE questions")
