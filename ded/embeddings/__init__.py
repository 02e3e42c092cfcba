"""Sentence embeddings for questions, trajectories and benchmark items (see docs/embeddings.md)."""

from ded.embeddings.chunking import chunk_texts, question_text, trajectory_text
from ded.embeddings.model import (
           DEFAULT_MODEL,
           EmbeddingModelError,
           Encoder,
           load_encoder,
)
from ded.embeddings.store import EmbedStats, embed_into, load_vectors

__all__ = [
           "DEFAULT_MODEL",
           "EmbedStats",
           "EmbeddingModelError",
           "Encoder",
           "chunk_texts",
           "embed_into",
           "load_encoder",
           "load_vectors",
           "question_text",
           "trajectory_text",
]
