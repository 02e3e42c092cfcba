"""`ded report`: a self-contained HTML report (inline SVG charts) and a Markdown corpus card from the lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ded.errors import DedError
from ded.lake import Lake
from ded.report.data import gather
from ded.report.render import to_html, to_markdown


def write_report(lake: Lake, params: Any = None, out_dir: str | Path | None = None,
                 metrics_dir: str | Path | None = None, selection_run: str | None = None) -> dict[str, Path]:
    """Write `<out_dir>/index.html` and `<out_dir>/corpus_card.md`; return their paths."""
    if not lake.table_names():  # evaluation-only lakes (ded evaluate --import) have eval_samples and are fine
        raise DedError(f"lake {str(lake.root)!r} holds no tables yet, so there is nothing to report: "
                       f"run `dvc repro` (or `ded ingest ...` / `ded evaluate`) first, or point --lake at a filled lake")
    rp = getattr(params, "report", None)
    out = Path(out_dir or getattr(rp, "out_dir", "reports"))
    out.mkdir(parents=True, exist_ok=True)
    data = gather(lake, params, metrics_dir=metrics_dir, selection_run=selection_run)
    paths = {"html": out / "index.html", "card": out / "corpus_card.md"}
    paths["html"].write_text(to_html(data), encoding="utf-8")
    paths["card"].write_text(to_markdown(data), encoding="utf-8")
    return paths
