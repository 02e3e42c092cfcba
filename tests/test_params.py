"""Params: defaults, validation errors that show the expected shape, hashing."""

import pytest

from ded.params import Params, ParamsError, load_params, parse_params, with_overrides

REPO_PARAMS = __import__("pathlib").Path(__file__).resolve().parents[1] / "params.yaml"


def test_repository_params_file_is_valid():
    p = load_params(REPO_PARAMS)
    assert p.lake.root


def test_defaults_and_model_lookup():
    p = parse_params({"models": [{"name": "t", "model": "org/m", "sampling": {"n": 4}}], "student": {"model": "t"}})
    assert p.model("t").sampling.n == 4
    assert p.model("t").sampling.max_tokens == 16384
    with pytest.raises(ParamsError, match="no model named 'x'"):
        p.model("x")


def test_validation_error_names_field_and_shows_shape():
    with pytest.raises(ParamsError) as e:
        parse_params({"models": [{"name": "t", "model": "m", "sampling": {"temperature": -1}}]})
    msg = str(e.value)
    assert "models.0.sampling.temperature" in msg and "expected shape" in msg


def test_unknown_key_in_a_declared_section_is_an_error():
    with pytest.raises(ParamsError, match="lake.rot"):
        parse_params({"lake": {"rot": "x"}})


def test_duplicate_model_names_rejected():
    with pytest.raises(ParamsError, match="unique"):
        parse_params({"models": [{"name": "a", "model": "x"}, {"name": "a", "model": "y"}]})


def test_missing_explicit_file_says_how_to_fix(tmp_path):
    with pytest.raises(ParamsError, match="--params"):
        load_params(tmp_path / "nope.yaml")


def test_hash_changes_with_the_section():
    a = parse_params({"ingest": {"batch_rows": 10}})
    b = parse_params({"ingest": {"batch_rows": 11}})
    assert a.hash("lake") == b.hash("lake")
    assert a.hash("ingest") != b.hash("ingest")


def test_a_source_without_kind_is_inferred_not_read_as_questions():
    from ded.params import parse_params

    p = parse_params({"ingest": {"sources": [{"path": "x.jsonl"}, {"path": "y.jsonl", "kind": "questions"}]}})
    assert [s.kind for s in p.ingest.sources] == ["auto", "questions"]


def test_overrides_are_validated_like_a_params_file(tmp_path):
    """A command's options go through the section's validation (they once went through model_copy, which
    skips it): a bad value or a misspelt key is an error naming the key, a good one lands typed."""

    from ded.stages import select

    p = Params()
    q = with_overrides(p, "select", budget="12", export={"out_dir": str(tmp_path), "think": False})
    assert q.select.budget == 12 and q.select.export.out_dir == str(tmp_path) and q.select.export.think is False
    assert p.select.budget != 12  # the original is untouched
    with pytest.raises(ParamsError, match=r"select\.budget"):
        with_overrides(p, "select", budget=-5)
    with pytest.raises(ParamsError, match=r"select\.budgte"):
        with_overrides(p, "select", budgte=5)
    with pytest.raises(ParamsError, match=r"select\.recipe"):
        select.main(p, None, recipe="nope")  # before any lake is opened
