"""The recipes: one file each in this package, each declaring itself (`RECIPE = Recipe(...)`).

A recipe is a chain of named steps built from the shared blocks (ded/selectors/blocks.py, budget.py,
farthest.py), run by `ded.stages.select` over the candidates of sql/select/candidates.sql. Each file holds
its recipe's step builder and declares its name (= the file's name), its paper, its documentation line, the
sub-sections of `select` it reads, the candidate columns it needs and the columns it adds to a row's reasons,
and the hints that say how to fix a selection one of its steps emptied. The registry below is built from the
files, and `select.recipe`'s choices (ded/params.py, by file name), `ded select --help`, the selection
table's score columns and docs/selection.md's recipe list come from it: adding a recipe is one new file
(plus its test).

- ded (arXiv 2508.09883), limo (2502.03387), s1k (2501.19393), rsr (2601.14249) and random (the baseline).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ded.errors import DedError
from ded.selectors.blocks import Step

Vectors = Callable[[list[str]], dict[str, np.ndarray]] | None


class RecipeError(DedError):
    """A recipe cannot run on this lake; the message says which score or stage is missing."""


@dataclass(frozen=True)
class Recipe:
    """One recipe. `steps(sp, teachers, cand, vectors)` builds its chain from the `select` section `sp`."""

    name: str
    paper: str  # where it comes from ("arXiv 2508.09883"; "baseline")
    doc: str  # one line: what it keeps (ded select --help, docs)
    steps: Callable[[Any, list[str] | None, pl.DataFrame, Vectors], list[Step]]
    reads: tuple[str, ...] = ()  # sub-sections of `select` it reads beyond the shared keys (e.g. "limo")
    needs: tuple[str, ...] = ()  # candidate columns it cannot run without (sql/select/candidates.sql)
    scores: tuple[str, ...] = ()  # columns it adds to every row's reasons.scores in `selection`
    prepare: Callable[[pl.DataFrame, Any], pl.DataFrame] | None = None  # candidates -> candidates, before steps
    hints: dict[str, Callable[[Any, pl.DataFrame], str]] = field(default_factory=dict)  # step -> how to fix


def need(cand: pl.DataFrame, column: str, fix: str) -> None:
    """Fail with `fix` when the candidates lack `column` (a score its recipe needs was not computed)."""
    if column not in cand.columns or cand[column].is_null().all():
        raise RecipeError(f"this recipe needs trajectory_scores.{column}, which is empty; {fix}")


def _load() -> dict[str, Recipe]:
    found: dict[str, Recipe] = {}
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        r = getattr(importlib.import_module(f"{__name__}.{mod}"), "RECIPE", None)
        if not isinstance(r, Recipe) or r.name != mod:
            raise RecipeError(f"ded/selectors/recipes/{mod}.py must define RECIPE = Recipe(name={mod!r}, ...)")
        found[mod] = r
    return found


REGISTRY: dict[str, Recipe] = _load()
RECIPES = tuple(REGISTRY)


def get(name: str) -> Recipe:
    if name not in REGISTRY:
        raise RecipeError(f"unknown recipe {name!r}; choose one of {RECIPES}")
    return REGISTRY[name]


# how to fix a selection emptied by a step every recipe may have (a recipe's own steps: its `hints`)
COMMON_HINTS: dict[str, Callable[[Any, pl.DataFrame], str]] = {
    "teacher": lambda sp, r: (f"no candidate is by the chosen teachers; pick others with --teacher NAME or "
                              f"--teacher all (models here: {sorted(r['model'].unique().to_list())})"),
    "correct": lambda sp, r: "no trusted verdict is correct: check score.verifiers (`ded verify`, then `ded score`)",
    "domain_mix": lambda sp, r: (f"no candidate is in the domains of select.domain_mix {sorted(sp.domain_mix)}; "
                                 f"domains here: {sorted(r['domain'].unique().to_list())}"),
}


def empty_hint(sp: Any, step: str, reached: pl.DataFrame) -> str:
    """How to fix a selection that `step` emptied; `reached` holds the candidates that step dropped."""
    fn = get(sp.recipe).hints.get(step) or COMMON_HINTS.get(step)
    return fn(sp, reached) if fn else "loosen that step's settings under `select` in params.yaml"


def build_steps(sp: Any, teachers: list[str] | None, cand: pl.DataFrame, vectors: Vectors) -> list[Step]:
    return get(sp.recipe).steps(sp, teachers, cand, vectors)


def prepare(sp: Any, cand: pl.DataFrame) -> pl.DataFrame:
    r = get(sp.recipe)
    return r.prepare(cand, sp) if r.prepare else cand


def score_columns() -> list[str]:
    """Every recipe's extra reasons columns, in registry order, once each."""
    out: list[str] = []
    for r in REGISTRY.values():
        out += [c for c in r.scores if c not in out]
    return out
