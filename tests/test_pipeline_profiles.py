"""dvc.yaml and the recipe profiles: complete, consistent with each other, and switchable in one command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ded.params import Params, load_params

REPO = Path(__file__).resolve().parents[1]
PROFILES = ["demo", "ded-paper", "limo", "s1k"]
STAGES = ["ingest", "generate", "verify", "embed", "smoke", "score", "select", "sft", "evaluate", "report"]


def _dvc() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _outs(stages: dict) -> set[str]:
    out = set()
    for st in stages.values():
        st = st.get("do", st)
        for kind in ("outs", "metrics", "plots"):
            for o in st.get(kind, []):
                out.add(next(iter(o)) if isinstance(o, dict) else o)
    return out


@pytest.mark.parametrize("name", PROFILES)
def test_profile_is_complete_and_valid(name):
    path = REPO / "pipelines" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    assert raw["profile"] == name
    missing = [s for s in Params.model_fields if s not in raw]
    assert not missing, f"{path.name} lacks sections {missing} (DVC reads params.yaml keys as written)"
    p = load_params(path)
    names = {m.name for m in p.models}
    assert p.student is None or p.student.model in names
    assert set(p.generate.models) <= names and set(p.evaluate.models) <= names
    assert set(p.evaluate.benchmarks) <= set(p.benchmarks) and set(p.smoke.benchmarks) <= set(p.benchmarks)
    if p.sft.accelerate_config:
        assert (REPO / p.sft.accelerate_config).exists()


def test_every_params_key_of_dvc_yaml_exists_in_every_profile():
    keys = {k for st in _dvc().values() for k in st.get("do", st).get("params", [])} | {"smoke.teachers"}
    for name in PROFILES:
        raw = yaml.safe_load((REPO / "pipelines" / f"{name}.yaml").read_text())
        for key in keys:
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}.yaml has no `{key}` (dvc.yaml reads it)"
                node = node[part]


def test_dvc_stages_are_named_once_and_their_code_deps_exist():
    stages = _dvc()
    assert list(stages) == STAGES
    produced = _outs(stages)
    for name, st in stages.items():
        st = st.get("do", st)
        assert st["cmd"].split()[:2] == ["ded", name], name
        code = {"report": "ded/report"}.get(name, f"ded/stages/{name}.py")
        assert code in st["deps"], f"{name}: its code {code} is not a dependency"
        for dep in st["deps"]:
            upstream = any(dep == o or dep.startswith(o + "/") or o.startswith(dep + "/") for o in produced)
            assert upstream or (REPO / dep).exists() or dep == "data", f"{name}: dependency {dep} does not exist"


# Modules whose changes cannot change a stage's outputs: messages, progress bars, CLI plumbing.
NOT_DEPS = {"ded/__init__.py", "ded/errors.py", "ded/progress.py", "ded/commands/__init__.py", "ded/commands/common.py"}


def _module_file(name: str) -> Path | None:
    p = REPO / Path(*name.split("."))
    for f in (p / "__init__.py", p.with_suffix(".py")):
        if f.exists():
            return f
    return None


def _ded_imports(f: Path) -> set[str]:
    """Every `ded.*` module a file imports, at top level or inside functions (lazy imports count)."""
    import ast

    parts = list(f.relative_to(REPO).with_suffix("").parts)
    package = parts[:-1]  # a module's package; for __init__.py the package itself
    out = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "ded"}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            if base.split(".")[0] == "ded":
                out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def _code_closure(entry: str) -> set[str]:
    """Files of every ded module `entry` can run (imports followed transitively, parent packages included)."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        f = _module_file(name)
        if f is None or f in seen:
            continue
        seen.add(f)
        todo += [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo += _ded_imports(f)
    return {str(f.relative_to(REPO)) for f in seen}


def _sql_files(code: set[str]) -> set[str]:
    """The sql/ files these modules run: string constants such as "select/candidates" naming a file there, or
    "report/" naming a folder there whose files a module runs by name."""
    import ast

    out = set()
    for f in code:
        for node in ast.walk(ast.parse((REPO / f).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/" in node.value \
                    and len(node.value) < 80 and "\n" not in node.value:
                if node.value.endswith("/") and (REPO / "sql" / node.value).is_dir():
                    out |= {str(p.relative_to(REPO)) for p in (REPO / "sql" / node.value).glob("*.sql")}
                name = node.value if node.value.endswith(".sql") else f"{node.value}.sql"
                if (REPO / "sql" / name).is_file():
                    out.add(f"sql/{name}")
    return out


def test_every_module_and_sql_file_a_stage_runs_is_among_its_deps():
    """Editing any code a stage runs (ded/corpus.py for select, ded/tiny.py for sft, sql/generate/*.sql for
    generate...) must rerun it."""
    for name, st in _dvc().items():
        deps = [d.rstrip("/") for d in st.get("do", st)["deps"]]
        code = _code_closure(f"ded.commands.{name}")
        assert f"ded/commands/{name}.py" in code and len(code) > 5, name
        needed = (code - NOT_DEPS) | _sql_files(code)
        missing = sorted(f for f in needed if not any(f == d or f.startswith(d + "/") for d in deps))
        assert not missing, f"dvc.yaml stage {name} runs {missing} but does not depend on them"


def test_ded_paper_is_the_papers_setup():
    p = load_params(REPO / "pipelines" / "ded-paper.yaml")
    teachers = {p.model(t).model for t in p.smoke.teachers}
    assert teachers == {"deepseek-ai/DeepSeek-R1", "Qwen/QwQ-32B", "Qwen/Qwen3-32B", "Qwen/Qwen3-235B-A22B"}
    assert all(p.model(t).backend == "openai" for t in p.smoke.teachers)
    assert p.model(p.student.model).model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
    gpus = yaml.safe_load((REPO / p.sft.accelerate_config).read_text())["num_processes"]
    assert p.sft.per_device_batch_size * p.sft.gradient_accumulation_steps * gpus == 48
    assert (p.sft.learning_rate, p.sft.epochs, p.sft.max_length) == (1e-5, 10, 16384)
    assert p.evaluate.n == 16 and p.select.budget == 800 and p.select.p == 4


def test_params_yaml_is_the_demo_profile():
    assert (REPO / "params.yaml").read_bytes() == (REPO / "pipelines" / "demo.yaml").read_bytes(), (
        "params.yaml drifted from pipelines/demo.yaml: make the change in pipelines/<profile>.yaml "
        "(every profile that needs it), then `ded profile demo` rewrites params.yaml")


def test_ded_profile_switches_lists_and_keeps_hand_edits(tmp_path, monkeypatch):
    from ded.cli import app

    (tmp_path / "pipelines").mkdir()
    for name in PROFILES:
        (tmp_path / "pipelines" / f"{name}.yaml").write_bytes((REPO / "pipelines" / f"{name}.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["profile", "ded-paper"])
    assert r.exit_code == 0, r.output
    assert Path("params.yaml").read_bytes() == Path("pipelines/ded-paper.yaml").read_bytes()
    listing = runner.invoke(app, ["profile"]).output
    assert "* ded-paper" in listing and "  demo" in listing
    Path("params.yaml").write_text(Path("params.yaml").read_text() + "\n# my edit\n")
    r = runner.invoke(app, ["profile", "demo"])
    assert r.exit_code == 0 and "params.yaml.bak" in r.output
    assert Path("params.yaml.bak").read_text().endswith("# my edit\n")
    r = runner.invoke(app, ["profile", "nope"])
    assert r.exit_code != 0 and "demo" in str(r.exception)


@pytest.mark.parametrize("name", ["ded-paper", "limo", "s1k"])
def test_livecodebench_is_deds_window_and_says_whose_it_is(name):
    """DED evaluates LiveCodeBench on problems of 2025-02 to 2025-05 (arXiv 2508.09883). limo and s1k keep
    LiveCodeBench only to compare on ded-paper's panel: their comments say it is not their paper's benchmark and
    name the sets the paper did use (LIMO: GAIR-NLP/LIMO eval/data; s1: simplescaling/s1 eval/commands.sh)."""
    p = load_params(REPO / "pipelines" / f"{name}.yaml")
    lcb = p.benchmarks["livecodebench"]
    assert lcb.name == "release_v6"  # the newest release; release_v5 ends in January 2025, before the window
    assert lcb.options == {"start_date": "2025-02-01", "end_date": "2025-06-01"}
    assert (p.evaluate.lcb_start, p.evaluate.lcb_end) == ("2025-02-01", "2025-06-01")
    text = (REPO / "pipelines" / f"{name}.yaml").read_text()
    comment = text[: text.index("  livecodebench:")].rsplit("math500:", 1)[1]
    assert "DED" in comment and "2025-02 to 2025-05" in comment
    if name == "limo":
        assert "Not a LIMO benchmark" in comment and "AMC23" in comment and "GPQA" in comment
    if name == "s1k":
        assert "Not an s1K benchmark" in comment and "AIME24, MATH500 and GPQA Diamond" in comment


def test_limo_reference_model_and_attempts_are_limos(monkeypatch):
    """LIMO (arXiv 2502.03387): the weak pass is Qwen2.5-Math-7B-Instruct with a few attempts; the window is 1-3
    solves of 32 samples by DeepSeek-R1-Distill-Qwen-32B. `ded generate` gives each model its own count
    (generate.samples would give all of them the same)."""
    from ded.stages.generate import build_requests

    monkeypatch.chdir(REPO)  # the prompt templates are repo-relative
    p = load_params(REPO / "pipelines" / "limo.yaml")
    q = {"question_id": "q_x", "problem": "What is 1 + 1?", "domain": "math", "starter_code": None, "entry_point": None}
    attempts = lambda m: len(build_requests(p.model(m), [q], p, p.generate.samples))  # noqa: E731
    ref, weak = p.select.limo.reference_models, p.select.limo.weak_models
    assert [p.model(m).model for m in ref] == ["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"]
    assert [p.model(m).model for m in weak] == ["Qwen/Qwen2.5-Math-7B-Instruct"]
    assert set(ref) | set(weak) <= set(p.generate.models)
    assert [attempts(m) for m in ref] == [32]
    assert all(1 <= attempts(m) < 32 for m in weak)
    assert (p.select.limo.min_correct, p.select.limo.max_correct) == (1, 3)


@pytest.mark.parametrize("name,batch", [("ded-paper", 48), ("limo", 64), ("s1k", 16)])
def test_paper_batch_counts_samples_not_packed_rows(name, batch):
    """The papers' batch sizes count samples per optimizer step. With packing on, per_device_batch_size x
    gradient_accumulation_steps x GPUs counts packed sequences holding several samples each, so the paper
    profiles train unpacked, one sample per micro-batch (no padding at batch 1)."""
    p = load_params(REPO / "pipelines" / f"{name}.yaml")
    gpus = yaml.safe_load((REPO / p.sft.accelerate_config).read_text())["num_processes"]
    assert p.sft.packing is False
    assert p.sft.per_device_batch_size == 1
    assert p.sft.per_device_batch_size * p.sft.gradient_accumulation_steps * gpus == batch


# Sections a stage may read without declaring them: where the lake lives and where the work runs change no
# output (tests/test_demo_ray_s3.py: the same corpus on S3 + Ray as locally), and the profile's name is a label.
PARAMS_NOT_DECLARED = {"lake", "compute", "profile", "evaluate.grade_workers"}  # grade_workers: parallelism only
# Files in a stage's closure whose reads of a section are on another stage's path, or read a section the caller
# built (the closure is per file, so it over-approximates): (stage, file) -> why the stage need not declare them.
READ_VIA = {
    ("sft", "ded/evaluation/runner.py"): "t3s calls build_plan/grade_run with an evaluate section it built from "
                                         "t3s keys and evaluate.{ks,ci_level,bootstrap}; select_items "
                                         "(params.benchmarks, evaluate.lcb_*) is evaluate's path, not t3s's",
    ("sft", "ded/evaluation/results.py"): "run_entry reads the evaluate section t3s built (see above)",
    ("sft", "ded/benchmarks/__init__.py"): "load_benchmarks is reached from select_items only (evaluate's path)",
}
# Params methods that read a section: `params.model(name)` looks a name up in `models`.
PARAMS_METHODS = {"model": "models", "hash": None, "model_dump": None, "model_copy": None}


def _params_chain(node) -> list[str] | None:
    """`params.a.b` or `getattr(getattr(params, "a"), "b")` -> ["a", "b"]; None when not rooted at `params`."""
    import ast

    if isinstance(node, ast.Name):
        return [] if node.id == "params" else None
    if isinstance(node, ast.Attribute):
        head = _params_chain(node.value)
        return None if head is None else head + [node.attr]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) > 1 \
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
        head = _params_chain(node.args[0])
        return None if head is None else head + [node.args[1].value]
    return None


def _params_reads(f: str) -> dict[str, int]:
    """The params keys a file reads, as dotted paths (`params.select.export.think` -> select.export.think),
    with a line each: every attribute chain (or getattr chain) on a name `params`. Sub-objects handed on
    (`sp = params.select`) count as the whole section; so does a section's method (`params.score.model_copy`)."""
    import ast

    tree = ast.parse((REPO / f).read_text(encoding="utf-8"))
    parent = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    out: dict[str, int] = {}
    for node in ast.walk(tree):
        chain = _params_chain(node)
        if not chain or _params_chain(parent.get(node)) is not None:
            continue  # not a read, or not the longest chain (its parent extends it)
        if chain[0] in PARAMS_METHODS:
            if PARAMS_METHODS[chain[0]] is None:
                continue
            chain = [PARAMS_METHODS[chain[0]]]
        if chain[0] not in Params.model_fields:
            continue
        fields: list[str] = []
        model = Params
        for part in chain:  # the fields of the chain; a method or a dict key ends it
            mf = getattr(model, "model_fields", None)
            if mf is None or part not in mf:
                break
            fields.append(part)
            ann = mf[part].annotation
            model = ann if isinstance(ann, type) else None
        out.setdefault(".".join(fields), node.lineno)
    return out


def _declared_params(st: dict) -> set[str]:
    out: set[str] = set()
    for p in st.get("params", []):
        out |= set(next(iter(p.values()))) if isinstance(p, dict) else {p}
    return out


def test_every_params_key_a_stage_reads_is_declared():
    """A stage that reads a params key dvc.yaml does not declare keeps a stale cache when the key changes (the
    score stage's student scoring read select.export.think, prompts and models undeclared). The keys are read
    from the stage's code closure, so adding a read without declaring it fails here."""
    problems = []
    for name, st in _dvc().items():
        st = st.get("do", st)
        declared = _declared_params(st)
        for f in sorted(_code_closure(f"ded.commands.{name}") - NOT_DEPS):
            if (name, f) in READ_VIA:
                continue
            for key, line in _params_reads(f).items():
                if key.split(".")[0] in PARAMS_NOT_DECLARED or key in PARAMS_NOT_DECLARED:
                    continue
                if not any(key == d or key.startswith(d + ".") for d in declared):
                    problems.append(f"{name}: {f}:{line} reads params.{key}, not among its params {sorted(declared)}")
    assert not problems, "\n".join(problems)


def test_the_params_reader_finds_reads():
    """The reader above is not blind: it sees chains, getattr, the models method and stops at sub-objects."""
    import tempfile

    src = ("def f(params):\n    a = params.select.export.think\n    b = getattr(params, 'sft', None)\n"
           "    c = params.model('x')\n    d = params.score.model_copy(update={})\n    e = params.hash()\n"
           "    g = getattr(getattr(params, 'ablate', None), 'metrics', None)\n")
    with tempfile.NamedTemporaryFile("w", suffix=".py", dir=REPO / "tests", delete=False) as t:
        t.write(src)
    try:
        got = _params_reads(str(Path(t.name).relative_to(REPO)))
    finally:
        Path(t.name).unlink()
    assert set(got) == {"select.export.think", "sft", "models", "score", "ablate.metrics"}


def test_no_stage_depends_on_code_it_does_not_run():
    """The other direction: a code dependency none of whose files the stage runs reruns it for nothing
    (GPQA's evaluation code once sat in the verify stage's deps)."""
    stale = []
    for name, st in _dvc().items():
        code = _code_closure(f"ded.commands.{name}")
        needed = code | _sql_files(code)
        for dep in (d.split("#")[0].strip().rstrip("/") for d in st.get("do", st)["deps"]):
            if dep.split("/")[0] in ("ded", "sql") and not any(f == dep or f.startswith(dep + "/") for f in needed):
                stale.append(f"{name}: {dep}")
    assert not stale, f"dvc.yaml deps no code path of the stage reaches: {stale}"
