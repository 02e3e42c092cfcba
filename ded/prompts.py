"""Prompt templates shared by generate, the corpus export, SFT and evaluate.

One source of truth for the user turn (`prompts/<domain>.jinja`) and the assistant turn
(`<think>reasoning</think>` then the final answer), so training and evaluation prompts cannot
drift apart. The math template follows the Qwen2.5-Math / DeepSeek-R1 evaluation prompt; the
code template follows LiveCodeBench's generation prompt (with and without starter code).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

REPO = Path(__file__).resolve().parents[1]


def _resolve(path: str) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO / p


@lru_cache(maxsize=32)
def _template(path: str) -> jinja2.Template:
    p = _resolve(path)
    if not p.exists():
        raise FileNotFoundError(f"prompt template {path} not found (params `prompts`); expected e.g. prompts/math.jinja")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                             trim_blocks=True, lstrip_blocks=True)
    return env.from_string(p.read_text())


def template_for(domain: str | None, prompts: Any = None) -> str:
    math_t = getattr(prompts, "math", "prompts/math.jinja") if prompts is not None else "prompts/math.jinja"
    code_t = getattr(prompts, "code", "prompts/code.jinja") if prompts is not None else "prompts/code.jinja"
    return code_t if domain == "code" else math_t


def render_user(question: dict[str, Any], prompts: Any = None) -> str:
    """The user turn for a question row (problem, domain, starter_code, entry_point, …)."""
    ctx = {"problem": "", "starter_code": None, "entry_point": None, "domain": None, "choices": None}
    ctx.update({k: v for k, v in question.items() if v is not None})
    return _template(template_for(question.get("domain"), prompts)).render(**ctx).strip()


def render_messages(question: dict[str, Any], params: Any = None) -> list[dict[str, str]]:
    """Chat messages for a question: an optional system turn and the user turn."""
    prompts = getattr(params, "prompts", params)
    msgs = []
    system = getattr(prompts, "system", None) if prompts is not None else None
    if system:
        msgs.append({"role": "system", "content": _template(system).render(**question).strip()})
    msgs.append({"role": "user", "content": render_user(question, prompts)})
    return msgs


def render_assistant(reasoning: str | None, final: str, think: bool = True) -> str:
    """The assistant turn as the corpus trains it: `<think>\\n…\\n</think>\\n\\n` then the final answer."""
    final = (final or "").strip()
    if think and reasoning is not None:
        return f"<think>\n{reasoning.strip()}\n</think>\n\n{final}"
    return final
