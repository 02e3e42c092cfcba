"""Receipts, and the selection run that explain and report default to."""

from ded.receipts import current_selection_run, read_receipt, write_receipt


def test_receipt_records_versions_and_rows(lake, tmp_path):
    lake.append("questions", [{"question_id": "q", "problem": "p"}])
    write_receipt("ingest", lake, ["questions", "verdicts"], directory=tmp_path)
    rec = read_receipt("ingest", tmp_path)
    assert rec["tables"] == {"questions": {"version": 1, "rows": 1}, "verdicts": {"version": None, "rows": 0}}


def test_default_selection_run_is_the_corpus_run_not_the_newest(lake, tmp_path, monkeypatch):
    from ded.report.data import latest_selection_run
    from ded.selectors.explain import latest_run

    monkeypatch.chdir(tmp_path)  # receipts/ is relative to the working directory, as under dvc repro
    row = {"trajectory_id": "t", "question_id": "q", "kept": True, "recipe": "ded"}
    lake.append("selection", [{**row, "run_id": "sel_a", "selected_at": "2026-01-01T00:00:00Z"}])
    lake.append("selection", [{**row, "run_id": "sel_b", "selected_at": "2026-01-02T00:00:00Z"}])
    assert current_selection_run(lake) is None  # no receipt: fall back to the newest
    assert latest_selection_run(lake) == "sel_b" and latest_run(lake) == "sel_b"
    # DVC restored select's outputs for run a from its run cache: the receipt names run a
    write_receipt("select", lake, ["selection"], extra={"run_id": "sel_a"})
    assert current_selection_run(lake) == "sel_a"
    assert latest_run(lake) == "sel_a" and latest_selection_run(lake) == "sel_a"
    write_receipt("select", lake, ["selection"], extra={"run_id": "sel_gone"})
    assert latest_run(lake) == "sel_b"  # a receipt naming a run not in this lake is ignored
