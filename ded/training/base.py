"""Which base model a run starts from, and the demo's tiny one built from a config."""

from __future__ import annotations

from pathlib import Path

from ded.errors import DedError
from ded.tiny import build_tiny_model


def base_model(params, sft=None) -> str:
    """`sft.model`, else the `model` of the student named by `student.model`; built when it is the demo's tiny one."""
    sft = sft or params.sft
    name = sft.model
    if name is None:
        if params.student is None:
            raise DedError("no base model: set sft.model (hub id or path) or student.model (a name in `models`)")
        name = params.model(params.student.model).model
    if sft.tiny_base_text:
        ensure_tiny_base(name, sft.tiny_base_text)
    elif _looks_local(name) and not Path(name).exists():
        raise DedError(f"base model path {name} does not exist: point sft.model at a hub id or a saved model "
                       f"(the demo profile builds its tiny model when sft.tiny_base_text is set)")
    return name


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~"))


def ensure_tiny_base(path: str, text_file: str) -> Path:
    """Build (or reuse: ded.tiny caches by its arguments and a hash of the texts) the demo's tiny student."""
    text = Path(text_file)
    if not text.exists():
        raise DedError(f"sft.tiny_base_text {text} not found: write the demo sources with `ded demo` "
                       f"(or `python -m ded.demo data/demo`)")
    # One text per paragraph: the tokenizer trainer sees the same documents the demo rows hold.
    texts = [t for t in text.read_text(encoding="utf-8").split("\n\n") if t.strip()]
    # 512 tokens, 2 layers of width 64: big enough to learn the demo's phrasing in a CPU minute.
    return build_tiny_model(path, texts=texts, vocab_size=512, hidden_size=64, num_layers=2, num_heads=4,
                            max_position=2048, seed=0)
