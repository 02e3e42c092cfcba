"""The NumPy all-MiniLM-L6-v2 (ded.embeddings.numpy_minilm) gives sentence-transformers' vectors."""

from __future__ import annotations

import numpy as np
import pytest

from ded.embeddings import load_encoder
from ded.embeddings.model import DEFAULT_MODEL, bundled_model_dir, load_query_encoder
from ded.embeddings.numpy_minilm import NumpyMiniLM

TEXTS = [
    "sum of the digits of a prime",
    "Find the number of ordered pairs $(x,y)$ of positive integers with $x^2 + y^2 = 2025$.",
    "Trouver la plus grande partie réelle possible de $z$ — 中文 ünïcode",
    "word " * 400,  # past the 256-piece window: truncated as sentence-transformers truncates
    "",
]


def test_vectors_equal_sentence_transformers():
    np_enc = NumpyMiniLM(bundled_model_dir(), DEFAULT_MODEL)
    st = load_encoder(DEFAULT_MODEL, "cpu")
    a, b = np_enc.encode(TEXTS), st.encode(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.abs(a - b).max() < 1e-5
    assert np.linalg.norm(a, axis=1) == pytest.approx(np.ones(len(TEXTS)), abs=1e-5)
    assert np_enc.dim == st.dim and np_enc.max_tokens == st.max_tokens
    assert np_enc.encode([]).shape == (0, 384)


def test_query_encoder_prefers_a_loaded_model_and_names_the_model():
    st = load_encoder(DEFAULT_MODEL, "cpu")  # loaded in this process: reused, not a second copy
    assert load_query_encoder(DEFAULT_MODEL, "cpu") is st
    assert load_query_encoder("bundled").name == DEFAULT_MODEL
