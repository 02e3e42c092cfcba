"""Small lakes with planted facts, for the tests of scoring and selection (test-only: not part of `ded`).

Rows are written straight to the lake tables on their ARCHITECTURE.md schemas (the upstream
stages' outputs), so selection can be tested on facts we know: which trajectories are wrong,
which question the student solves, which traces are near-copies of each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ded.ids import question_id, trajectory_id
from ded.lake import Lake


def question(problem: str, domain: str = "math", answer: str = "5", **kw: Any) -> dict[str, Any]:
    return {"question_id": question_id(problem), "domain": domain, "problem": problem, "answer": answer,
            "source": kw.pop("source", "synthetic"), "license": kw.pop("license", "CC0-1.0"), **kw}


@dataclass
class LakeBuilder:
    """Collects questions, trajectories and verdicts, then writes each table in one commit."""

    questions: list[dict[str, Any]] = field(default_factory=list)
    trajectories: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    _idx: dict[tuple[str, str], int] = field(default_factory=dict)

    def add_question(self, problem: str, domain: str = "math", answer: str = "5", **kw: Any) -> str:
        q = question(problem, domain, answer, **kw)
        self.questions.append(q)
        return q["question_id"]

    def add(self, qid: str, model: str, *, correct: bool | None = True, reasoning: str | None = "Let me think.",
            final: str = "The answer is \\boxed{5}.", extracted: str | None = "5", n_tokens: int | None = 1000,
            finish_reason: str = "stop", format_ok: bool | None = True, verifier: str = "math",
            status: str | None = None, response: str | None = None) -> str:
        i = self._idx.get((qid, model), 0)
        self._idx[(qid, model)] = i + 1
        tid = trajectory_id(qid, model, "generated", i)
        if response is None:
            response = f"<think>\n{reasoning}\n</think>\n\n{final}" if reasoning is not None else final
        self.trajectories.append({
            "trajectory_id": tid, "question_id": qid, "model": model, "sample_idx": i, "prompt": "",
            "response": response, "reasoning": reasoning, "final": final, "finish_reason": finish_reason,
            "n_tokens": n_tokens, "origin": "generated"})
        if verifier is not None:
            st = status or ("correct" if correct else ("wrong" if correct is False else "error"))
            self.verdicts.append({"trajectory_id": tid, "verifier": verifier, "verifier_version": "1", "status": st,
                                  "correct": correct, "extracted": extracted, "format_ok": format_ok})
        return tid

    def write(self, lake: Lake) -> Lake:
        if self.questions:
            lake.merge("questions", self.questions)
        if self.trajectories:
            lake.merge("trajectories", self.trajectories)
        if self.verdicts:
            lake.merge("verdicts", self.verdicts)
        return lake
