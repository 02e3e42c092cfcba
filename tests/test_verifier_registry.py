"""The verifiers are files that declare themselves (ded/verifiers/<name>.py, `VERIFIER = Verifier(...)`): routing,
versions and `ded verify`'s pending query come from them, and a new verifier is one new file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ded.verifiers import (
    DEFAULT_VERIFIER,
    VERIFIER_VERSIONS,
    VERIFIERS,
    routes,
    verifier_for,
)

REPO = Path(__file__).resolve().parents[1]


def test_registry_routes_and_versions():
    assert set(VERIFIERS) == {"math", "code"} and DEFAULT_VERIFIER == "math"
    assert VERIFIER_VERSIONS == {n: v.version for n, v in VERIFIERS.items()}
    assert verifier_for("code") == "code" and verifier_for("math") == verifier_for(None) == "math"
    assert verifier_for("science") == "math"  # a domain no verifier names goes to the default
    r = routes()
    assert r["route_domains"] == ["code"] and r["route_verifiers"] == ["code"]
    assert r["default_verifier"] == "math" and r["default_version"] == VERIFIER_VERSIONS["math"]
    doc = (REPO / "docs" / "verification.md").read_text()
    for name, v in VERIFIERS.items():
        assert v.doc and (REPO / "ded" / "verifiers" / f"{name}.py").exists()
        assert f"`{name}`" in doc or f"ded/verifiers/{name}.py" in doc, f"docs/verification.md does not name {name}"


EXACT = '''"""exact (a test verifier): puzzle answers compared as trimmed, case-folded strings."""

from ded.verifiers.base import Verifier


def grade(items, opts, on_done):
    out = []
    for it in items:
        got = (it.get("response") or "").strip().splitlines()[-1].strip().casefold()
        ok = got == str(it.get("answer")).strip().casefold()
        out.append({"status": "correct" if ok else "wrong", "correct": ok, "extracted": got, "tests_passed": None,
                    "tests_total": None, "detail": "exact string match", "verifier": "exact",
                    "verifier_version": "exact-1", "infra": False})
        if on_done:
            on_done(1)
    return out


VERIFIER = Verifier(name="exact", version="exact-1", domains=("puzzle",), doc="exact answers", grade=grade)
'''

RUN = '''
import json, sys
sys.path.insert(0, sys.argv[2])
from lake_builder import LakeBuilder
from ded.lake import Lake
from ded.params import Params
from ded.stages import verify
b = LakeBuilder()
p = b.add_question("Which animal says moo?", domain="puzzle", answer="Cow")
m = b.add_question("What is 2 + 3?", domain="math", answer="5")
b.add(p, "t", verifier=None, response="I think\\nCOW")
b.add(p, "t", verifier=None, response="I think\\nhorse")
b.add(m, "t", verifier=None, response="So \\\\boxed{5}.")
lake = b.write(Lake(sys.argv[1]))
verify.main(Params(), lake, show_progress=False, workers=1)
first = sorted((r["verifier"], r["verifier_version"], r["status"]) for r in lake.read("verdicts").to_pylist())
again = verify.main(Params(), lake, show_progress=False, workers=1)["graded"]
print(json.dumps({"verdicts": first, "regraded": again}))
'''


def test_a_new_verifier_is_one_new_file(tmp_path):
    """A copy of the package plus ded/verifiers/exact.py for domain `puzzle`: `ded verify` routes the puzzle
    trajectories to it (through sql/verify/pending.sql's routes), the math one to math, and a rerun grades
    nothing (the pending query knows exact's version)."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "ded", copy / "ded", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "ded" / "verifiers" / "exact.py").write_text(EXACT)
    for d in ("sql", "prompts"):
        (copy / d).symlink_to(REPO / d)
    env = {**os.environ, "PYTHONPATH": str(copy), "DED_PROGRESS": "0"}
    out = subprocess.run([sys.executable, "-c", RUN, str(tmp_path / "lake"), str(REPO / "tests")], check=False,
                         cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["verdicts"] == [["exact", "exact-1", "correct"], ["exact", "exact-1", "wrong"],
                               ["math", VERIFIER_VERSIONS["math"], "correct"]]
    assert got["regraded"] == 0
