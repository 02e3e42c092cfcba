"""`ded sft` on a tiny model: assistant-only labels, training that learns, saving, metrics, resume."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ded.errors import DedError
from ded.params import parse_params
from ded.training.data import CorpusError, load_corpus
from ded.training.plan import make_plan, sft_config

ROWS = [
    {"messages": [{"role": "user", "content": f"What is ${a} + {b}$?"},
                  {"role": "assistant", "content": f"<think>\n{a} + {b} = {a + b}.\n</think>\n\n\\boxed{{{a + b}}}"}]}
    for a, b in [(12, 30), (45, 17), (23, 64), (51, 38), (70, 11), (16, 29), (33, 48), (27, 55)]
]


def _params(tmp_path, tiny_model_dir, **sft):
    corpus = tmp_path / "corpus.jsonl"
    if not corpus.exists():
        corpus.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    settings = {"model": str(tiny_model_dir), "corpus": str(corpus), "output_dir": str(tmp_path / "student"),
                    "checkpoint_dir": str(tmp_path / "ckpt"), "metrics_dir": str(tmp_path / "metrics"),
                    "max_length": 256, "epochs": 1, "per_device_batch_size": 4, "gradient_accumulation_steps": 1,
                    "learning_rate": 1e-2, "warmup_ratio": 0.0, "lr_scheduler": "constant"}
    settings.update(sft)
    return parse_params({"lake": {"root": str(tmp_path / "lake")}, "sft": settings})


def test_corpus_errors_name_the_line_and_the_fix(tmp_path):
    with pytest.raises(CorpusError, match="run `ded select` first"):
        load_corpus(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: not JSON"):
        load_corpus(bad)
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(CorpusError, match="last message must be the assistant"):
        load_corpus(bad)
    bad.write_text("\n")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(bad)


def test_plan_gpu_and_cpu():
    sft = parse_params({"sft": {"max_length": 4096, "per_device_batch_size": 8}}).sft
    cpu = make_plan(sft, cuda=False, bf16_supported=False, liger_importable=True)
    assert (cpu.bf16, cpu.gradient_checkpointing, cpu.liger, cpu.attn_implementation) == (False, False, False, "sdpa")
    assert (cpu.compile, cpu.pad_to_multiple_of, cpu.optim, cpu.tf32) == (False, None, "adamw_torch", False)
    gpu = make_plan(sft, cuda=True, bf16_supported=True, liger_importable=True, distributed=False,
                    flash_importable=False)
    assert gpu.bf16 and gpu.attn_implementation == "flex_attention" and gpu.padding_free
    flash = make_plan(sft, cuda=True, bf16_supported=True, liger_importable=True, distributed=False,
                      flash_importable=True)
    assert flash.attn_implementation == "flash_attention_2"  # varlen from the packed position ids
    # one GPU: compiled layers (which fuse norms/SwiGLU/RoPE themselves, so no liger), shape padding, fused AdamW
    assert gpu.compile and not gpu.liger and gpu.pad_to_multiple_of == 512
    assert gpu.optim == "adamw_torch_fused" and gpu.tf32
    assert not gpu.gradient_checkpointing  # 8 x 4096 = 32k tokens: fits without recomputation
    multi = make_plan(sft, cuda=True, bf16_supported=True, liger_importable=True, distributed=True)
    assert not multi.compile and multi.liger and multi.pad_to_multiple_of is None  # compile untested under FSDP/DDP
    eager = parse_params({"sft": {"compile": False, "pad_to_multiple_of": 256}}).sft
    e = make_plan(eager, cuda=True, bf16_supported=True, liger_importable=True, distributed=False)
    assert not e.compile and e.liger and e.pad_to_multiple_of == 256
    cfg = sft_config(sft, dataclasses.replace(gpu, bf16=False, tf32=False), "/tmp/x")  # bf16/TF32 need a GPU here
    assert cfg.pad_to_multiple_of == 512 and getattr(cfg.optim, "value", cfg.optim) == "adamw_torch_fused"
    with pytest.raises(DedError, match="pad_to_multiple_of must be a positive integer"):
        make_plan(parse_params({"sft": {"pad_to_multiple_of": 0}}).sft, cuda=False)
    big = parse_params({"sft": {"max_length": 16384, "per_device_batch_size": 8}}).sft
    assert make_plan(big, cuda=True, bf16_supported=True, liger_importable=False).gradient_checkpointing
    forced = parse_params({"sft": {"gradient_checkpointing": True, "liger": False, "bf16": False}}).sft
    p = make_plan(forced, cuda=True, bf16_supported=True, liger_importable=True)
    assert p.gradient_checkpointing and not p.liger and not p.bf16
    cfg = sft_config(forced, dataclasses.replace(p, tf32=False), "/tmp/x")  # TF32 needs a GPU here
    assert cfg.assistant_only_loss and cfg.packing and cfg.packing_strategy == "bfd" and cfg.learning_rate == 1e-5
    assert cfg.gradient_accumulation_steps == 48 and cfg.num_train_epochs == 10 and cfg.max_length == 16384


def test_shape_padding_changes_neither_the_loss_nor_the_token_count(tmp_path, tiny_model_dir):
    """pad_to_multiple_of pads packed batches with one-token, label-free documents: same loss, same real tokens."""
    import torch
    from transformers import AutoTokenizer

    from ded.training.trainer import build_trainer, load_model

    results = {}
    for pad in (None, 64):
        p = _params(tmp_path, tiny_model_dir, max_steps=1, per_device_batch_size=2, pad_to_multiple_of=pad)
        plan = make_plan(p.sft, cuda=False)
        assert plan.pad_to_multiple_of == pad
        torch.manual_seed(0)
        tok = AutoTokenizer.from_pretrained(tiny_model_dir)
        trainer = build_trainer(p.sft, plan, load_model(str(tiny_model_dir), plan), tok, [r["messages"] for r in ROWS],
                                str(tmp_path / f"c{pad}"))
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
        results[pad] = (trainer.train().training_loss, trainer._total_train_tokens, batch["input_ids"].shape[1],
                        batch.get("ded_pad_tokens"))
    (loss0, tokens0, len0, pad0), (loss64, tokens64, len64, pad64) = results[None], results[64]
    assert pad0 is None and len64 % 64 == 0 and pad64 == len64 - len0 > 0  # the count rides only when padding
    assert tokens64 == tokens0 > 0  # TRL alone would count the padding as trained tokens
    assert loss64 == pytest.approx(loss0, rel=1e-4)


def test_compile_layers_in_place_keeps_parameter_names(tiny_model_dir):
    """Regional compilation wraps each decoder layer lazily; checkpoints and save_pretrained see the same names."""
    import torch

    from ded.training.trainer import compile_layers, load_model

    plan = make_plan(parse_params({"sft": {}}).sft, cuda=False)
    model = load_model(str(tiny_model_dir), plan)
    names = list(model.state_dict())
    assert compile_layers(model) == model.config.num_hidden_layers
    assert list(model.state_dict()) == names
    assert all(layer._compiled_call_impl is not None for layer in model.model.layers)
    with pytest.raises(ValueError, match="sft.compile: false"):
        compile_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_only_assistant_tokens_are_trained(tmp_path, tiny_model_dir):
    """The labels TRL builds from our config cover the assistant turn (and its <|im_end|>) and nothing else."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    p = _params(tmp_path, tiny_model_dir, packing=False)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                         args=sft_config(p.sft, make_plan(p.sft, cuda=False), str(tmp_path / "c")),
                         train_dataset=Dataset.from_list(ROWS[:2]), processing_class=tok)
    row = trainer.train_dataset[0]
    trained = [i for i, label in zip(row["input_ids"], row["labels"]) if label != -100]
    assert tok.decode(trained) == ROWS[0]["messages"][1]["content"] + "<|im_end|>"
    assert len(trained) < len(row["input_ids"])


def test_train_saves_model_curve_metrics_and_receipt(tmp_path, tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ded.stages.sft import main

    monkeypatch.chdir(tmp_path)  # the receipt goes to ./receipts
    p = _params(tmp_path, tiny_model_dir, epochs=6, per_device_batch_size=1)  # 8 rows pack into 2 sequences
    m = main(p)
    assert m["rows"] == 8 and m["steps"] == 12 and m["rows_truncated"] == 0
    assert m["final_loss"] < 0.8 * m["first_loss"]  # it learns the pattern
    assert m["tokens"] > 0 and m["plan"]["attn_implementation"] == "sdpa"
    curve = (tmp_path / "metrics" / "loss.csv").read_text().splitlines()
    assert curve[0].startswith("step,epoch,loss") and len(curve) == 1 + 12
    assert json.loads((tmp_path / "metrics" / "train.json").read_text())["run_key"] == m["run_key"]
    AutoModelForCausalLM.from_pretrained(tmp_path / "student")
    assert AutoTokenizer.from_pretrained(tmp_path / "student").chat_template
    receipt = json.loads((tmp_path / "receipts" / "sft.json").read_text())
    assert receipt["stage"] == "sft" and receipt["corpus_sha256"] == m["corpus_sha256"]
    assert not (tmp_path / "ckpt" / m["run_key"]).exists()  # checkpoints are removed after a finished run


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, tiny_model_dir):
    from transformers import TrainerCallback

    from ded.training import run

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            if state.global_step == 3:
                raise KeyboardInterrupt("simulated kill after the step-3 checkpoint")

    p = _params(tmp_path, tiny_model_dir, epochs=3, save_steps=1, per_device_batch_size=1)
    original = run.ProgressBar
    try:
        run.ProgressBar = lambda desc: Crash()  # the crash rides in place of the progress callback
        with pytest.raises(KeyboardInterrupt):
            run.train(p.sft, str(tiny_model_dir))
    finally:
        run.ProgressBar = original
    m = run.train(p.sft, str(tiny_model_dir))
    assert m["resumed_from"] and m["resumed_from"].endswith("checkpoint-3")
    assert m["steps"] == 6
    rows = (tmp_path / "metrics" / "loss.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3, 4, 5, 6]  # the curve spans both parts
    other = _params(tmp_path, tiny_model_dir, epochs=3, save_steps=1, learning_rate=5e-3)
    assert run.run_key("b", "c", other.sft) != run.run_key("b", "c", p.sft)  # a changed setting never resumes


def test_missing_accelerate_config_is_a_clear_error():
    from ded.errors import DedError
    from ded.stages.sft import relaunch_with_accelerate, sft_params

    with pytest.raises(DedError, match="pipelines/accelerate"):
        relaunch_with_accelerate("nope.yaml", ["sft"])
    with pytest.raises(DedError, match="unknown sft setting"):
        sft_params(parse_params({}), bogus=1)


def test_fp32_master_weights_load_fp32_and_keep_bf16_compute():
    """sft.master_weights: fp32 keeps the weights in fp32 while bf16 stays on (autocast)."""
    import torch
    from transformers import Qwen2Config

    from ded.params import parse_params
    from ded.training.plan import make_plan
    from ded.training.trainer import load_model

    cfg = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1)
    for mw, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        sft = parse_params({"sft": {"master_weights": mw}}).sft
        plan = make_plan(sft, cuda=True, bf16_supported=True, liger_importable=False, distributed=False)
        assert plan.bf16 and plan.master_weights == mw
        assert next(load_model("unused", plan, config=cfg).parameters()).dtype == dtype


@pytest.mark.parametrize("packing", [True, False])
def test_sync_free_loss_matches_trl_loss_metrics_and_token_count(tmp_path, tiny_model_dir, monkeypatch, packing):
    """Our training step (metrics kept on the device, counts from the collator) = TRL's own compute_loss."""
    import torch
    from transformers import AutoTokenizer, TrainerCallback

    from ded.training.trainer import build_trainer, load_model

    p = _params(tmp_path, tiny_model_dir, max_steps=3, per_device_batch_size=2, gradient_accumulation_steps=2,
                packing=packing, logging_steps=2)
    plan = make_plan(p.sft, cuda=False)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    runs = {}
    for fast in (True, False):
        torch.manual_seed(0)
        trainer = build_trainer(p.sft, plan, load_model(str(tiny_model_dir), plan), tok, [r["messages"] for r in ROWS],
                                str(tmp_path / f"c{fast}"))
        calls = []
        real_fast = type(trainer)._ded_fast
        def choose(self, r, fast=fast, real_fast=real_fast):
            calls.append(fast and real_fast(self, r))
            return calls[-1]

        monkeypatch.setattr(type(trainer), "_ded_fast", choose)
        logged = []

        class Keep(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kw):
                logged.append(dict(logs))

        trainer.add_callback(Keep())
        out = trainer.train()
        train_logs = [g for g in logged if "loss" in g]
        runs[fast] = (out.training_loss, trainer._total_train_tokens, train_logs, trainer._ded_pending)
        assert len(calls) >= 3 and set(calls) == {fast}  # each micro-batch took the path under test
    (loss_f, tok_f, logs_f, pending_f), (loss_t, tok_t, logs_t, _) = runs[True], runs[False]
    assert loss_f == pytest.approx(loss_t, rel=1e-5)
    assert tok_f == tok_t > 0
    assert len(logs_f) == len(logs_t) >= 2
    for a, b in zip(logs_f, logs_t):
        for key in ("loss", "entropy", "mean_token_accuracy", "num_tokens"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key
    assert pending_f == [] or len(pending_f) <= 2  # flushed at each log; at most the last step's left
