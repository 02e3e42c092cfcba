"""`ded profile` (listing): each profile with whole sentences of what it is, wrapped, never cut mid-sentence."""

from pathlib import Path

from typer.testing import CliRunner

from ded.cli import app
from ded.commands.profile import describe, profiles

REPO = Path(__file__).resolve().parents[1]


def test_describe_gives_whole_sentences_without_the_label(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("# Profile `x` (the default): the paper's setup (arXiv 2508.09883, Sec. 4.1): four teachers\n"
                 "# behind an endpoint, batch 48. Point base_url at your servers.\n#\n# More.\nprofile: x\n")
    assert describe(p) == "(the default) the paper's setup (arXiv 2508.09883, Sec. 4.1): four teachers behind an endpoint, batch 48."
    p.write_text("# Profile `limo`: LIMO (arXiv 2502.03387). Keep problems solved 1-3 times in 32. Student X.\nprofile: limo\n")
    assert describe(p) == "LIMO (arXiv 2502.03387). Keep problems solved 1-3 times in 32."  # a bare name is too short alone


def test_listing_shows_each_profile_description_whole(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("COLUMNS", "80")
    r = CliRunner().invoke(app, ["--params", str(tmp_path / "params.yaml"), "profile"])
    assert r.exit_code == 0, r.output
    found = profiles()
    assert len(found) >= 4
    entries: dict[str, list[str]] = {}
    for line in r.output.splitlines():
        if line[:1] in ("*", " ") and line[2:3].strip():
            name, _, rest = line[2:].partition(" ")
            entries[name] = [rest.strip()]
        elif line.startswith(" " * 6) and entries:
            entries[list(entries)[-1]].append(line.strip())
    assert set(entries) == set(found)
    for name, parts in entries.items():
        text = " ".join(parts)
        assert text == describe(found[name]) and text.endswith("."), (name, text)
    assert max(len(x) for x in r.output.splitlines() if not x.startswith("(")) <= 80  # wrapped to the terminal
    assert "matches no profile" in r.output  # the --params file here is none of them
