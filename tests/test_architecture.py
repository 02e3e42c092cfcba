"""The import graph of `ded`: floors, and no package cycles (docs/architecture.md).

Floors, lowest first; a module imports only from its own floor or below, and the packages of one floor import
each other without a cycle:

0. base: the top-level modules (`ded/lake.py`, `params.py`, `sql.py`, `schema.py`, `ids.py`, `text.py`,
   `prompts.py`, `corpus.py`, ...), which know no domain;
1. domain packages: ingest, verifiers, scorers, selectors, dedup, embeddings, decontam, search, backends,
   benchmarks, evaluation, training, report;
2. compute: the Ray engine's actors around the domain code;
3. stages: one module per pipeline stage, wiring domain code to the lake and params;
4. commands: the CLI's subcommands; 5. cli.

Lazy imports (inside functions) count: a cycle hidden in a function still makes one module's edit rerun
another's stage and breaks import order when the function moves.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DED = REPO / "ded"
FLOORS = {
    "ded.compute": 2, "ded.stages": 3, "ded.commands": 4, "ded.cli": 5, "ded.__main__": 5,
    **{f"ded.{p}": 1 for p in ("ingest", "verifiers", "scorers", "selectors", "dedup", "embeddings", "decontam",
                               "search", "backends", "benchmarks", "evaluation", "training", "report")},
}


def unit(module: str) -> str:
    """The unit of the graph: a subpackage (ded.stages.score -> ded.stages) or a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (DED / parts[1]).is_dir() else module


def floor(u: str) -> int:
    return FLOORS.get(u, 0)


def import_edges(root: Path = DED) -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> the file:line of each import, for every `ded` import between two units."""
    edges: dict[tuple[str, str], list[str]] = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        me = ".".join(parts).removesuffix(".__init__")
        package = parts[:-1]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                           if node.level else (node.module or "")]
            else:
                continue
            for t in targets:
                if t.split(".")[0] == root.name and unit(t) != unit(me):
                    edges.setdefault((unit(me), unit(t)), []).append(f"{f.relative_to(root.parent)}:{node.lineno}")
    return edges


def cycles(edges) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_package_cycles():
    edges = import_edges()
    found = cycles(edges)
    detail = [f"{sorted(c)}: " + "; ".join(f"{a} -> {b} ({', '.join(edges[(a, b)][:3])})"
                                          for a in c for b in c if (a, b) in edges) for c in found]
    assert not found, "package cycles (move the shared piece down a floor):\n" + "\n".join(detail)


def test_every_import_goes_down_or_across():
    up = [f"{a} (floor {floor(a)}) -> {b} (floor {floor(b)}): {', '.join(w[:3])}"
          for (a, b), w in sorted(import_edges().items()) if floor(b) > floor(a)]
    assert not up, "imports up a floor (see the floors in this file's docstring):\n" + "\n".join(up)


def test_every_package_has_a_floor():
    packages = {f"ded.{p.name}" for p in DED.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(FLOORS), f"packages without a floor here: {sorted(packages - set(FLOORS))}"


def test_the_checks_see_a_planted_cycle_and_an_upward_import(tmp_path):
    """The checks are not blind: a two-package cycle through a lazy import and a domain module importing a stage."""
    pkg = tmp_path / "ded"
    for sub, body in {"verifiers": "def f():\n    from ded.scorers.x import y\n",
                      "scorers": "from ded.verifiers import f\nfrom ded.stages.score import z\n",
                      "stages": ""}.items():
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text(body)
    edges = import_edges(pkg)
    assert cycles(edges) == [["ded.scorers", "ded.verifiers"]]
    assert ("ded.scorers", "ded.stages") in edges and floor("ded.stages") > floor("ded.scorers")
