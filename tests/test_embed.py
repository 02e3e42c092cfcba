"""Embedding: the bundled model's hash check, chunking, incremental vector tables, the embed stage."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ded.embeddings import (
    chunk_texts,
    embed_into,
    load_encoder,
    load_vectors,
    question_text,
)
from ded.embeddings import model as model_mod
from ded.embeddings.model import (
    EmbeddingModelError,
    Encoder,
    bundled_model_dir,
    verify_bundled,
)
from ded.params import parse_params


@pytest.fixture(scope="session")
def encoder():
    """The bundled all-MiniLM-L6-v2, loaded once per session (hash-checked, offline)."""
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu")


def questions(n: int = 12) -> list[dict]:
    topics = ["primes", "triangles", "polynomials", "probability", "sequences", "graphs"]
    return [{"question_id": f"q_{i:04d}", "problem": f"Problem {i} about {topics[i % 6]}: find the value for n = {i}.",
             "source": "unit", "domain": "math"} for i in range(n)]


def test_bundled_model_is_upstream_and_tampering_is_refused(tmp_path, monkeypatch):
    d = bundled_model_dir()
    verify_bundled(d)  # sha256 of the real file equals upstream's
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(EmbeddingModelError, match="bytes"):
        verify_bundled(fake)
    monkeypatch.setattr(model_mod, "BUNDLED_SIZE", len(b"not the weights"))
    with pytest.raises(EmbeddingModelError, match="sha256"):
        verify_bundled(fake)


def test_encoder_basics(encoder):
    assert encoder.name == "sentence-transformers/all-MiniLM-L6-v2" and encoder.dim == 384
    assert encoder.max_tokens == 254
    v = encoder.encode(["What is 2 + 2?", "Compute the sum of two and two.", "Describe photosynthesis."])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]  # meaning, not surface form
    assert question_text("Find x.\nPlease reason step by step, and put your final answer within \\boxed{}.") == "Find x."


def test_chunking_covers_long_text_with_overlap(encoder):
    tok = encoder.tokenizer
    words = " ".join(f"word{i} alpha beta" for i in range(400))  # ~2.4k word pieces
    short = "A short problem."
    out = chunk_texts([words, short, ""], tok, max_tokens=100, overlap=20, max_chunks=50)
    assert out[1] == [short] and out[2] == [""]
    chunks = out[0]
    assert len(chunks) > 10
    assert all(len(tok(c, add_special_tokens=False)["input_ids"]) <= 100 for c in chunks)
    assert all(c in words for c in chunks) and words.startswith(chunks[0]) and words.endswith(chunks[-1])
    assert chunks[0][-30:] in chunks[1]  # consecutive chunks overlap
    assert len(chunk_texts([words], tok, max_tokens=100, overlap=20, max_chunks=3)[0]) == 3
    with pytest.raises(ValueError, match="overlap"):
        chunk_texts([words], tok, max_tokens=10, overlap=10)


def test_incremental_embedding(lake, encoder):
    lake.merge("questions", questions(12))
    items = lambda: [(r["question_id"], question_text(r["problem"])) for r in lake.read("questions").to_pylist()]
    first = embed_into(lake, "question_vectors", items(), encoder)
    assert (first.embedded, first.skipped) == (12, 0)
    again = embed_into(lake, "question_vectors", items(), encoder)
    assert (again.embedded, again.skipped, again.chunks) == (0, 12, 0)
    changed = questions(12)[3] | {"problem": "A different statement entirely, about circles."}
    lake.merge("questions", [changed], update=True)
    third = embed_into(lake, "question_vectors", items(), encoder)
    assert (third.embedded, third.replaced, third.skipped) == (1, 1, 11)
    assert lake.count("question_vectors") == 12
    ids, v = load_vectors(lake, "question_vectors")
    assert len(ids) == 12 and v.shape == (12, 384)
    assert str(lake.dataset("question_vectors").schema.field("vector").type).startswith("fixed_size_list")
    # a different model: the whole table is re-embedded, never mixed
    other = Encoder("another/model", encoder.model, encoder.device)
    st = embed_into(lake, "question_vectors", items(), other)
    assert st.model_changed and st.embedded == 12
    models = set(lake.read("question_vectors", columns=["embedding_model"]).column(0).to_pylist())
    assert models == {"another/model"}


def test_trajectories_chunked_and_pooled(lake, encoder):
    long = " ".join(f"Step {i}: we check the case k = {i} and it fails." for i in range(120))
    rows = [{"trajectory_id": f"t_{i}", "question_id": "q_0", "model": "m", "sample_idx": i,
             "response": f"<think>{long}</think> final {i}", "reasoning": long if i else None, "final": f"final {i}"}
            for i in range(3)]
    lake.merge("trajectories", rows)
    from ded.embeddings.store import trajectory_items
    st = embed_into(lake, "trajectory_vectors", trajectory_items(lake), encoder, max_chunks=4)
    assert st.embedded == 3 and st.chunks == 1 + 4 + 4  # t_0 has no reasoning: its final answer, one chunk
    ids, v = load_vectors(lake, "trajectory_vectors")
    assert ids == ["t_0", "t_1", "t_2"] and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    raw_ids, raw = load_vectors(lake, "trajectory_vectors", pooled=False)
    assert len(raw_ids) == 9 and raw.shape == (9, 384)


def test_stage_twice_embeds_nothing_the_second_time(lake, encoder, tmp_path, monkeypatch, shared_data):
    from ded.stages.embed import main

    monkeypatch.chdir(tmp_path)
    lake.merge("questions", questions(10))
    params = parse_params({"benchmarks": {"aime24": {"path_or_hub": str(shared_data / "aime24/qwq_aime24.jsonl")}},
                           "embed": {"dedup": {"methods": ["exact", "embedding"]}}})
    s1 = main(params, lake, encoder=encoder)
    assert s1["embedded"]["question_vectors"]["embedded"] == 10
    assert s1["benchmarks"] == {"aime24": 30} and s1["contamination"]["pairs"] == 0
    s2 = main(params, lake, encoder=encoder)
    assert s2["embedded"]["question_vectors"]["embedded"] == 0
    assert s2["embedded"]["question_vectors"]["skipped"] == 10
    rec = json.loads((tmp_path / "receipts/embed.json").read_text())
    assert rec["tables"]["question_vectors"]["rows"] == 10 and "benchmark_vectors" in rec["tables"]


def test_stage_needs_questions(lake):
    from ded.stages.embed import EmbedError, main

    with pytest.raises(EmbedError, match="ded ingest"):
        main(parse_params({}), lake)


def test_cli_embed_then_report(tmp_path, monkeypatch, shared_data, encoder):
    from typer.testing import CliRunner

    from ded.cli import app
    from ded.lake import Lake

    monkeypatch.chdir(tmp_path)
    lake = Lake(tmp_path / "lake")
    aime = [json.loads(x) for x in (shared_data / "aime24/qwq_aime24.jsonl").open()][:3]
    rows = questions(4) + [{"question_id": f"q_aime{i}", "problem": r["prompt"], "source": "qwq"} for i, r in enumerate(aime)]
    lake.merge("questions", rows)
    (tmp_path / "params.yaml").write_text(
        f"benchmarks:\n  aime24: {{path_or_hub: {shared_data / 'aime24/qwen25math_aime24_test.jsonl'}}}\n")
    run = CliRunner().invoke(app, ["embed"])
    assert run.exit_code == 0, run.output
    assert "question_vectors: 7 texts embedded" in run.output and "contamination: 3 questions flagged" in run.output
    rep = CliRunner().invoke(app, ["embed", "--report", "--format", "json"])
    hits = json.loads(rep.output)
    assert {h["question_id"] for h in hits} == {"q_aime0", "q_aime1", "q_aime2"}
    assert all(h["kind"] == "contaminated" and h["method"] == "ngram" for h in hits)
    again = CliRunner().invoke(app, ["embed"])
    assert "question_vectors: 0 texts embedded" in again.output and "nothing changed" in again.output
    # the same no-op from a fresh process imports neither torch nor sentence-transformers
    code = ("import sys\nfrom ded.cli import app\ntry:\n    app(['embed'])\nexcept SystemExit:\n    pass\n"
            "print('heavy:', [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules])")
    fresh = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "nothing changed" in fresh.stdout and "heavy: []" in fresh.stdout, fresh.stdout + fresh.stderr
    bad = CliRunner().invoke(app, ["embed", "--report", "--kind", "maybe"])
    assert bad.exit_code != 0 and "contaminated or near_duplicate" in bad.output


def test_noop_embed_does_not_load_the_model(lake, encoder, tmp_path, monkeypatch, shared_data):
    """Nothing changed since the last run: the stage returns its summary without loading the model; any change
    (a new question, another param, --force) runs it again, loading the model."""
    from ded.embeddings import model as model_mod
    from ded.stages.embed import main

    monkeypatch.chdir(tmp_path)
    lake.merge("questions", questions(6))
    params = parse_params({"benchmarks": {"aime24": {"path_or_hub": str(shared_data / "aime24/qwq_aime24.jsonl")}}})
    first = main(params, lake, encoder=encoder)
    assert first["embedded"]["question_vectors"]["embedded"] == 6 and "up_to_date" not in first

    def no_model(*a, **k):
        raise AssertionError("the model was loaded for a no-op run")

    import ded.stages.embed as embed_stage

    monkeypatch.setattr(model_mod, "load_encoder", no_model)
    monkeypatch.setattr(embed_stage, "load_encoder", no_model)  # the stage's own name for it (a top import)
    again = main(params, lake)
    assert again["up_to_date"] and again["embedded"]["question_vectors"]["embedded"] == 0
    assert again["embedded"]["question_vectors"]["skipped"] == 6
    assert again["duplicates"] == first["duplicates"] and again["contamination"] == first["contamination"]
    with pytest.raises(AssertionError, match="model was loaded"):
        main(params, lake, force=True)
    other = params.model_copy(update={"embed": params.embed.model_copy(update={"chunk_overlap": 16})})
    with pytest.raises(AssertionError, match="model was loaded"):
        main(other, lake)
    lake.merge("questions", [{"question_id": "q_new", "problem": "A new question about primes.", "source": "t"}])
    with pytest.raises(AssertionError, match="model was loaded"):
        main(params, lake)
