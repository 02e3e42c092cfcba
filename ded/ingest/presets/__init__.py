"""Presets: the row shapes this field publishes, mapped onto questions, trajectories and verdicts.

One file per preset in this package (`generic.py`, `qwen_math_eval.py`, `lcb.py`, ...), each ending with
`PRESET = Preset(...)` (ded/ingest/presets/_shape.py): its name (the file's, with `-` for `_`), its parser
(a record → `Parsed`, or `Reject(reason)`), whether its rows are model responses, where its responses and its
problem text are, and its documentation line. The registry below is built from the files; `--preset`'s
choices (`ded ingest --help`), `ingest.sources[].preset`'s validation and the README list follow it, so a new
preset is one new file (plus its test). Presets only map fields; ids, reasoning splitting and dedup happen in
`ded.ingest.core`, so every preset gets them the same way.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ded.ingest.presets._shape import (
    PROBLEM_KEYS,
    Parsed,
    Preset,
    Reject,
    Traj,
    _chat_user,
    _first,
    default_response_field,
)


def _load() -> dict[str, Preset]:
    found: dict[str, Preset] = {}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        p = getattr(importlib.import_module(f"{__name__}.{m.name}"), "PRESET", None)
        if not isinstance(p, Preset) or p.name.replace("-", "_") != m.name:
            raise ValueError(f"ded/ingest/presets/{m.name}.py must define PRESET = Preset(name="
                             f"{m.name.replace('_', '-')!r}, ...)")
        found[p.name] = p
    return found


REGISTRY: dict[str, Preset] = _load()
PRESETS: dict[str, Callable[[dict[str, Any], str], Parsed]] = {n: p.parse for n, p in REGISTRY.items()}
# Presets whose rows are model responses (a question set does not come in these shapes): with the
# default kind (auto) they ingest as trajectories.
TRAJECTORY_PRESETS = tuple(n for n, p in REGISTRY.items() if p.trajectories)


def get_preset(name: str) -> Callable[[dict[str, Any], str], Parsed]:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


def response_field(rec: dict[str, Any], preset: str) -> str | None:
    """The field of `rec` that carries model responses as `preset` reads them, or None.

    Decides the default kind (auto) and finds the rows that `--kind questions` would drop."""
    p = REGISTRY.get(preset)
    return (p.response_field if p else default_response_field)(rec)


def problem_of(rec: dict[str, Any], preset: str | None = None) -> str | None:
    """The problem text `preset` reads from `rec` (the text its question id hashes), or None; works on records
    the preset rejected (to know which question was rejected). `preset=None` (a stored reject, its preset
    unknown) guesses from the record's fields (each preset's `looks_like`)."""
    if not isinstance(rec, dict):
        return None
    p = REGISTRY.get(preset or "")
    if preset is None:
        p = next((q for q in REGISTRY.values() if q.looks_like and q.looks_like(rec)), None)
    if p is not None and p.problem is not None:
        return p.problem(rec)
    _k, v = _first(rec, p.problem_keys if p is not None else PROBLEM_KEYS)
    v = _chat_user(v)
    return v if isinstance(v, str) and v.strip() else None


__all__ = ["PRESETS", "REGISTRY", "TRAJECTORY_PRESETS", "Parsed", "Preset", "Reject", "Traj", "get_preset",
           "problem_of", "response_field"]
