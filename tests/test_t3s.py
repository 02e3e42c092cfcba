"""`sft.objective: t3s | rrt` (ded.training.t3s): the anchor mask, the masked loss, packing, the resumable stage."""

from __future__ import annotations

import json

import pytest

from ded.params import parse_params
from ded.training import t3s
from tests.test_sft import ROWS


def _sft(tmp_path, tiny_model_dir, **over):
    corpus = tmp_path / "corpus.jsonl"
    if not corpus.exists():
        corpus.write_text("".join(json.dumps({**r, "trajectory_id": f"t{i}", "question_id": f"q{i}"}) + "\n"
                                  for i, r in enumerate(ROWS)))
    settings = {"model": str(tiny_model_dir), "corpus": str(corpus), "output_dir": str(tmp_path / "student"),
                "checkpoint_dir": str(tmp_path / "ckpt"), "metrics_dir": str(tmp_path / "metrics"),
                "max_length": 256, "epochs": 1, "per_device_batch_size": 8, "gradient_accumulation_steps": 1,
                "learning_rate": 1e-2, "warmup_ratio": 0.0, "lr_scheduler": "constant"}
    settings.update(over)
    return parse_params({"lake": {"root": str(tmp_path / "lake")}, "sft": settings})


# -- pure parts, by hand -------------------------------------------------------------------------------------
def test_anchor_mask_smoothing_and_bottleneck_by_hand():
    c0 = [-1.0, -2.0, -0.5, -3.0]
    cb = [-0.5, -2.5, -0.5, -1.0]  # Δ = +0.5, -0.5, 0 (not > 0), +2.0
    assert t3s.anchor_mask(c0, cb) == [True, False, False, True]
    assert t3s.anchor_mask(c0, cb, margin=1.0) == [False, False, False, True]
    assert t3s.anchor_mask(c0, cb, exempt=[True, False, False, False]) == [False, False, False, True]
    with pytest.raises(ValueError, match="cover 4 and 3"):
        t3s.anchor_mask(c0, cb[:3])
    assert t3s.smoothed([0.4, 0.1, 0.3, 0.5], 1) == [0.4, 0.1, 0.3, 0.5]
    assert t3s.smoothed([0.3, 0.0, 0.6, 0.3], 3) == pytest.approx([0.15, 0.3, 0.3, 0.45])
    assert t3s.bottleneck_index([0.4, 0.1, 0.3, 0.5]) == 1
    assert t3s.bottleneck_index([0.2, 0.5, 0.2]) == 0  # ties: the earliest
    # one noisy dip at index 3 loses to the broad trough at 1-2 once smoothed
    assert t3s.bottleneck_index([0.5, 0.2, 0.2, 0.1, 0.6, 0.6], 1) == 3
    assert t3s.bottleneck_index([0.5, 0.2, 0.2, 0.1, 0.6, 0.6], 3) == 2
    with pytest.raises(t3s.T3sError, match="bottleneck is unknown"):
        t3s.bottleneck_index([0.3, None])


def test_even_checkpoints_end_at_the_last_step():
    from ded.training.callbacks import EvenCheckpoints

    assert EvenCheckpoints(4).steps(10) == {2, 5, 8, 10}
    assert EvenCheckpoints(3).steps(2) == {1, 2}


# -- the mask against a direct computation -------------------------------------------------------------------
def _direct_logprobs(model_dir, ids):
    """log p(ids[t] | ids[:t]) for every t >= 1 from one plain forward with full log-softmax."""
    import torch
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0].double()
    lp = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None]).squeeze(-1)
    return [0.0] + lp.tolist()


def test_mask_equals_direct_delta_computation(tmp_path, tiny_model_dir, torch_one_thread):
    """The pipeline's mask (scorer's packed, chunked pass at θ0 and θ_b) = Δc_t > 0 computed directly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ded.training.plan import make_plan
    from ded.training.trainer import trained_rows

    p = _sft(tmp_path, tiny_model_dir, t3s={"chunk_tokens": 7, "max_batch_tokens": 120,
                                            "exempt_special": False, "exempt_final": False})
    theta_b = tmp_path / "theta_b"
    m = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for q in m.parameters():
            q.add_(0.05 * torch.randn_like(q))
    m.save_pretrained(theta_b)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.save_pretrained(theta_b)
    rows = trained_rows(p.sft, make_plan(p.sft, cuda=False), tok, [r["messages"] for r in ROWS])
    c0 = t3s.token_confidences(str(tiny_model_dir), rows, p.sft.t3s)
    cb = t3s.token_confidences(str(theta_b), rows, p.sft.t3s)
    n_anchor = 0
    for (ids, labels), a, b in zip(rows, c0, cb):
        trained = [i for i, lab in enumerate(labels) if lab != -100]
        d0, db = _direct_logprobs(tiny_model_dir, ids), _direct_logprobs(theta_b, ids)
        assert a == pytest.approx([d0[i] for i in trained], abs=1e-4)
        assert b == pytest.approx([db[i] for i in trained], abs=1e-4)
        direct = [db[i] - d0[i] > 0 for i in trained]
        got = t3s.anchor_mask(a, b)
        near = [abs(db[i] - d0[i]) < 1e-4 for i in trained]  # float noise may flip only a Δ of ~0
        assert all(g == d or z for g, d, z in zip(got, direct, near))
        n_anchor += sum(got)
    assert 0 < n_anchor < sum(len(a) for a in c0)  # some tokens are anchors, not all


def test_exempt_positions_keep_special_tokens_and_the_final_answer(tiny_model_dir):
    from transformers import AutoTokenizer

    from ded.params import SftParams
    from ded.training.plan import make_plan
    from ded.training.trainer import trained_rows

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    sft = SftParams(model=str(tiny_model_dir), max_length=256)
    (ids, labels), = trained_rows(sft, make_plan(sft, cuda=False), tok, [ROWS[0]["messages"]])
    trained = [ids[i] for i, lab in enumerate(labels) if lab != -100]
    ex = t3s.exempt_positions(tok, ids, labels, exempt_special=True, exempt_final=True)
    kept_text = tok.decode([t for t, e in zip(trained, ex) if not e])
    exempt_text = tok.decode([t for t, e in zip(trained, ex) if e])
    assert kept_text.strip() == "12 + 30 = 42."  # the reasoning is open to selection
    # the think marks (added tokens here), the answer and the end of turn are not
    assert exempt_text.startswith("<think>") and "</think>" in exempt_text and "\\boxed{42}" in exempt_text
    assert exempt_text.endswith("<|im_end|>")
    none = t3s.exempt_positions(tok, ids, labels, exempt_special=False, exempt_final=False)
    assert not any(none)


# -- the masked loss, packing, assistant-only labels ---------------------------------------------------------
def _masks(rows, every=3):
    return [[k % every == 1 for k in range(sum(lab != -100 for lab in labels))] for _, labels in rows]


@pytest.mark.parametrize("packing,lm_head", [(True, "trl"), (False, "trl"), (True, "ded")])
def test_masked_loss_is_cross_entropy_over_the_kept_tokens(tmp_path, tiny_model_dir, torch_one_thread, packing,
                                                           lm_head):
    import torch
    from transformers import AutoTokenizer

    from ded.training.plan import make_plan
    from ded.training.trainer import build_trainer, load_model, trained_rows

    p = _sft(tmp_path, tiny_model_dir, packing=packing, lm_head=lm_head)
    plan = make_plan(p.sft, cuda=False)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    convs = [r["messages"] for r in ROWS]
    rows = trained_rows(p.sft, plan, tok, convs)
    masks = _masks(rows)
    model = load_model(str(tiny_model_dir), plan)
    trainer = build_trainer(p.sft, plan, model, tok, convs, str(tmp_path / "c"), loss_masks=masks)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    model.train()
    with torch.no_grad():
        loss = float(trainer.compute_loss(model, dict(batch)))
    # direct: -log p over every kept token (assistant, not an anchor) of every row, divided by their count
    num = den = 0.0
    for (ids, labels), mask in zip(rows, masks):
        lp = _direct_logprobs(tiny_model_dir, ids)
        trained = [i for i, lab in enumerate(labels) if lab != -100]
        for i, drop in zip(trained, mask):
            if not drop and i > 0:
                num -= lp[i]
                den += 1
    assert loss == pytest.approx(num / den, rel=1e-5)
    plain = build_trainer(p.sft, plan, model, tok, convs, str(tmp_path / "c2"))
    pb = plain.data_collator([plain.train_dataset[i] for i in range(len(plain.train_dataset))])
    with torch.no_grad():
        assert float(plain.compute_loss(model, dict(pb))) != pytest.approx(loss, rel=1e-3)  # the mask acts


def test_packing_carries_the_mask_with_its_tokens(tmp_path, tiny_model_dir):
    """Packed rows (bfd, reordered) hold each row's masked labels unshifted; prompts stay -100; a stale mask fails."""
    from transformers import AutoTokenizer

    from ded.training.plan import make_plan
    from ded.training.trainer import build_trainer, load_model, trained_rows

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    convs = [r["messages"] for r in ROWS]
    p = _sft(tmp_path, tiny_model_dir, packing=True)
    plan = make_plan(p.sft, cuda=False)
    rows = trained_rows(p.sft, plan, tok, convs)
    # trained_rows = what a real (unpacked) trainer prepares
    fs = _sft(tmp_path, tiny_model_dir, packing=False).sft
    fplan = make_plan(fs, cuda=False)
    flat = build_trainer(fs, fplan, load_model(str(tiny_model_dir), fplan), tok, convs, str(tmp_path / "u"))
    assert [(r["input_ids"], r["labels"]) for r in flat.train_dataset] == rows
    masks = _masks(rows)
    masks[2] = None  # a row may keep every token
    expected = {}
    for (ids, labels), mask in zip(rows, masks):
        out, trained = list(labels), [i for i, lab in enumerate(labels) if lab != -100]
        for i, drop in zip(trained, mask or [False] * len(trained)):
            if drop:
                out[i] = -100
        expected[tuple(ids)] = out
        assert all(lab == -100 for lab in out[: trained[0]])  # the prompt is never trained
    trainer = build_trainer(p.sft, plan, load_model(str(tiny_model_dir), plan), tok, convs, str(tmp_path / "c"),
                            loss_masks=masks)
    seen = 0
    for packed in trainer.train_dataset:
        assert len(packed["seq_lengths"]) >= 1
        o = 0
        for n in packed["seq_lengths"]:
            ids = tuple(packed["input_ids"][o:o + n])
            assert packed["labels"][o:o + n] == expected[ids]
            o += n
            seen += 1
    assert seen == len(ROWS) and len(trainer.train_dataset) < len(ROWS)  # rows were packed together
    stale = [m[:-1] for m in masks if m] + [None]
    with pytest.raises(ValueError, match="recompute it"):
        build_trainer(p.sft, plan, load_model(str(tiny_model_dir), plan), tok, convs, str(tmp_path / "s"),
                      loss_masks=stale)


# -- the resumable stage -------------------------------------------------------------------------------------
def _stage_params(tmp_path, tiny_model_dir, objective):
    p = _sft(tmp_path, tiny_model_dir, objective=objective, epochs=2, per_device_batch_size=1, save_steps=1000,
             t3s={"checkpoints": 2, "n": 1, "max_tokens": 12, "work_dir": str(tmp_path / "t3s")})
    return parse_params({**p.model_dump(mode="json"),
                         "models": [{"name": "student", "backend": "transformers", "model": str(tiny_model_dir),
                                     "sampling": {"temperature": 0.0, "max_tokens": 12}}],
                         "student": {"model": "student"}, "evaluate": {"n": 1, "bootstrap": 100}})


def _lake_with_questions(tmp_path):
    from ded.lake import Lake

    lake = Lake(tmp_path / "lake")
    lake.merge("questions", [{"question_id": f"q{i}", "domain": "math", "source": "test",
                              "problem": r["messages"][0]["content"],
                              "answer": r["messages"][1]["content"].rsplit("{", 1)[1].rstrip("}")}
                             for i, r in enumerate(ROWS)])
    return lake


def test_t3s_stage_resumes_after_a_kill_and_fills_the_lake(tmp_path, tiny_model_dir, torch_one_thread, monkeypatch):
    from ded.sql import connect
    from ded.stages.sft import main

    monkeypatch.chdir(tmp_path)
    lake = _lake_with_questions(tmp_path)
    p = _stage_params(tmp_path, tiny_model_dir, "t3s")
    calls, real = [], t3s.train_accuracy

    def killed(*a, **k):
        calls.append(a[3])
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill while measuring the second checkpoint")
        return real(*a, **k)

    monkeypatch.setattr(t3s, "train_accuracy", killed)
    with pytest.raises(KeyboardInterrupt):
        main(p, lake)
    curve = json.loads(next((tmp_path / "t3s").glob("*/curve.json")).read_text())
    assert [pt["step"] for pt in curve["points"]] == [0]  # θ0's point was kept
    monkeypatch.setattr(t3s, "train_accuracy", lambda *a, **k: (calls.append(a[3]), real(*a, **k))[1])
    m = main(p, lake)
    assert calls[2:] == [n for n in calls[1:2]] + [calls[-1]] and len(calls) == 4  # step 0 not measured again
    s = m["t3s"]
    steps = [pt["step"] for pt in s["curve"]]
    assert steps[0] == 0 and len(steps) == 3 and steps[-1] == s["pilot_steps"]
    assert s["bottleneck"]["step"] in steps[1:]
    assert 0 <= s["masks"]["anchor_share"] <= 1 and s["masks"]["rows"] == len(ROWS)
    assert m["loss_masks"]["dropped_tokens"] == s["masks"]["anchors"]
    assert (tmp_path / "student" / "config.json").exists()
    assert json.loads((tmp_path / "metrics" / "t3s.json").read_text())["bottleneck"] == s["bottleneck"]
    con = connect(lake)
    n, anchors, tokens = con.execute(
        "SELECT count(*), sum(n_anchors), sum(n_tokens) FROM t3s_masks WHERE run_id = $r",
        {"r": s["t3s_key"]}).fetchone()
    assert n == len(ROWS) and anchors == s["masks"]["anchors"] and tokens == s["masks"]["tokens"]
    assert con.execute("SELECT count(*) FROM t3s_masks WHERE len(mask) <> n_tokens "
                       "OR len(anchor_tokens) <> n_anchors").fetchone()[0] == 0
    # `ded report`: the pilot's curve and the anchors by teacher and token
    from ded.report.data import gather

    sec = gather(lake, p).section("t3s")
    assert sec.rows and sec.rows[0]["model"] == "unknown"  # the test corpus's trajectories are not in the lake
    assert sum(r["anchors"] for r in sec.rows) == s["masks"]["anchors"]
    assert len(sec.charts) == (2 if s["masks"]["anchors"] else 1) and "bottleneck at step" in sec.text
    # a rerun: nothing trained or measured again; the masks come from the lake
    before = len(calls)
    again = main(p, lake)
    assert len(calls) == before and again["t3s"]["masks"]["cached"]
    # rrt shares the pilot and the curve: only the weight arithmetic runs
    r = main(_stage_params(tmp_path, tiny_model_dir, "rrt"), lake)
    assert len(calls) == before and r["t3s"]["rrt"]["bottleneck"] == s["bottleneck"]["checkpoint"]
    _check_rrt(tiny_model_dir, r["t3s"]["rrt"], tmp_path / "student")


def _check_rrt(theta0, rrt, out):
    import torch
    from transformers import AutoModelForCausalLM

    load = lambda d: AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).state_dict()
    s0, sf, sb, so = load(theta0), load(rrt["final"]), load(rrt["bottleneck"]), load(out)
    for k in s0:
        assert torch.allclose(so[k], s0[k] + sf[k] - sb[k], atol=1e-6), k


# -- the ablation axis ---------------------------------------------------------------------------------------
def test_objective_is_an_ablation_axis_compared_with_plain_on_the_same_selection():
    from ded.stages import ablate
    from tests.test_ablate_unit import _result

    p = parse_params({"ablate": {"recipes": ["ded", "random"], "budgets": [50], "seeds": [0, 1],
                                 "objectives": ["t3s", "plain", "rrt"]}})
    assert p.ablate.objectives == ["plain", "t3s", "rrt"]  # plain first: its folder holds the others
    arms = ablate.arms(p)
    assert len(arms) == 2 * 2 * 3 and arms[0]["arm"] == "ded-50-0-auto" and arms[1]["arm"] == "ded-50-0-auto-t3s"
    assert ablate.arm_dir(p, "ded", 50, 0, "auto", "t3s").as_posix() == "ablate/ded-50-0-auto/t3s"
    assert ablate.arm_dir(p, "ded", 50, 0, "auto").as_posix() == "ablate/ded-50-0-auto"
    arm_p, _, _ = ablate.arm_params(p, "ded", 50, 0, "auto", ablate.arm_dir(p, "ded", 50, 0, "auto", "rrt"), "rrt")
    assert arm_p.sft.objective == "rrt" and arm_p.sft.checkpoint_dir.endswith("ded-50-0-auto-rrt")
    results = []
    for r in ("ded", "random"):
        for o in ("plain", "t3s", "rrt"):
            for s in (0, 1):
                res = _result(r, s, {f"i{k}": [(k + s + len(o)) % 3, 2] for k in range(12)})
                res.update(arm=ablate.arm_name(r, 50, s, "auto", o), objective=o, trained=True)
                if o == "t3s":
                    res["t3s"] = {"masks": {"anchor_share": 0.25, "seconds": 1.0, "forward_tokens": 100},
                                  "pilot_seconds_this_run": 3.0, "final_seconds": 2.0}
                results.append(res)
    s = ablate.summarize(p, results)
    pairs = {(c["recipe"], c["objective"], c["vs"], c["vs_objective"]) for c in s["comparisons"]}
    assert ("ded", "t3s", "ded", "plain") in pairs and ("ded", "rrt", "ded", "plain") in pairs
    assert ("random", "t3s", "random", "plain") in pairs
    assert ("ded", "t3s", "random", "t3s") in pairs  # the recipe comparison stays within one objective
    assert ("ded", "plain", "random", "plain") in pairs and ("ded", "t3s", "random", "plain") not in pairs
    c = next(c for c in s["comparisons"] if (c["recipe"], c["objective"], c["vs_objective"]) == ("ded", "t3s", "plain"))
    assert c["ci_low"] <= c["diff"] <= c["ci_high"]
    assert {c["recipe"] for c in s["curves"]} == {"ded", "ded+t3s", "ded+rrt", "random", "random+t3s", "random+rrt"}
    assert {r["objective"] for r in ablate.table_rows(results)} == {"plain", "t3s", "rrt"}
    from ded.report.svg import ablation_svg

    assert "ded+t3s" in ablation_svg(s)
    cost = s["cost"]["by_objective"]
    assert cost["t3s"]["arms"] == 4 and cost["t3s"]["anchor_share_mean"] == 0.25
    assert cost["t3s"]["confidence_forward_tokens"] == 400 and cost["plain"]["anchor_share_mean"] is None
    legacy = {**results[0], "objective": "sft"}  # results written before objectives existed
    assert ablate.table_rows([legacy])[0]["objective"] == "plain"


def test_every_params_key_of_the_ablation_dvc_file_is_in_every_profile():
    """DVC reads params.yaml keys as written: `ablate.objectives` (the arm stage's param) must be in each profile."""
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    keys = yaml.safe_load((repo / "pipelines" / "ablate" / "dvc.yaml").read_text())["stages"]["arm"]["params"]
    assert "ablate.objectives" in keys
    for name in ("demo", "ded-paper", "limo", "s1k"):
        raw = yaml.safe_load((repo / "pipelines" / f"{name}.yaml").read_text())
        for key in keys:
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}.yaml has no `{key}`"
                node = node[part]
        assert parse_params(raw).sft.objective == "plain"
