"""The ingest presets are files that declare themselves (ded/ingest/presets/<name>.py, `PRESET = Preset(...)`):
the registry, params validation, the CLI help and the README agree, and a new preset is one new file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ded.ingest.presets import REGISTRY, TRAJECTORY_PRESETS, problem_of, response_field
from ded.params import PRESET_NAMES, ParamsError, parse_params

REPO = Path(__file__).resolve().parents[1]


def test_registry_is_the_files_and_params_and_docs_follow_it():
    files = sorted(p.stem.replace("_", "-") for p in (REPO / "ded" / "ingest" / "presets").glob("*.py")
                   if not p.stem.startswith("_"))
    assert sorted(REGISTRY) == files == list(PRESET_NAMES)
    readme = (REPO / "README.md").read_text()
    for name, p in REGISTRY.items():
        assert p.doc and f"`{name}`" in readme, f"README's preset table does not list {name}"
    # the --kind help names the response presets (typed there to keep `ded --help` from importing ingest)
    from typer.testing import CliRunner

    from ded.cli import app

    out = CliRunner().invoke(app, ["ingest", "--help"], terminal_width=400).output
    kind_help = out[out.index("--kind <"):out.index("--preset <")]
    for name in REGISTRY:
        assert (name in kind_help) == (name in TRAJECTORY_PRESETS), name
    with pytest.raises(ParamsError, match="preset"):
        parse_params({"ingest": {"sources": [{"path": "x.jsonl", "preset": "nope"}]}})


def test_each_preset_reads_its_own_fields():
    """Where responses and problem text are, per preset, and the guess for a stored reject of unknown preset."""
    assert response_field({"code": ["x"]}, "qwen-math-eval") == "code"
    assert response_field({"code": "print(1)"}, "generic") is None  # a reference program, not responses
    assert response_field({"generations": ["a"]}, "openr1-math") == "generations"
    assert response_field({"conversations": [{"from": "gpt", "value": "a"}]}, "openthoughts") == "conversations"
    assert response_field({"messages": [{"role": "assistant", "content": "a"}]}, "lcb") == "messages"
    assert problem_of({"question_content": "Q", "problem": "P"}, "lcb") == "Q"
    assert problem_of({"conversations": [{"from": "user", "value": "U"}]}) == "U"  # guessed: openthoughts
    assert problem_of({"text": "T", "test_list": ["assert f()"]}).startswith("T\nYour code should pass")  # mbpp


QA = '''"""qa-pairs (a test preset): rows {"q": ..., "a": ...}."""

from ded.ingest.presets._shape import Parsed, Preset, Reject


def qa_pairs(rec, kind):
    if not rec.get("q"):
        raise Reject("missing required field: q")
    return Parsed(problem=rec["q"], answer=str(rec.get("a")), domain="math")


PRESET = Preset(name="qa-pairs", parse=qa_pairs, problem_keys=("q",), doc="question/answer pairs as q and a")
'''


def test_a_new_preset_is_one_new_file(tmp_path):
    """A copy of the package plus ded/ingest/presets/qa_pairs.py: `ded ingest --preset qa-pairs` validates,
    lists it in --help, ingests its rows and keeps a bad row as a reject with the preset's reason."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "ded", copy / "ded", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "ded" / "ingest" / "presets" / "qa_pairs.py").write_text(QA)
    for d in ("sql", "prompts"):
        (copy / d).symlink_to(REPO / d)
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [{"q": "What is 1 + 1?", "a": 2}, {"q": "What is 2 + 2?", "a": 4},
                                                     {"a": 5}]) + "\n")
    env = {**os.environ, "PYTHONPATH": str(copy), "DED_PROGRESS": "0"}
    helped = subprocess.run([sys.executable, "-m", "ded", "ingest", "--help"], check=False, cwd=copy, env=env,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "qa-pairs" in helped.stdout, helped.stderr[-2000:]
    lake = tmp_path / "lake"
    ran = subprocess.run([sys.executable, "-m", "ded", "--lake", str(lake), "ingest", str(src), "--preset", "qa-pairs"],
                         check=False, cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    from ded.lake import Lake

    q = Lake(lake).read("questions").to_pylist()
    assert sorted((r["problem"], r["answer"]) for r in q) == [("What is 1 + 1?", "2"), ("What is 2 + 2?", "4")]
    rejects = Lake(lake).read("rejects").to_pylist()
    assert len(rejects) == 1 and "missing required field: q" in json.dumps(rejects[0], default=str)


def test_ingest_options_are_one_validated_shape(tmp_path):
    """`ingest.sources[]`, `ded ingest --preset ...` and ingest_paths' keyword arguments are one SourceShape:
    a bad value fails before anything is read, naming the field, whichever way it came."""
    from ded.ingest import ingest_paths
    from ded.lake import Lake
    from ded.params import SourceShape, SourceSpec

    assert set(SourceSpec.model_fields) == set(SourceShape.model_fields) | {"path"}
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"problem": "What is 1 + 1?", "answer": "2"}) + "\n")
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ValueError, match=r"unknown preset 'nope'; presets: apps"):
        ingest_paths(lake, [f], preset="nope", show_progress=False)
    with pytest.raises(ValueError, match=r"domain"):
        ingest_paths(lake, [f], domain="poetry", show_progress=False)
    assert not lake.exists("questions")
    spec = SourceSpec(path=str(f), kind="questions", source="mine", map={"problem": "problem"})
    ingest_paths(lake, [f], spec, show_progress=False)
    assert lake.read("questions").to_pylist()[0]["source"] == "mine"
