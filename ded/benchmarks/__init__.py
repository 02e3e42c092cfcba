"""The shared benchmark loader: `benchmarks` params → `benchmark_items` (ARCHITECTURE.md).

Embed (decontamination) and evaluate both call `load_benchmarks`; it merges on (benchmark, item_id), so
whichever runs first loads the items and the other finds them in place. A benchmark's rows are exactly
what its spec reads: items that a narrower spec no longer yields (a moved date window) are removed.
Only new or changed items are merged, so an unchanged reload adds no `benchmark_items` version.

    from ded.benchmarks import load_benchmarks, read_items
    load_benchmarks(lake, params)                 # {"aime24": 30, "math500": 500, ...}
    read_items("aime24", params.benchmarks["aime24"])   # list of benchmark_items dicts
"""

from __future__ import annotations

from collections.abc import Iterable

from ded.benchmarks.readers import (
    BenchmarkError,
    normalize_answer,
    read_rows,
    shape_items,
)
from ded.lake import Lake
from ded.schema import conform

__all__ = ["BenchmarkError", "load_benchmarks", "normalize_answer", "read_items"]


def read_items(name: str, spec) -> list[dict]:
    """The items of one benchmark spec (a `BenchmarkSpec` or a dict of its fields), as row dicts."""
    get = spec.get if isinstance(spec, dict) else lambda k, d=None: getattr(spec, k, d)
    path = get("path_or_hub")
    if not path:
        raise BenchmarkError(f"benchmark {name!r} has no path_or_hub")
    rows = read_rows(path, get("split", "test") or "test", get("name"))
    items = shape_items(rows, name, get("domain", "math") or "math", dict(get("options") or {}), path)
    if not items:
        raise BenchmarkError(f"benchmark {name!r} read 0 items from {path}; check its split and options "
                             f"(date window: {dict(get('options') or {})})")
    return items


def load_benchmarks(lake: Lake, params, names: Iterable[str] | None = None) -> dict[str, int]:
    """Load the named benchmarks of `params.benchmarks` (all when `names` is None) into `benchmark_items`."""
    specs = params.benchmarks if hasattr(params, "benchmarks") else dict(params)
    wanted = list(specs) if names is None else list(names)
    unknown = [n for n in wanted if n not in specs]
    if unknown:
        raise BenchmarkError(f"unknown benchmarks {unknown}; params.benchmarks has {sorted(specs)}")
    out = {}
    for name in wanted:
        items = read_items(name, specs[name])
        keep = {it["item_id"] for it in items}
        if lake.exists("benchmark_items"):
            old = lake.read("benchmark_items", columns=["item_id"], filter=_eq("benchmark", name))
            gone = [i for i in old.column("item_id").to_pylist() if i not in keep]
            if gone:
                ids = ", ".join("'" + g.replace("'", "''") + "'" for g in gone)
                lake.delete("benchmark_items", f"{_eq('benchmark', name)} AND item_id IN ({ids})")
        changed = _changed(lake, name, items)
        if changed:  # an unchanged reload writes nothing: no new version, so nothing downstream reruns
            lake.merge("benchmark_items", changed, update=True)
        out[name] = len(items)
    return out


def _changed(lake: Lake, name: str, items: list[dict]) -> list[dict]:
    """The items that are new or differ from the stored row of the same (benchmark, item_id)."""
    if not items or not lake.exists("benchmark_items"):
        return items
    new = conform("benchmark_items", items)
    old = lake.read("benchmark_items", filter=_eq("benchmark", name))
    cols = new.column_names
    if any(c not in old.column_names for c in cols):
        return items  # a column the stored rows lack: let the merge write every row
    stored = {r["item_id"]: r for r in old.select(cols).to_pylist()}
    return [it for it, row in zip(items, new.to_pylist()) if stored.get(row["item_id"]) != row]


def _eq(col: str, value: str) -> str:
    return f"{col} = '" + value.replace("'", "''") + "'"
