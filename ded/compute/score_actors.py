"""Student scoring (`ded score` with score.student_scores.enabled) on Ray: the student on an actor pool.

`RayStudentScorer` stands where `ded.scorers.student.StudentScorer` stands in
`ded.scorers.student_run.score_trajectories`: the driver renders and tokenizes (`encode`, with the
student's own tokenizer and no weights), and `score_many` of a lake batch plans the forwards exactly as the
local scorer's `_run` would (first-fit packing, or length-sorted rows on a GPU; trajectories longer than
`max_batch_tokens` alone) and sends each forward's trajectories to an actor as one chunk. An actor scores its
chunk with `StudentScorer.score_many`, which packs a chunk that fits one forward into that same forward, so
every trajectory is scored in the same company, in the same order, as locally: the same sums. The driver
reassembles results in input order; `ded score` writes them as it does locally.
"""

from __future__ import annotations

from typing import Any

from ded.compute.model_actors import ActorPoolRunner, where
from ded.scorers.student import StudentScorer, _first_fit, _row_groups


def _scorer(path: str, kw: dict) -> Any:
    return StudentScorer(path, **kw)


class ScoreWorker:
    """One node's (or GPU's) copy of the student."""

    def __init__(self, path: str, kw: dict, cores: int):
        self.cores = cores
        self.scorer = _scorer(path, kw).load()

    def where(self) -> dict:
        return {**where(self.cores), "device": self.scorer.device}

    def layout(self) -> str:
        return self.scorer._layout()

    def score_at(self, index: int, items: list[tuple[list[int], int]]) -> tuple[int, list[dict]]:
        return index, self.scorer.score_many(items)


def plan(items: list[tuple[list[int], int]], cap: int, layout: str) -> list[list[int]]:
    """The forwards `StudentScorer._run` makes of `items`, as lists of item indices (each one actor chunk)."""
    cap = max(1, int(cap))
    lengths, alone = {}, []
    for i, (ids, start) in enumerate(items):
        if len(ids) <= max(start, 1) or len(ids) > cap:
            alone.append([i])  # nothing to score, or scored alone in segments
        else:
            lengths[i] = len(ids)
    return (_row_groups if layout == "rows" else _first_fit)(lengths, cap) + alone


class RayStudentScorer:
    """A StudentScorer whose `score_many` runs on the cluster's actors (`close()` when done)."""

    def __init__(self, params: Any, path: str, **kw: Any):
        self.params, self.path, self.kw = params, path, kw
        self.runner = None  # started by `load`, as the local scorer loads its model: only when there is work

    def load(self) -> RayStudentScorer:
        if self.runner is not None:
            return self
        from transformers import AutoTokenizer

        self.local = _scorer(self.path, {**self.kw, "device": "cpu"})  # tokenizes on the driver, no weights
        self.local._tok = AutoTokenizer.from_pretrained(self.path)
        self.runner = ActorPoolRunner(self.params, ScoreWorker, self.kw.get("device", "auto"), self.path, self.kw)
        # the lake batches stay the local engine's 256 rows (the same forwards, the same sums): a batch's
        # forwards spread over the actors, and with more actors than forwards in a batch some idle
        self._layout = self.runner.call_one("layout")
        return self

    @property
    def device(self) -> str:
        return f"ray: {len(self.runner.actors) if self.runner else 0} actors"

    def where(self) -> list[dict]:
        return self.runner.where()

    def encode(self, messages: list[dict[str, str]], assistant: str) -> tuple[list[int], int]:
        return self.local.encode(messages, assistant)

    def score_many(self, items: list[tuple[list[int], int]]) -> list[dict]:
        items = list(items)
        groups = plan(items, self.local.max_batch_tokens, self._layout)
        out: list[dict | None] = [None] * len(items)
        for g, results in self.runner.run("score_at", [[items[i] for i in g] for g in groups]):
            for i, r in zip(groups[g], results):
                out[i] = r
        return out

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
