"""`ded embed` on Ray: the sentence-embedding model on an actor pool (ded.compute.model_actors).

`RayEncoder` stands where `ded.embeddings.model.Encoder` stands: `ded.embeddings.store.embed_into` chunks
texts with its tokenizer on the driver, sorts them by length, and calls `encode` once per `embed.commit_every`
texts; `encode` cuts that call into chunks of whole `embed.batch_size` batches, each actor encodes a chunk
with the same `Encoder.encode` (same model, same batch size, the same length-sorted batches as the local
call), and the driver puts the vectors back in order and commits them, one Lance commit per
`commit_every` texts as locally. The tokenizer is the actors' own (pickled from actor 0), so chunking on
the driver is the actors' chunking; the driver never loads the model's weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ded.compute.model_actors import ActorPoolRunner, where
from ded.embeddings.model import load_encoder


class EmbedWorker:
    """One node's (or GPU's) copy of the embedding model."""

    def __init__(self, name: str, device: str, cores: int):
        import torch


        if device in ("cpu", "auto") and not torch.cuda.is_available():
            torch.set_num_threads(max(1, cores))
        self.cores = cores
        self.enc = load_encoder(name, device)

    def where(self) -> dict:
        return {**where(self.cores), "device": self.enc.device}

    def info(self) -> dict:
        e = self.enc
        return {"name": e.name, "dim": e.dim, "max_tokens": e.max_tokens, "tokenizer": e.tokenizer, "device": e.device}

    def encode_at(self, index: int, job: tuple[list[str], int]) -> tuple[int, np.ndarray]:
        texts, batch_size = job
        return index, self.enc.encode(texts, batch_size=batch_size)


class RayEncoder:
    """An Encoder whose `encode` runs on the cluster's model actors (`close()` when done)."""

    def __init__(self, params: Any):
        cfg = params.embed
        self.runner = ActorPoolRunner(params, EmbedWorker, cfg.device, cfg.model, cfg.device)
        info = self.runner.call_one("info")
        self.name, self.dim, self.max_tokens, self.tokenizer = info["name"], info["dim"], info["max_tokens"], info["tokenizer"]
        self.device = f"ray: {len(self.runner.actors)} actors on {info['device']}"
        self.chunk_rows = params.compute.chunk_rows

    def where(self) -> list[dict]:
        return self.runner.where()

    def chunk_size(self, n: int, batch_size: int) -> int:
        """Texts per actor call: whole batches (the local call's batches stay intact), at most
        compute.chunk_rows rounded up to a batch, and few enough that every actor gets work."""
        per_actor = -(-n // max(1, len(self.runner.actors)))
        size = min(max(self.chunk_rows, batch_size), per_actor)
        return max(batch_size, -(-size // batch_size) * batch_size)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        size = self.chunk_size(len(texts), batch_size)
        chunks = [(texts[i:i + size], batch_size) for i in range(0, len(texts), size)]
        out = np.empty((len(texts), self.dim), np.float32)
        for index, vec in self.runner.run("encode_at", chunks):
            out[index * size:index * size + len(chunks[index][0])] = vec
        return out

    def close(self) -> None:
        self.runner.close()
