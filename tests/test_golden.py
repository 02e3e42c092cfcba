"""Golden test: the demo lake's scores, the selection table and the corpus of every recipe, pinned.

Issue 16 moves recipes, verifiers, presets and scores into files of their own; behaviour must not change. This
test pins what a refactor must leave byte-identical: the verdicts and score tables `ded verify` and `ded score`
write for the committed demo sources, and for each selection below the `selection` rows (every column but the
timestamp) and the exported corpus files. A digest is a sha256 over the table's rows as canonical JSON (sorted
keys, rows sorted), so a mismatch names the table or file that moved.

When a change is meant to alter a result (a fix, or two definitions of one fact unified), regenerate the
pinned digests and land that as its own commit, saying why they moved:

    DED_GOLDEN_UPDATE=1 python -m pytest tests/test_golden.py

Not pinned here: the metrics of `dvc repro` (smoke pass rates, the student's avg@n), which need SFT; they are
asserted against thresholds by tests/test_demo_learns.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

GOLDEN = Path(__file__).parent / "data" / "golden_demo.json"

# every selection pinned: (name, overrides of `select`); diversity none (k-center needs an embedding model)
SELECTIONS = [
    ("ded", {"recipe": "ded"}),
    ("ded-teacher", {"recipe": "ded", "stage": "teacher"}),
    ("ded-correct", {"recipe": "ded", "stage": "correct"}),
    ("ded-compression", {"recipe": "ded", "stage": "compression"}),
    ("ded-per-domain", {"recipe": "ded", "mix_mode": "per_domain"}),
    ("random", {"recipe": "random"}),
    ("limo", {"recipe": "limo"}),
    ("s1k", {"recipe": "s1k"}),
]
# tables `ded verify` and `ded score` write (their timestamp columns are clocks, not results)
TABLES = ("verdicts", "trajectory_scores", "question_scores", "model_scores")


def without_isolation(t: pa.Table) -> pa.Table:
    """verdicts.detail without its `isolation` record: the sandbox's uid (one of a pool, whichever worker was
    free) and what this host's kernel allows are facts of the run, not of the verdict."""
    def clean(d):
        if not d or not d.startswith("{"):
            return d
        j = json.loads(d)
        j.pop("isolation", None) if isinstance(j, dict) else None
        return json.dumps(j, sort_keys=True)
    i = t.schema.get_field_index("detail")
    return t.set_column(i, "detail", pa.array([clean(d) for d in t.column("detail").to_pylist()], pa.string()))


def table_digest(t: pa.Table, drop: tuple[str, ...] = ()) -> dict:
    """rows and sha256 of a table's rows as canonical JSON, without timestamp columns and those in `drop`."""
    keep = [f.name for f in t.schema if f.name not in drop and not pa.types.is_timestamp(f.type)]
    rows = sorted(json.dumps(r, sort_keys=True, default=str) for r in t.select(keep).to_pylist())
    return {"rows": len(rows), "columns": keep, "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo lake after verify and score, and the corpus folders of every selection in SELECTIONS."""
    from conftest import load_demo_lake

    from ded.lake import Lake
    from ded.stages import select

    lake = Lake(tmp_path_factory.mktemp("golden") / "lake")
    params = load_demo_lake(lake)
    runs = {}
    for name, sel in SELECTIONS:
        folder = tmp_path_factory.mktemp(f"corpus-{name}")
        export = params.select.export.model_copy(update={"out_dir": str(folder), "hf_dataset": False})
        runs[name] = (select.main(params, lake, diversity="none", export=export, **sel), folder)
    return lake, runs


@pytest.fixture(scope="module")
def digests(demo_run):
    lake, runs = demo_run
    out: dict[str, dict] = {}
    for name in TABLES:
        t = lake.read(name)
        out[f"table:{name}"] = table_digest(without_isolation(t) if name == "verdicts" else t)
    for name, _sel in SELECTIONS:
        m, folder = runs[name]
        rows = lake.read("selection", filter=f"run_id = '{m['run_id']}'")
        # run_id and params_hash hash the prompt templates' absolute paths: they differ by where the clone lives
        out[f"selection:{name}"] = {**table_digest(rows, ("run_id", "params_hash")), "kept": m["rows"]}
        out[f"corpus:{name}"] = {"train.jsonl": file_digest(folder / "train.jsonl"),
                                 "train.parquet": file_digest(folder / "train.parquet")}
    return out


def test_demo_results_are_byte_identical_to_the_pinned_ones(digests):
    if os.environ.get("DED_GOLDEN_UPDATE"):
        GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"DED_GOLDEN_UPDATE set: wrote {GOLDEN}; commit it with the reason the results moved")
    pinned = json.loads(GOLDEN.read_text())
    assert sorted(digests) == sorted(pinned), "the set of pinned results changed: regenerate (see the docstring)"
    moved = {k: {"pinned": pinned[k], "now": digests[k]} for k in pinned if pinned[k] != digests[k]}
    assert not moved, ("results moved (a refactor must not change them; a fix regenerates the pins, see the "
                       "docstring):\n" + json.dumps(moved, indent=1))


def test_the_digest_sees_one_changed_value():
    """The digest is not blind: one changed cell, a dropped row or a reordered input change it or not as they
    should (row order is not a result: the lake does not promise one)."""
    t = pa.table({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0]})
    base = table_digest(t)["sha256"]
    assert table_digest(t.take([2, 0, 1]))["sha256"] == base
    assert table_digest(pa.table({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0000001]}))["sha256"] != base
    assert table_digest(t.slice(0, 2))["sha256"] != base


def test_every_column_of_the_lake_is_declared(demo_run):
    """ded/schema.py declares every column a stage writes (core, or OPTIONAL for the columns a setting adds):
    one definition per column, and a new undeclared one fails here naming it."""
    from ded.schema import OPTIONAL, SCHEMAS

    lake, _runs = demo_run
    undeclared = {}
    for t in lake.table_names():
        declared = set(SCHEMAS[t].names) | set(OPTIONAL.get(t, pa.schema([])).names)
        extra = [c for c in lake.dataset(t).schema.names if c not in declared]
        if extra:
            undeclared[t] = extra
    assert not undeclared, f"columns not declared in ded/schema.py: {undeclared}"
    assert {"trajectories", "verdicts", "trajectory_scores", "question_scores", "model_scores", "selection"} <= set(
        lake.table_names())
