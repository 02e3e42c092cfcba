"""all-MiniLM-L6-v2 in NumPy, for encoding a few texts (a `ded search` query) without torch.

Why: a cold `ded search "..."` spent ~4-5 s importing sentence-transformers (which imports torch,
transformers and scikit-learn) to encode one query of a dozen word pieces; the forward pass itself takes
milliseconds. This module runs the same network (BERT, 6 layers, 384 hidden, 12 heads, GELU; mean pooling
over the attention mask; L2 normalization: the model's modules.json) from the same verified
`model.safetensors` (`ded.embeddings.model.verify_bundled`) with the `tokenizers` package (Rust, already a
dependency of sentence-transformers) and NumPy. Its vectors equal sentence-transformers' within float32
rounding (tests/test_embeddings_numpy.py: cosine > 0.99999), so they search the same index. Batch
embedding (`ded embed`) keeps sentence-transformers: torch's kernels are faster for thousands of texts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

LAYERS, HEADS = 6, 12


class NumpyMiniLM:
    """The bundled all-MiniLM-L6-v2 as an `Encoder`-like object: `name`, `dim`, `max_tokens`, `encode`."""

    def __init__(self, model_dir: Path, name: str):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.name, self.device = name, "cpu"
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_seq_length = int(cfg.get("max_seq_length", 256))
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(self.max_seq_length)
        self._w = load_file(str(model_dir / "model.safetensors"))
        self.eps = float(json.loads((model_dir / "config.json").read_text()).get("layer_norm_eps", 1e-12))

    @property
    def dim(self) -> int:
        return int(self._w["embeddings.word_embeddings.weight"].shape[1])

    @property
    def max_tokens(self) -> int:
        return self.max_seq_length - 2

    def _ln(self, x: np.ndarray, p: str) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self._w[p + ".weight"] + self._w[p + ".bias"]

    def _dense(self, x: np.ndarray, p: str) -> np.ndarray:
        return x @ self._w[p + ".weight"].T + self._w[p + ".bias"]

    def _one(self, ids: list[int]) -> np.ndarray:
        w = self._w
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        d = x.shape[1] // HEADS
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."
            q, k, v = (self._dense(x, p + f"attention.self.{m}").reshape(n, HEADS, d).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            a = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(n, -1)
            x = self._ln(x + self._dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))  # exact GELU, as BERT's "gelu"
            x = self._ln(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        v = x.mean(0)  # mean pooling: one unpadded text, every token attended
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-normalized float32 vectors, one row per text (texts one at a time: no padding needed)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._one(e.ids) for e in self._tok.encode_batch(list(texts))]).astype(np.float32)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, vectorized (NumPy has none, SciPy's import costs more than a query): Abramowitz & Stegun 7.1.26,
    absolute error under 1.5e-7, below float32 resolution of the activations it feeds."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    y = 1.0 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) \
        * np.exp(-x * x)
    return np.sign(x) * y
