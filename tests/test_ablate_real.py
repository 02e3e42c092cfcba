"""`ded ablate --no-train` on real data (../shared/data): every arm selects, builds and exports its corpus.

The lake holds the 16-model AIME 2024 panel and 100 MATH problems with 8 Qwen2.5-Math samples each (real
chain-of-thought, labels as the harness graded them: `score.verifiers: [imported]`), scored under a tiny
local student for RSR (a random model: the plumbing on real text, not a real RSR signal). Training a real
student on these corpora needs a GPU and a real model, which tests do not have (docs/ablation.md).
"""

from __future__ import annotations

import json

import pytest

from ded.lake import Lake
from ded.params import parse_params
from ded.stages import ablate, score

RECIPES = ["ded", "random", "ded-teacher", "ded-correct", "ded-compression", "limo", "s1k", "rsr"]


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory, tiny_model_dir):
    from ded.ingest import ingest_paths

    d = tmp_path_factory.mktemp("ablate-real")
    lake = Lake(d / "lake")
    panel = sorted((shared_data / "trajectories/skythought_evals/aime24").glob("*.jsonl.gz"))
    assert len(panel) == 16
    ingest_paths(lake, panel + [shared_data / "trajectories/qwen25math_math_cot_100_8samples.jsonl"],
                 kind="trajectories", preset="qwen-math-eval", show_progress=False)
    p = parse_params({
        "score": {"verifiers": ["imported"],
                  "student_scores": {"enabled": True, "model": str(tiny_model_dir), "device": "cpu", "max_tokens": 128,
                                     "chunk_tokens": 128}},
        "select": {"teacher": "all", "diversity": "none", "domain_mix": {"math": 1.0}, "p": 2,
                   "require_format": False,  # the harness's prompts carry no <think> block
                   "levenshtein_max_tokens": 400, "limo": {"min_correct": 1, "max_correct": 12}},
        "ablate": {"recipes": RECIPES, "budgets": [40], "seeds": [0, 1, 2], "teachers": ["all"], "train": False,
                   "out_dir": str(d / "ablate"), "metrics": str(d / "metrics" / "ablate.json"),
                   "svg": str(d / "ablate.svg")},
    })
    score.main(p, lake)
    return p, lake, d, ablate.main(p, lake, train=False)


def test_every_arm_selects_and_exports_its_corpus(real):
    p, _, d, out = real
    assert len(out["ran"]) == len(RECIPES) * 3 and not out["reused"]
    for a in ablate.arms(p):
        res = json.loads((d / "ablate" / a["arm"] / "result.json").read_text())
        rows = (d / "ablate" / a["arm"] / "corpus" / "train.jsonl").read_text().splitlines()
        assert len(rows) == res["corpus"]["rows"] > 0, a["arm"]
        assert res["corpus"]["rows"] + (res["corpus"]["shortfall"] or 0) == 40, a["arm"]
        assert res["corpus"]["tokens"] > 0 and not res["trained"] and res["benchmarks"] == {}
        msg = json.loads(rows[0])["messages"]
        assert msg[0]["role"] == "user" and msg[-1]["role"] == "assistant" and msg[-1]["content"]


def test_arms_differ_where_they_should(real):
    p, _, d, _ = real
    sha = {a["arm"]: json.loads((d / "ablate" / a["arm"] / "result.json").read_text())["corpus"]["train_jsonl_sha256"]
           for a in ablate.arms(p)}
    assert len({sha[f"{r}-40-0-all"] for r in RECIPES}) == len(RECIPES)  # every recipe its own corpus
    assert len({sha[f"random-40-{s}-all"] for s in range(3)}) == 3  # random is seeded
    assert len({sha[f"ded-40-{s}-all"] for s in range(3)}) == 1  # ded is deterministic (its seeds vary SFT only)


def test_no_train_table_and_cost(real):
    p, lake, d, out = real
    t = lake.read("ablations").to_pylist()
    assert len(t) == len(RECIPES) * 3 and all(r["benchmark"] is None and r["avg_at_n"] is None for r in t)
    doc = json.loads((d / "metrics" / "ablate.json").read_text())
    assert doc["comparisons"] == [] and doc["curves"] == [] and out["svg"] is None
    assert doc["cost"]["sft_runs"] == 24 and doc["cost"]["sft_tokens_estimate"] == int(
        sum(r["corpus_tokens"] for r in t) * p.sft.epochs)
