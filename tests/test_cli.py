"""The CLI: commands work end to end, start fast (no torch), and README/--help/behaviour agree."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ded.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
runner = CliRunner()


def ded(tmp_path, *args, ok=True):
    r = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "--params", str(REPO / "params.yaml"), *args])
    if ok:
        assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def filled(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("".join(json.dumps({"problem": f"P{i}", "response": f"<think>r</think>{i}", "model": m, "correct": i % 2 == 0}) + "\n"
                         for i in range(6) for m in ("a", "b")))
    ded(tmp_path, "ingest", str(f), "--kind", "trajectories")
    return tmp_path


def test_sql_formats_and_outputs(filled):
    q = "select model, count(*) n from trajectories group by 1 order by 1"
    out = ded(filled, "sql", q).output
    assert "model  n" in out and "(2 rows)" in out
    assert ded(filled, "sql", q, "--format", "csv").output.splitlines() == ['"model","n"', '"a",6', '"b",6']
    assert [json.loads(x) for x in ded(filled, "sql", q, "--format", "json").output.splitlines()] == [
        {"model": "a", "n": 6}, {"model": "b", "n": 6}]
    ded(filled, "sql", q, "--format", "parquet", "-o", str(filled / "r.parquet"))
    import pyarrow.parquet as pq

    assert pq.read_table(filled / "r.parquet").num_rows == 2
    (filled / "q.sql").write_text("select count(*) as n from verdicts where correct")
    assert "6" in ded(filled, "sql", "--file", str(filled / "q.sql")).output


def test_sql_errors_are_one_line_with_the_fix(filled):
    r = ded(filled, "sql", "select * from nope", ok=False)
    assert r.exit_code != 0


def test_sql_as_of(filled):
    f = filled / "more.jsonl"
    f.write_text(json.dumps({"problem": "new", "response": "x", "model": "c"}) + "\n")
    ded(filled, "ingest", str(f), "--kind", "trajectories")
    v = json.loads(ded(filled, "sql", "select 1 as x", "--format", "json").output)  # smoke
    assert v == {"x": 1}
    old = ded(filled, "sql", "select count(*) n from trajectories", "--as-of", "trajectories=1", "--format", "json").output
    new = ded(filled, "sql", "select count(*) n from trajectories", "--format", "json").output
    assert json.loads(old)["n"] == 12 and json.loads(new)["n"] == 13


def test_lake_commands(filled):
    out = ded(filled, "lake", "tables").output
    assert re.search(r"trajectories\s+12\s+1", out) and "verdicts" in out
    assert "(1 row)" in ded(filled, "lake", "history", "trajectories").output
    ded(filled, "lake", "export", "trajectories", "--format", "jsonl", "-o", str(filled / "t.out.jsonl"))
    assert len((filled / "t.out.jsonl").read_text().splitlines()) == 12


def test_ingest_strict_exits_nonzero_and_writes_nothing(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"problem": "ok"}\n{broken\n')
    r = ded(tmp_path, "ingest", str(f), "--strict", ok=False)
    assert r.exit_code == 1 and "line 2" in r.output
    assert not (tmp_path / "lake" / "questions.lance").exists()


def _imports(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_and_sql_do_not_import_torch(tmp_path):
    mods = _imports("import ded.cli")
    assert "torch" not in mods and "transformers" not in mods and "sentence_transformers" not in mods
    mods = _imports(f"import ded.cli, ded.commands.sql, ded.sql\nfrom ded.lake import Lake\nded.sql.connect(Lake({str(tmp_path)!r}))")
    assert "torch" not in mods


def test_every_command_is_documented_in_readme_and_has_an_example():
    import typer.main

    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        assert f"ded {name}" in README, f"`ded {name}` is not documented in README.md"
        subs = getattr(cmd, "commands", None)
        for sub_name, sub in (subs or {name: cmd}).items():
            assert "Example" in (sub.help or ""), f"`ded {name} {sub_name if subs else ''}` --help has no example"
            if subs:
                assert f"ded {name} {sub_name}" in README, f"`ded {name} {sub_name}` missing from README.md"
    assert len(root.commands) >= 5


def test_readme_test_command_is_what_ci_runs():
    m = re.search(r"# 2\. run the tests\n(.+)\n", README)
    assert m, "README must give the test command under '# 2. run the tests'"
    test_cmd = m.group(1).split("&&")[-1].strip()
    ci = (REPO / ".ci/run").read_text()
    assert test_cmd in ci.splitlines(), f"CI must run exactly {test_cmd!r}"


def test_readme_ingest_presets_match_the_code():
    from ded.ingest import PRESETS

    for name in PRESETS:
        assert f"`{name}`" in README, f"preset {name} missing from README"


def test_readme_python_snippet_runs_against_a_lake(filled, monkeypatch):
    """The README's "same tables from Python" block runs as written (DuckDB and LanceDB on ./lake)."""
    block = README.split("The same tables from Python, without `ded`:", 1)[1]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    f = filled / "q.jsonl"
    f.write_text(json.dumps({"problem": "Code it", "tests": [{"input": "1", "output": "1"}]}) + "\n")
    ded(filled, "ingest", str(f))
    monkeypatch.chdir(filled)
    exec(compile(code, "README.md", "exec"), {})


@pytest.mark.parametrize("args, code, says", [
    (["ingest", "{bad}", "--strict"], 1, "line 2: malformed JSON"),
    (["--bogus"], 2, "No such option"),
    (["nosuchcmd"], 2, "No such command"),
    (["lake", "export", "questions"], 2, "Missing option"),
    (["sql", "select 1", "--format", "parquet"], 2, "error: --format parquet needs -o FILE"),
    (["ingest", "{bad}", "--preset", "nosuch"], 2, "error: unknown preset"),
    (["sql", "select * from nope"], 2, "lake tables:"),
    (["sql", "select 42 as x"], 0, "42"),
    (["report", "--run", "sel_nosuch", "-o", "r"], 2, "error: --run: lake"),
    (["profile"], 2, "run `ded profile` from the project root"),  # outside the project: not an empty list
])
def test_the_installed_command_exits_with_the_right_code_and_no_traceback(tmp_path, args, code, says):
    """Through the real entry point (`python -m ded`), not CliRunner: exit codes DVC and shells rely on."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "ok"}\n{broken\n')
    argv = [a.replace("{bad}", str(bad)) for a in args]
    r = subprocess.run([sys.executable, "-m", "ded", "--lake", str(tmp_path / "lake"), *argv],
                       capture_output=True, text=True, cwd=tmp_path, env={**__import__("os").environ, "DED_PROGRESS": "0"})
    assert r.returncode == code, r.stderr
    assert says in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_reading_commands_do_not_create_a_missing_lake(tmp_path):
    """A typo'd --lake must not leave an empty lake directory behind, and `lake tables` says it does not exist."""
    typo = tmp_path / "lkae"
    r = runner.invoke(app, ["--lake", str(typo), "--params", str(REPO / "params.yaml"), "lake", "tables"])
    assert r.exit_code == 0 and "does not exist (check --lake" in r.output
    r = runner.invoke(app, ["--lake", str(typo), "--params", str(REPO / "params.yaml"), "sql", "select count(*) n from questions"])
    assert r.exit_code == 0 and "0" in r.output  # an absent lake reads as empty views
    assert not typo.exists()
