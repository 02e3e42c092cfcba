"""The recipes are files that declare themselves (ded/selectors/recipes/): the registry, `select.recipe`'s
choices, the CLI help and the docs agree, and a new recipe is one new file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from ded.params import ABLATE_RECIPES, RECIPE_NAMES, SelectParams
from ded.selectors import recipes
from ded.stages.select import SCORE_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def test_registry_is_the_files_and_params_choices_follow_it():
    files = sorted(p.stem for p in (REPO / "ded" / "selectors" / "recipes").glob("*.py") if not p.stem.startswith("_"))
    assert list(recipes.RECIPES) == files == list(RECIPE_NAMES)
    assert set(RECIPE_NAMES) <= set(ABLATE_RECIPES)
    desc = SelectParams.model_fields["recipe"].description
    doc = (REPO / "docs" / "selection.md").read_text()
    for name, r in recipes.REGISTRY.items():
        assert r.name == name and r.doc and r.paper, name
        assert name in desc, f"select.recipe's description does not name recipe {name}"
        assert f"`{name}`" in doc, f"docs/selection.md does not describe recipe {name}"
        assert set(r.scores) <= set(SCORE_COLUMNS), name  # every declared reasons column is recorded
        for sub in r.reads:
            assert sub in SelectParams.model_fields, f"recipe {name} reads select.{sub}, which params lacks"


def test_unknown_recipe_names_the_choices():
    import pytest

    with pytest.raises(recipes.RecipeError, match="choose one of"):
        recipes.get("nope")


SHORTEST = '''"""shortest (a test recipe): per question the correct trajectory with the fewest tokens, top N."""

from ded.selectors.blocks import base_filters, best_per_question, domain_filter
from ded.selectors.budget import budget_step, order_by
from ded.selectors.recipes import Recipe


def steps(sp, teachers, cand, vectors):
    return [*base_filters(sp, teachers), domain_filter(sp.domain_mix),
            best_per_question("shortest", "n_tokens", False, "the fewest tokens of its question"),
            budget_step(sp.budget, sp.domain_mix, sp.fill_shortfall, order_by(["n_tokens"], [False]),
                        ["trajectory_id"], f"top {sp.budget} by fewest tokens")]


RECIPE = Recipe(name="shortest", paper="test", doc="the shortest correct trajectory per question", steps=steps)
'''

RUN = '''
import json, sys
sys.path.insert(0, sys.argv[3])  # tests/, for conftest's demo lake
from conftest import load_demo_lake
from ded.lake import Lake
from ded.stages import select
params = load_demo_lake(Lake(sys.argv[1]))
export = params.select.export.model_copy(update={"out_dir": sys.argv[2], "hf_dataset": False})
m = select.main(params, Lake(sys.argv[1]), recipe="shortest", diversity="none", export=export)
print(json.dumps({"recipe": m["recipe"], "rows": m["rows"], "run_id": m["run_id"], "file": select.__file__}))
'''


def test_a_new_recipe_is_one_new_file(tmp_path):
    """A copy of the package with one file added to ded/selectors/recipes/: `select.recipe: shortest` validates,
    `ded select --help` lists it, and it selects on the demo lake, its steps recorded like any recipe's."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "ded", copy / "ded", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "ded" / "selectors" / "recipes" / "shortest.py").write_text(SHORTEST)
    for d in ("sql", "prompts"):
        (copy / d).symlink_to(REPO / d)
    env = {**os.environ, "PYTHONPATH": str(copy), "DED_PROGRESS": "0"}
    helped = subprocess.run([sys.executable, "-m", "ded", "select", "--help"], check=False, cwd=copy, env=env,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "shortest" in helped.stdout
    lake = tmp_path / "lake"
    out = subprocess.run([sys.executable, "-c", RUN, str(lake), str(tmp_path / "corpus"), str(REPO / "tests")],
                         check=False, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(copy)) and got["recipe"] == "shortest" and got["rows"] == 48
    from ded.lake import Lake

    sel = pl.from_arrow(Lake(lake).read("selection", filter=f"run_id = '{got['run_id']}'"))
    kept = sel.filter(pl.col("kept"))
    assert kept.height == 48 and kept["question_id"].is_unique().all()
    assert "shortest" in set(sel["dropped_by"].drop_nulls().to_list())  # its own step, recorded per row
    # each kept trajectory is the shortest trusted-correct one of its question among the chosen teacher's
    ts = pl.from_arrow(Lake(lake).read("trajectory_scores", columns=["trajectory_id", "question_id", "model",
                                                                     "correct", "n_tokens"]))
    best = (ts.filter(pl.col("correct") & pl.col("trajectory_id").is_in(sel["trajectory_id"].to_list()))
            .join(kept.select("question_id"), on="question_id")
            .filter(pl.col("model").is_in(kept["model"].unique().to_list()))
            .group_by("question_id").agg(pl.col("n_tokens").min().alias("fewest")))
    mine = kept.join(ts.select("trajectory_id", "n_tokens"), on="trajectory_id").join(best, on="question_id")
    assert (mine["n_tokens"] == mine["fewest"]).all()


def test_every_column_a_recipe_needs_is_a_candidate_column(tmp_path):
    """What a recipe declares it needs (`needs`) is a column sql/select/candidates.sql gives, on the demo lake."""
    from conftest import load_demo_lake

    from ded.lake import Lake
    from ded.sql import connect
    from ded.stages.select import load_candidates

    lake = Lake(tmp_path / "lake")
    params = load_demo_lake(lake)
    cand = load_candidates(connect(lake, read_only=False), params.select)
    for name, r in recipes.REGISTRY.items():
        assert set(r.needs) <= set(cand.columns), (name, sorted(set(r.needs) - set(cand.columns)))
        prepared = recipes.prepare(params.select.model_copy(update={"recipe": name}), cand)
        assert prepared.height == cand.height, name  # prepare adds columns, never drops candidates
