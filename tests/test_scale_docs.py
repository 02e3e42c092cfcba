"""docs/scale-out.md's repair recipe for doubled verdicts (two `ded verify` runs on one lake at once) works as
written: `ded verify` stops on the doubled keys, the snippet drops their verdicts, and the rerun grades exactly
those trajectories again, leaving one verdict per key, equal to the verdicts before the damage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
COMPARE = ["trajectory_id", "verifier", "verifier_version", "status", "correct", "extracted", "tests_passed",
           "tests_total", "format_ok"]


def repair_snippet() -> str:
    text = (REPO / "docs" / "scale-out.md").read_text(encoding="utf-8")
    after = text.split("To repair after such an error", 1)[1]
    m = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert m, "docs/scale-out.md lost its repair snippet"
    return m.group(1)


def _rows(lake) -> list[dict]:
    return sorted(lake.read("verdicts", columns=COMPARE).to_pylist(), key=lambda r: (r["trajectory_id"], r["verifier"]))


def test_repair_recipe_for_doubled_verdicts(tmp_path, monkeypatch, capsys):
    from ded.ingest import ingest_paths
    from ded.lake import open_lake
    from ded.params import load_params
    from ded.stages import verify

    if not (DEMO / "math_questions.jsonl").exists():
        pytest.skip("data/demo missing; regenerate with `python -m ded.demo data/demo`")
    monkeypatch.chdir(tmp_path)
    p = yaml.safe_load((REPO / "pipelines" / "demo.yaml").read_text())
    p["lake"] = {"root": str(tmp_path / "lake")}
    p.setdefault("verify", {})["workers"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    params = load_params(tmp_path / "params.yaml")
    lake = open_lake(params)
    ingest_paths(lake, [DEMO / "math_questions.jsonl", DEMO / "code_questions.jsonl"], kind="questions",
                 source="demo", show_progress=False)
    ingest_paths(lake, [DEMO / "teacher_synthetic-concise.jsonl", DEMO / "student.jsonl"], kind="trajectories",
                 source="demo", show_progress=False)
    verify.main(params, lake, show_progress=False)
    before = _rows(lake)
    # what a second, concurrent writer leaves behind: the same keys inserted again (a plain append)
    doubled = lake.read("verdicts").to_pylist()[::7]
    lake.append("verdicts", doubled)
    assert lake.duplicate_keys("verdicts") == len(doubled) > 0
    with pytest.raises(verify.VerifyError, match="docs/scale-out.md"):
        verify.main(params, lake, show_progress=False)

    exec(compile(repair_snippet(), "docs/scale-out.md", "exec"), {})  # noqa: S102 - the documented recipe itself
    assert f"dropped the verdicts of {len({r['trajectory_id'] for r in doubled})} trajectories" in capsys.readouterr().out
    assert lake.duplicate_keys("verdicts") == 0
    again = verify.main(params, lake, show_progress=False)
    assert again["graded"] == len({(r["trajectory_id"], r["verifier"]) for r in doubled})
    assert lake.duplicate_keys("verdicts") == 0
    assert _rows(lake) == before
