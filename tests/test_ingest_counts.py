"""The ingest summary's numbers mean what they say: distinct questions inserted vs present before the call."""

import json

from ded.ingest import ingest_paths


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_files_of_one_call_naming_the_same_questions_are_not_already_present(lake, tmp_path):
    files = [jsonl(tmp_path / f"m{k}.jsonl", [{"problem": f"P{i}", "response": f"r{k}{i}", "model": f"m{k}"}
                                             for i in range(3)]) for k in range(4)]
    rep = ingest_paths(lake, files, kind="trajectories")
    assert (rep.questions_inserted, rep.questions_present, rep.trajectories_inserted) == (3, 0, 12)
    assert "questions: 3 inserted, 0 already present" in rep.summary()
    again = ingest_paths(lake, files, kind="trajectories")
    assert (again.questions_inserted, again.questions_present) == (0, 3)  # distinct, not 4 x 3
    assert (again.trajectories_inserted, again.trajectories_present) == (0, 12)


def test_repeated_questions_within_a_call_are_counted_apart(lake, tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"problem": "P1"}, {"problem": "P2"}, {"problem": "P1"}])
    b = jsonl(tmp_path / "b.jsonl", [{"problem": "P2"}, {"problem": "P3"}])
    rep = ingest_paths(lake, [a, b], kind="questions")
    assert (rep.questions_inserted, rep.questions_present, rep.questions_repeated) == (3, 0, 2)
    assert "questions: 3 inserted, 0 already present (2 repeated records within this call skipped)" in rep.summary()
    rep = ingest_paths(lake, [b], kind="questions")
    assert (rep.questions_inserted, rep.questions_present, rep.questions_repeated) == (0, 2, 0)


def test_aime24_panel_counts(lake, shared_data):
    files = sorted((shared_data / "trajectories/skythought_evals/aime24").glob("*.jsonl.gz"))
    assert len(files) == 16
    rep = ingest_paths(lake, files, kind="trajectories", preset="qwen-math-eval")
    assert "questions: 30 inserted, 0 already present" in rep.summary()
    assert (rep.trajectories_inserted, rep.trajectories_present) == (480, 0)
