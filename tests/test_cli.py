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


@pytest.mark.parametrize("args, code, says, make_lake", [
    (["ingest", "{bad}", "--strict"], 1, "line 2: malformed JSON", False),
    (["--bogus"], 2, "error: No such option", False),
    (["nosuchcmd"], 2, "error: No such command", False),
    (["lake", "export", "questions"], 2, "error: Missing option", False),
    (["sql", "select 1", "--format", "parquet"], 2, "error: --format parquet needs -o FILE", False),
    (["ingest", "{bad}", "--preset", "nosuch"], 2, "error: unknown preset", False),
    (["sql", "select * from nope"], 2, "lake tables:", False),
    (["sql", "select 42 as x"], 0, "42", False),
    (["report", "--run", "sel_nosuch", "-o", "r"], 2, "holds no tables yet", True),
    (["report"], 2, "error: lake", False),
    (["profile"], 2, "run `ded profile` from the project root", False),  # outside the project: not an empty list
    (["verify"], 2, "error: lake", False),
    (["verify"], 2, "error: lake {lake} has no trajectories table; run `ded ingest`", True),
    (["embed", "--report"], 2, "error: lake {lake} has no contamination table yet: run `ded embed`", True),
    (["embed", "--format", "xml"], 2, "error: Invalid value: --format must be table or json", True),
    (["search", "x", "--table", "nope"], 2, "error: --table must be one of", True),
    (["select", "--explain", "t_x"], 2, "error: lake", False),
    (["lake", "history", "questions"], 2, "error: table 'questions' does not exist in lake", True),
])
def test_the_installed_command_exits_with_the_right_code_and_no_traceback(tmp_path, args, code, says, make_lake):
    """Through the real entry point (`python -m ded`), not CliRunner: exit codes DVC and shells rely on
    (README, Usage: 0 done, 1 a check asked for failed, 2 an error the user can fix, as one `error:` line)."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "ok"}\n{broken\n')
    lake = tmp_path / "lake"
    if make_lake:
        lake.mkdir()
    argv = [a.replace("{bad}", str(bad)) for a in args]
    r = subprocess.run([sys.executable, "-m", "ded", "--lake", str(lake), *argv],
                       capture_output=True, text=True, cwd=tmp_path, env={**__import__("os").environ, "DED_PROGRESS": "0"})
    assert r.returncode == code, r.stderr
    assert says.replace("{lake}", str(lake)) in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    if code == 2:
        assert re.search(r"^error: ", r.stderr, re.M) and not re.search(r"^Error: ", r.stderr, re.M)  # one spelling


READERS = [["report"], ["search", "sum of digits"], ["select", "--explain", "t_x"], ["embed", "--report"],
           ["lake", "tables"], ["lake", "history", "questions"], ["lake", "export", "questions", "-o", "q.jsonl"],
           ["generate", "--dry-run"], ["verify"], ["score"], ["embed"], ["smoke"]]


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_commands_that_read_do_not_create_a_missing_lake(tmp_path, monkeypatch, capsys, args):
    """Run in an empty directory: an error that says how to make a lake (exit 2); no lake/ or reports/ left."""
    from ded.errors import run_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DED_PROGRESS", "0")
    for var in ("DED_LAKE", "DED_PARAMS"):
        monkeypatch.delenv(var, raising=False)
    assert run_cli(app, args) == 2  # defaults: ./params.yaml (absent here, so the defaults) and ./lake
    err = capsys.readouterr().err
    assert "error: lake 'lake' does not exist; create it with `ded ingest` (or `dvc repro`" in err and "--lake" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sql_reads_a_missing_lake_as_empty_and_says_so(tmp_path):
    """`ded sql "select 1"` runs anywhere; a typo'd --lake is not created and not silently empty."""
    typo = tmp_path / "lkae"
    r = runner.invoke(app, ["--lake", str(typo), "--params", str(REPO / "params.yaml"), "sql", "select count(*) n from questions"])
    assert r.exit_code == 0 and r.stdout.split()[:3] == ["n", "-", "0"]
    assert f"note: lake {typo} does not exist, so every table reads as empty" in r.stderr
    assert not typo.exists()


def test_help_lists_commands_in_pipeline_order_as_the_readme_does():
    import typer.main

    from ded.cli import STAGES, TOOLS

    out = subprocess.run([sys.executable, "-m", "ded", "--help"], capture_output=True, text=True, cwd=REPO).stdout
    listed = [ln.split()[0] for ln in out.split("Commands:", 1)[1].splitlines() if ln.strip()]
    assert listed == STAGES + TOOLS
    assert STAGES[:3] == ["ingest", "generate", "verify"] and STAGES[-1] == "report" and "sql" in TOOLS
    assert set(listed) == set(typer.main.get_command(app).commands)  # every command is in one of the lists
    m = re.search(r"`ded --help` lists the stages in pipeline order, (.+?), then the tools (.+?)\.", README, re.S)
    assert m, "README's Usage must say the order `ded --help` lists the commands in"
    assert re.findall(r"`(\w+)`", m.group(1)) == STAGES and re.findall(r"`(\w+)`", m.group(2)) == TOOLS


def test_table_cells_round_floats_and_hf_progress_bars_are_off(tmp_path):
    import os
    import subprocess
    import sys

    from ded.commands.common import _cell

    assert [_cell(x) for x in (0.9444444444444444, 3.0, 19671.63, None, 7, 1e-7, "a")] == \
        ["0.9444", "3", "19,671.6", "", "7", "0", "a"]
    code = "import os, ded.cli, sys; sys.argv=['ded','--help']\ntry:\n ded.cli.main()\nexcept SystemExit: pass\n" \
           "print(os.environ['HF_HUB_DISABLE_PROGRESS_BARS'], os.environ['HF_DATASETS_DISABLE_PROGRESS_BARS'])"
    env = {k: v for k, v in os.environ.items() if not k.endswith("DISABLE_PROGRESS_BARS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "1 1"
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "0"  # the user's choice wins
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 1"
