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

Imports of `ded` modules sit at the top of the module. One inside a function is allowed only where loading it
must wait: it reaches a HEAVY third-party package at import (computed from the imports, below), it is in the
CLI (LAZY_FOLDERS), or it carries a `# lazy: why` comment (an import cycle inside a package, CLI start-up).
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


# Third-party packages that are optional or slow to import (`python -X importtime -c "import torch"`: seconds,
# not milliseconds): a `ded` module whose top-level imports reach one of them is imported inside the function
# that needs it, so that the CLI and the stages that do not use it never pay for it.
HEAVY = {"torch", "transformers", "trl", "accelerate", "peft", "liger_kernel", "ray", "lancedb", "vllm",
         "math_verify", "sentence_transformers", "datasets", "matplotlib", "openai", "httpx"}
# The CLI imports every command module to build `ded --help`, and `ded sql` / `ded search` must start in well
# under 2 s: a command imports its stage and domain modules inside the command function, which runs only when
# that command is called. The whole folder is exempt rather than each import commented.
LAZY_FOLDERS = ("ded/commands/", "ded/cli.py")
# imports not yet moved (being edited elsewhere); move them and empty this list
PENDING: list[str] = []


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


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _targets(node: ast.Import | ast.ImportFrom, package: list[str]) -> list[str]:
    """What an import statement may load: the named modules, and for `from m import n`, also `m.n`."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = (".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            if node.level else (node.module or ""))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _walk_imports(root: Path):
    """(module, file, package, top-level import statements, [function bodies]) for every module under root."""
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        tree = ast.parse(f.read_text(encoding="utf-8"))
        top, bodies, todo = [], [], list(tree.body)
        while todo:  # module level, including its if/try/class blocks, but not function bodies
            node = todo.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                top.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bodies.extend(b for n in ast.walk(node) for field in ("body", "orelse", "finalbody", "handlers")
                              if isinstance(b := getattr(n, field, None), list) and field != "handlers")
            elif not _is_type_checking(node):
                todo.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt | ast.ExceptHandler))
        yield ".".join(parts).removesuffix(".__init__"), f, parts[:-1], top, bodies


def heavy_modules(root: Path = DED, heavy: set[str] = HEAVY) -> set[str]:
    """The `ded` modules whose import loads a HEAVY package, through their top-level imports, transitively
    (importing `ded.a.b` also runs `ded/a/__init__.py`)."""
    reach: dict[str, set[str]] = {}
    for me, _f, package, top, _ in _walk_imports(root):
        reach[me] = {t for n in top for t in _targets(n, package)} | {me.rpartition(".")[0]} - {""}
    def ded_modules(targets):
        return {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 2)} & set(reach)
    out = {m for m, ts in reach.items() if {t.split(".")[0] for t in ts} & heavy}
    while grown := {m for m, ts in reach.items() if m not in out and ded_modules(ts) & out}:
        out |= grown
    return out


def misplaced_imports(root: Path = DED, pending: list[str] = PENDING) -> list[str]:
    """file:line of each `ded` import inside a function that is neither heavy, nor in LAZY_FOLDERS or pending,
    nor commented `# lazy: ...` (on its line or the line above; the imports right after it share the comment)."""
    heavy = heavy_modules(root)
    out = []
    for _me, f, package, _top, bodies in _walk_imports(root):
        rel = f.relative_to(root.parent).as_posix()
        if rel.startswith(tuple(LAZY_FOLDERS) + tuple(pending)):
            continue
        lines = f.read_text(encoding="utf-8").splitlines()
        for body in bodies:
            commented = False
            for node in body:
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    commented = False
                    continue
                targets = _targets(node, package)
                if not any(t.split(".")[0] == root.name for t in targets):
                    continue
                text = lines[max(node.lineno - 2, 0): node.end_lineno]
                commented = commented or any("# lazy:" in line for line in text)
                is_heavy = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 2)} & heavy
                if not (commented or is_heavy):
                    out.append((rel, node.lineno, f"{rel}:{node.lineno}: {ast.unparse(node)}"))
    return [m for *_, m in sorted(out)]


def test_ded_imports_sit_at_the_top_of_the_module():
    found = misplaced_imports()
    assert not found, ("imports inside a function: move each to the top of its module (`ruff check --select I "
                       "--fix FILE` sorts them); if it must stay lazy, say why in a `# lazy: ...` comment on its "
                       "line or the line above (an import cycle inside a package, CLI start-up):\n"
                       + "\n".join(found))


def test_the_lazy_import_check_sees_a_planted_one(tmp_path):
    """Not blind: a light import inside a function is found; a heavy one (directly or through a package's
    __init__), a commented group, the CLI folder and a TYPE_CHECKING import are not."""
    pkg = tmp_path / "ded"
    files = {
        "__init__.py": "",
        "light.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\nx = 1\n",
        "gpu/__init__.py": "try:\n    import torch\nexcept ImportError:\n    torch = None\n",
        "gpu/kernels.py": "k = 1\n",
        "mid.py": "from ded.gpu.kernels import k\n",
        "user.py": ("def a():\n    from ded.light import x\n"
                    "def b():\n    from ded.mid import k\n"
                    "def c():\n    # lazy: a cycle with ded.light\n    from ded.light import x\n"
                    "    from . import light\n    y = 1\n    import ded.light\n"
                    "class C:\n    def d(self):\n        if self:\n            from .light import x\n"),
        "commands/__init__.py": "",
        "commands/run.py": "def f():\n    from ded.light import x\n",
    }
    for name, body in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    assert heavy_modules(pkg) == {"ded.gpu", "ded.gpu.kernels", "ded.mid"}
    assert [m.split(":")[1] for m in misplaced_imports(pkg, pending=[])] == ["2", "10", "14"]
    assert misplaced_imports(pkg, pending=["ded/user.py"]) == []
