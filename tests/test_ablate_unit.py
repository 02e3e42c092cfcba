"""`ded ablate`'s parts that need no training: arms, the paired bootstrap, the table rows, the summary, the SVG,
the params and the DVC file (docs/ablation.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from ded.params import load_params, parse_params
from ded.stages import ablate

REPO = Path(__file__).resolve().parents[1]


def _result(recipe, seed, scores: dict[str, list[int]], budget=50, bench="demo-math", rows=None, tokens=1000):
    return {"arm": ablate.arm_name(recipe, budget, seed, "auto"), "recipe": recipe, "stage": None, "budget": budget,
            "seed": seed, "teacher": "auto", "teachers_chosen": ["t"], "objective": "sft",
            "corpus": {"rows": rows or budget, "questions": 10, "tokens": tokens, "run_id": f"sel_{recipe}{seed}"},
            "sft": {"tokens_per_second": 100.0, "tokens": 5000}, "seconds": {"sft": 2.0, "evaluate": 1.0, "total": 4.0},
            "benchmarks": {bench: {"avg_at_n": float(np.mean([c / n for c, n in scores.values()])), "ci": [0.0, 1.0],
                                   "items": len(scores), "samples_per_item": 2, "eval_run": f"ev_{recipe}{seed}",
                                   "per_item": scores}}}


def _params(**ab):
    return parse_params({"ablate": {"recipes": ["ded", "random"], "budgets": [50], "seeds": [0, 1, 2], **ab}})


def test_arms_are_the_matrix_and_named_like_the_dvc_stages():
    p = _params(recipes=["ded", "ded-teacher", "random"], budgets=[50, 100], seeds=[0, 1, 2], teachers=["auto"])
    a = ablate.arms(p)
    assert len(a) == 3 * 2 * 3
    assert a[0]["arm"] == "ded-50-0-auto" and {x["arm"] for x in a} >= {"ded-teacher-100-2-auto", "random-50-1-auto"}
    dvc = yaml.safe_load((REPO / "pipelines" / "ablate" / "dvc.yaml").read_text())
    arm = dvc["stages"]["arm"]
    assert set(arm["matrix"]) == {"recipe", "budget", "seed", "teacher"}
    out = next(iter(arm["outs"][0]))
    assert out == "ablate/${item.recipe}-${item.budget}-${item.seed}-${item.teacher}"  # == arm_name's folder
    # the arms depend on the sections they run with, never on the arm lists (adding an arm reruns only it)
    assert not {"ablate", "ablate.recipes", "ablate.budgets", "ablate.seeds", "ablate.teachers"} & set(arm["params"])


def test_the_arm_stage_depends_on_the_code_select_sft_and_evaluate_depend_on():
    main = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    arm = set(yaml.safe_load((REPO / "pipelines" / "ablate" / "dvc.yaml").read_text())["stages"]["arm"]["deps"])
    need = set()
    for st in ("select", "sft", "evaluate"):
        need |= {d for d in main[st]["deps"] if d.startswith(("ded", "sql", "prompts")) and not d.startswith("ded/commands")}
    assert need - arm == set()
    assert all((REPO / d).exists() for d in arm if not d.startswith("receipts/"))


def test_unknown_recipe_is_a_params_error():
    from ded.params import ParamsError

    with pytest.raises(ParamsError, match="unknown ablation recipe"):
        parse_params({"ablate": {"recipes": ["dde"]}})


def test_every_profile_has_an_ablate_section_with_three_seeds():
    for name in ("demo", "ded-paper", "limo", "s1k"):
        p = load_params(REPO / "pipelines" / f"{name}.yaml")
        assert len(p.ablate.seeds) >= 3 and p.ablate.baseline in p.ablate.recipes, name
        assert set(p.ablate.evaluate.get("benchmarks", [])) <= set(p.benchmarks), name


def test_paired_diff_pairs_by_item_and_seed():
    rng = np.random.default_rng(0)
    items = [f"i{k:02d}" for k in range(40)]
    hard = rng.random(40)  # an item difficulty both recipes share: pairing removes it
    a, b = [], []
    for s in range(3):
        a.append(_result("ded", s, {i: [round(2 * min(1, h + 0.25)), 2] for i, h in zip(items, hard)}))
        b.append(_result("random", s, {i: [round(2 * h), 2] for i, h in zip(items, hard)}))
    d = ablate.paired_diff(a, b, "demo-math", 2000, 0.95)
    xa = np.mean([[r["benchmarks"]["demo-math"]["per_item"][i][0] / 2 for i in items] for r in a])
    xb = np.mean([[r["benchmarks"]["demo-math"]["per_item"][i][0] / 2 for i in items] for r in b])
    assert d["diff"] == pytest.approx(xa - xb) and d["seeds"] == [0, 1, 2] and d["items"] == 40
    assert 0 < d["ci_low"] <= d["diff"] <= d["ci_high"]
    # no difference: the interval covers 0; a recipe worse than random: the interval is below 0
    same = ablate.paired_diff(b, b, "demo-math", 500, 0.95)
    assert same["diff"] == 0 and same["ci_low"] == same["ci_high"] == 0
    worse = ablate.paired_diff(b, a, "demo-math", 500, 0.95)
    assert worse["ci_high"] < 0
    # only shared seeds and items are paired
    d2 = ablate.paired_diff(a[:2], b, "demo-math", 500, 0.95)
    assert d2["seeds"] == [0, 1]
    short = [_result("random", s, {i: v for i, v in list(r["benchmarks"]["demo-math"]["per_item"].items())[:10]})
             for s, r in enumerate(b)]
    assert ablate.paired_diff(a, short, "demo-math", 500, 0.95)["items"] == 10
    assert ablate.paired_diff(a, b, "demo-code", 500, 0.95) is None


def test_paired_interval_is_narrower_than_unpaired_when_items_vary():
    """Pairing is the point: with item difficulty shared, the paired interval of a +0.1 effect is tight."""
    rng = np.random.default_rng(1)
    items = [f"i{k}" for k in range(30)]
    hard = rng.random(30)
    a = [_result("ded", 0, {i: [int(10 * min(1, h + 0.1)), 10] for i, h in zip(items, hard)})]
    b = [_result("random", 0, {i: [int(10 * h), 10] for i, h in zip(items, hard)})]
    d = ablate.paired_diff(a, b, "demo-math", 2000, 0.95)
    pa = ablate.curve_point(a, "demo-math", 2000, 0.95)
    assert (d["ci_high"] - d["ci_low"]) < 0.5 * (pa["ci_high"] - pa["ci_low"])


def test_summary_rows_and_svg_have_the_documented_shape(tmp_path):
    from ded.schema import SCHEMAS, conform

    p = _params(recipes=["ded", "random", "ded-teacher"], budgets=[50, 100], seeds=[0, 1, 2])
    results = []
    for r in ("ded", "random", "ded-teacher"):
        for b in (50, 100):
            for s in range(3):
                results.append(_result(r, s, {f"i{k}": [(k + s + len(r)) % 3, 2] for k in range(12)}, budget=b))
    rows = ablate.table_rows(results)
    assert len(rows) == 18
    t = conform("ablations", rows)
    assert t.schema.names[: len(SCHEMAS["ablations"])] == SCHEMAS["ablations"].names
    s = ablate.summarize(p, results)
    assert {"comparisons", "arms", "curves", "cost", "baseline"} <= set(s)
    c = s["comparisons"][0]
    assert {"recipe", "vs", "budget", "benchmark", "diff", "ci_low", "ci_high"} <= set(c)
    vs = {(c["recipe"], c["vs"]) for c in s["comparisons"]}
    assert vs == {("ded", "random"), ("ded-teacher", "random")}  # ded's previous Table 3 row is not in this matrix
    assert {c["budget"] for c in s["comparisons"]} == {50, 100}
    assert len(s["curves"]) == 6 and s["cost"]["sft_runs"] == 18
    from ded.report.svg import ablation_svg

    svg = ablation_svg(s)
    assert svg.startswith("<svg") and svg.count("<polygon") == 3 and "ded-teacher" in svg
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)  # well-formed


def test_stage_rows_are_compared_with_the_previous_row(tmp_path):
    p = _params(recipes=["ded-teacher", "ded-correct", "ded-compression", "ded", "random"], seeds=[0])
    results = [_result(r, 0, {f"i{k}": [k % 2, 1] for k in range(8)}) for r in p.ablate.recipes]
    vs = {(c["recipe"], c["vs"]) for c in ablate.summarize(p, results)["comparisons"]}
    assert {("ded-correct", "ded-teacher"), ("ded-compression", "ded-correct"), ("ded", "ded-compression")} <= vs


def test_missing_arm_is_an_error_that_says_how_to_run_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ablate.AblateError, match=r"6 of 6 arms have no result.*ded ablate arm --recipe ded --budget 50"):
        ablate.load_results(_params())


def test_cli_no_train_selects_every_arm_then_reuses_them(tmp_path, monkeypatch):
    """`ded ablate --no-train` on the demo lake: every arm's corpus, the table, the cost line; a rerun reuses all."""
    from conftest import load_demo_lake
    from typer.testing import CliRunner

    from ded.cli import app
    from ded.lake import Lake

    lake = Lake(tmp_path / "lake")
    params = load_demo_lake(lake)
    monkeypatch.chdir(tmp_path)
    d = params.model_dump(mode="json")
    d["select"]["diversity"] = "none"  # no embed in this lake
    d["ablate"].update(recipes=["ded", "random", "ded-teacher"], budgets=[20], seeds=[0, 1, 2])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(app, ["--lake", str(lake.root), "--params", "params.yaml", "ablate", "--no-train"])
    assert r.exit_code == 0, r.output
    assert "ran 9 arms, reused 0" in r.output and "cost: 9 SFT runs" in r.output
    assert len(list((tmp_path / "ablate").glob("*/corpus/train.jsonl"))) == 9
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "receipts" / "select.json").exists()
    assert Lake(lake.root).count("ablations") == 9
    again = CliRunner().invoke(app, ["--lake", str(lake.root), "--params", "params.yaml", "ablate", "--no-train"])
    assert again.exit_code == 0 and "ran 0 arms, reused 9" in again.output
