"""The ingest stage (ded/stages/ingest.py): params `ingest.sources` → the lake and receipts/ingest.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ded.lake import Lake
from ded.params import parse_params
from ded.stages import ingest as stage


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_sources_land_once_with_a_receipt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    qs = _jsonl(tmp_path / "q.jsonl", [{"problem": f"P{i}", "answer": str(i)} for i in range(3)])
    tr = _jsonl(tmp_path / "t.jsonl", [{"problem": f"P{i}", "response": f"<think>x</think> {i}", "model": "m"}
                                     for i in range(4)])
    params = parse_params({"lake": {"root": str(tmp_path / "lake")},
                           "ingest": {"sources": [{"path": qs}, {"path": tr}]}})  # kinds inferred
    lake = Lake(tmp_path / "lake")
    rep = stage.main(params, lake)
    assert (rep.questions_inserted, rep.questions_present, rep.trajectories_inserted) == (4, 0, 4)
    receipt = json.loads((tmp_path / "receipts" / "ingest.json").read_text())
    assert receipt["stage"] == "ingest" and receipt["tables"]["trajectories"]["version"] >= 1
    again = stage.main(params, lake)
    assert (again.questions_inserted, again.questions_present, again.trajectories_inserted) == (0, 4, 0)


def test_no_sources_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(stage.NoSources, match="ingest.sources"):
        stage.main(parse_params({"lake": {"root": str(tmp_path / "lake")}}))
    (tmp_path / "params.yaml").write_text("lake: {root: lake}\n")
    out = subprocess.run([sys.executable, "-m", "ded", "ingest"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120, check=False)
    assert out.returncode == 2 and out.stderr.startswith("error:") and "ingest.sources" in out.stderr
