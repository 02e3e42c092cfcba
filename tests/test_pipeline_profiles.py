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
    """The sql/ files these modules run: string constants such as "select/candidates" naming a file there."""
    import ast

    out = set()
    for f in code:
        for node in ast.walk(ast.parse((REPO / f).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/" in node.value \
                    and len(node.value) < 80 and "\n" not in node.value:
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
