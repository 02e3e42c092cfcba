"""Infrastructure failure is never a verdict (issue 14): when the sandbox, the math worker pool or the judge
backend fails, the verdict is `correct = null` with the reason; `ded verify` stops with exit 2 and one
`error:` line once more than `verify.max_infra_failure_share` of a verifier's items failed so, after a few
dozen rows rather than hundreds; committed verdicts stay and a rerun after the fix regrades the null rows."""

from __future__ import annotations

import json

import pytest

from ded.backends import GenResult
from ded.params import parse_params
from ded.stages.verify import VerifyError, main

N_CODE, N_MATH = 150, 40


def _lake(lake, n_code=N_CODE, n_math=N_MATH):
    """Code questions with one stdin test and math questions whose answers need math-verify (not the quick
    rational check), so both the sandbox and the worker pool are exercised."""
    qs, ts = [], []
    for i in range(n_code):
        qs.append({"question_id": f"qc{i}", "domain": "code", "problem": f"echo {i}", "answer": None,
                   "tests": json.dumps([{"input": f"{i}\n", "output": f"{i}\n", "testtype": "stdin"}])})
        body = "print(input())" if i % 3 else "print('nope')"  # a third are wrong: real verdicts, False
        ts.append({"trajectory_id": f"tc{i}", "question_id": f"qc{i}", "model": "m", "sample_idx": 0,
                   "response": f"<think>x</think>\n```python\n{body}\n```", "finish_reason": "stop"})
    for i in range(n_math):
        qs.append({"question_id": f"qm{i}", "domain": "math", "problem": f"simplify {i}", "answer": f"\\sqrt{{{i + 2}}}"})
        ts.append({"trajectory_id": f"tm{i}", "question_id": f"qm{i}", "model": "m", "sample_idx": 0,
                   "response": f"<think>x</think> \\boxed{{({i + 2})^{{1/2}}}}", "finish_reason": "stop"})
    lake.append("questions", qs)
    lake.append("trajectories", ts)


def _verdicts(lake, verifier):
    if not lake.exists("verdicts"):
        return {}
    return {r["trajectory_id"]: r for r in lake.read("verdicts").to_pylist() if r["verifier"] == verifier}


def _params(**verify):
    return parse_params({"verify": {"workers": 2, **verify}})


DYING_SERVER = "import sys\nsys.exit(3)\n"


def test_dead_sandbox_stops_verify_early_with_null_rows_then_rerun_finishes(lake, tmp_path, monkeypatch, capsys):
    from typer.testing import CliRunner

    from ded.cli import app
    from ded.errors import run_cli
    from ded.verifiers import sandbox

    monkeypatch.chdir(tmp_path)
    _lake(lake)
    dying = tmp_path / "dying_server.py"
    dying.write_text(DYING_SERVER)
    monkeypatch.setattr(sandbox, "SERVER", dying)
    assert run_cli(app, ["--lake", str(lake.root), "verify", "--workers", "2"]) == 2
    stderr = capsys.readouterr().err
    err = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "code verifier" in err[0] and "sandbox" in err[0] and "died at start" in err[0], stderr
    assert "regrades them" in err[0] and "max_infra_failure_share" in err[0]
    code = _verdicts(lake, "code")
    assert 10 <= len(code) <= 64, len(code)  # stopped after the first small chunk, not after all 150
    for r in code.values():
        assert (r["status"], r["correct"]) == ("error", None), r
        assert "died at start" in json.loads(r["detail"])["infra"]
    assert not (tmp_path / "receipts" / "verify.json").exists()  # no receipt: dvc repro stops here

    monkeypatch.setattr(sandbox, "SERVER", sandbox.Path(sandbox.__file__).with_name("sandbox_server.py"))
    out = CliRunner().invoke(app, ["--lake", str(lake.root), "verify", "--workers", "2", "--format", "json"])
    assert out.exit_code == 0, out.output
    code = _verdicts(lake, "code")
    assert len(code) == N_CODE
    assert {r["status"] for r in code.values()} == {"correct", "wrong"}  # the null rows were regraded
    assert sum(r["correct"] is False for r in code.values()) == N_CODE // 3
    assert len(_verdicts(lake, "math")) == N_MATH


def test_one_flaky_sandbox_item_is_null_and_said_but_does_not_stop(lake, tmp_path, monkeypatch):
    import ded.verifiers.code as code_mod
    from ded.verifiers.sandbox import SandboxError

    monkeypatch.chdir(tmp_path)
    _lake(lake, n_code=40, n_math=0)
    real = code_mod.run_test

    def flaky(sb, program, test, *a, **k):
        if test["input"] == "7\n":
            raise SandboxError("the sandbox server died twice in a row (injected)")
        return real(sb, program, test, *a, **k)

    monkeypatch.setattr(code_mod, "run_test", flaky)
    s = main(_params(), lake, show_progress=False)
    assert s["infra_failures"]["code"]["failed"] == 1
    v = _verdicts(lake, "code")["tc7"]
    assert (v["status"], v["correct"]) == ("error", None)
    monkeypatch.setattr(code_mod, "run_test", real)
    s = main(_params(), lake, show_progress=False)
    assert s["graded"] == 1 and _verdicts(lake, "code")["tc7"]["status"] == "correct"  # regraded, not cached


class _DeadSlot:
    """A math worker that dies before it is ready (math-verify cannot import, the OOM killer at start)."""

    def __init__(self, ctx):
        import multiprocessing as mp

        self.parent, child = mp.Pipe()
        child.close()  # the worker end is gone: recv raises EOFError at once
        self.proc = type("P", (), {"kill": lambda s: None, "join": lambda s, t=None: None,
                                   "is_alive": lambda s: False})()
        self.ready = False
        self.batch = __import__("collections").deque()
        self.started = 0.0

    def kill(self):
        self.parent.close()


def test_math_pool_crash_gives_null_math_rows_and_exit(lake, tmp_path, monkeypatch):
    import ded.verifiers.math as math_mod

    monkeypatch.chdir(tmp_path)
    _lake(lake, n_code=0, n_math=N_MATH)
    monkeypatch.setattr(math_mod, "_Slot", _DeadSlot)
    with pytest.raises(VerifyError) as e:
        main(_params(), lake, show_progress=False)
    msg = str(e.value)
    assert "math verifier" in msg and "worker died while starting" in msg and "pip install math-verify" in msg, msg
    assert "\n" not in msg
    rows = _verdicts(lake, "math")
    assert rows and all((r["status"], r["correct"]) == ("error", None) for r in rows.values())
    assert all(r["detail"].startswith("infrastructure failure: ") for r in rows.values())
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    main(_params(), lake, show_progress=False)
    rows = _verdicts(lake, "math")
    assert len(rows) == N_MATH and all(r["correct"] is True for r in rows.values()), rows  # regraded


def _judge_params(**verify):
    return parse_params({"models": [{"name": "judge", "backend": "openai", "model": "j", "base_url": "http://x"}],
                         "verify": {"workers": 2, "judge": {"enabled": True, "model": "judge", "domains": ["math"]},
                                    **verify}})


class RaisingBackend:
    def generate(self, reqs):
        yield GenResult(key=reqs[0].key, text="fine.\nVERDICT: CORRECT")
        raise ConnectionError("connection refused (injected)")


class GarbageBackend:
    def generate(self, reqs):
        for r in reqs:
            yield GenResult(key=r.key, text="<html>502 Bad Gateway</html>")


@pytest.mark.parametrize("backend, why", [(RaisingBackend(), "connection refused"),
                                          (GarbageBackend(), "no 'VERDICT: CORRECT|INCORRECT' line")],
                         ids=["raises", "garbage"])
def test_judge_backend_failure_gives_null_rows_and_exit(lake, tmp_path, monkeypatch, backend, why):
    monkeypatch.chdir(tmp_path)
    _lake(lake, n_code=0, n_math=N_MATH)
    with pytest.raises(VerifyError, match="judge verifier") as e:
        main(_judge_params(), lake, show_progress=False, judge_backend=backend)
    assert why in str(e.value)
    rows = _verdicts(lake, "judge")
    nulls = [r for r in rows.values() if r["correct"] is None]
    assert len(nulls) >= 10 and all(r["status"] == "error" and why in r["detail"] for r in nulls)
    assert all(r["correct"] is not False for r in rows.values())
    assert len(_verdicts(lake, "math")) == N_MATH  # the rule verdicts before it are committed

    class Good:
        def generate(self, reqs):
            for r in reqs:
                yield GenResult(key=r.key, text="VERDICT: CORRECT")

    main(_judge_params(), lake, show_progress=False, judge_backend=Good())
    rows = _verdicts(lake, "judge")
    assert len(rows) == N_MATH and all(r["correct"] is True for r in rows.values())


def test_judge_backend_that_cannot_start_is_null(lake, tmp_path, monkeypatch):
    import ded.backends

    monkeypatch.chdir(tmp_path)
    _lake(lake, n_code=0, n_math=5)

    def boom(spec):
        raise RuntimeError("no such server (injected)")

    import ded.verifiers.judge

    monkeypatch.setattr(ded.backends, "get_backend", boom)
    monkeypatch.setattr(ded.verifiers.judge, "get_backend", boom)  # the judge's own name for it (a top import)
    s = main(_judge_params(min_infra_failures=10), lake, show_progress=False)  # 5 < 10: said, not stopped
    assert s["infra_failures"]["judge"]["failed"] == 5
    assert all(r["correct"] is None and "could not start" in r["detail"] for r in _verdicts(lake, "judge").values())


def test_share_param_is_validated():
    from ded.params import ParamsError

    with pytest.raises((ParamsError, ValueError)):
        parse_params({"verify": {"max_infra_failure_share": 1.5}})


def test_a_program_failure_before_a_sandbox_failure_still_decides(monkeypatch):
    """Without stop_at_first_failure: a test the program already failed decides False; a sandbox failure on
    the first test that counts is null."""
    import ded.verifiers.code as code_mod
    from ded.verifiers.sandbox import SandboxError

    def fake(sb, program, test, *a, **k):
        if test["input"] == "boom":
            raise SandboxError("the sandbox server died twice in a row (injected)")
        return ("wrong", {"reason": "wrong output"}) if test["input"] == "bad" else ("pass", {})

    monkeypatch.setattr(code_mod, "run_test", fake)
    tests = [{"input": "ok", "output": ""}, {"input": "bad", "output": ""}, {"input": "boom", "output": ""}]
    v = code_mod.grade_code(None, "print()", tests, stop_at_first_failure=False)
    assert (v["status"], v["correct"], v["infra"]) == ("wrong", False, False), v
    v = code_mod.grade_code(None, "print()", [tests[0], tests[2], tests[1]], stop_at_first_failure=False)
    assert (v["status"], v["correct"], v["infra"]) == ("error", None, True), v
