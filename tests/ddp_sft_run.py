"""Run by tests/test_sft_ddp.py under torchrun: a 3-step `ded sft` training on the tiny model, printing its result.

    torchrun --nproc_per_node 2 tests/ddp_sft_run.py MODEL_DIR fast|trl OUT_DIR
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoTokenizer, TrainerCallback  # noqa: E402

from ded.params import parse_params  # noqa: E402
from ded.training.plan import make_plan  # noqa: E402
from ded.training.trainer import build_trainer, load_model  # noqa: E402

model_dir = sys.argv[1]
fast = sys.argv[2] == "fast"
rows = [[{"role": "user", "content": f"What is {a} + {b}?"},
         {"role": "assistant", "content": f"<think>\n{a} + {b} = {a + b}.\n</think>\n\n\\boxed{{{a + b}}}"}]
        for a, b in [(12, 30), (45, 17), (23, 64), (51, 38), (70, 11), (16, 29), (33, 48), (27, 55)]]
p = parse_params({"sft": {"model": model_dir, "max_length": 256, "per_device_batch_size": 2, "max_steps": 3,
                          "learning_rate": 1e-2, "warmup_ratio": 0.0, "lr_scheduler": "constant", "logging_steps": 1,
                          "packing": True}})
plan = make_plan(p.sft, cuda=False, distributed=True)
torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(model_dir)
tr = build_trainer(p.sft, plan, load_model(model_dir, plan), tok, rows, sys.argv[3])
if not fast:
    type(tr)._ded_fast = lambda self, r: False
logs = []


class Keep(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            KEEP.append({k: v for k, v in logs.items() if k != "learning_rate"})


KEEP = logs
tr.add_callback(Keep())
out = tr.train()
if tr.is_world_process_zero():
    print("RESULT", json.dumps({"loss": out.training_loss, "tokens": tr._total_train_tokens, "logs": logs,
                                "find_unused": tr.args.ddp_find_unused_parameters, "world": tr.accelerator.num_processes}))
