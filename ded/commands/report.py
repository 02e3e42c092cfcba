"""`ded report`: write the corpus report (index.html, self-contained) and the Markdown corpus card."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        ctx: typer.Context,
        out: str | None = typer.Option(None, "-o", "--out", help="Output directory (default: report.out_dir, `reports`)."),
        metrics_dir: str | None = typer.Option(None, "--metrics-dir", help="Where `ded evaluate` wrote <benchmark>.json files (default: evaluate.metrics_dir, metrics/eval in the profiles)."),
        run: str | None = typer.Option(None, "--run", help="selection.run_id to report (default: the corpus on disk's, receipts/select.json, else the newest); an unknown run is an error."),
    ) -> None:
        """Write index.html (offline, inline SVG charts) and corpus_card.md from the lake tables present.

        Sections whose tables are missing say which command computes them. Example: ded report -o reports
        """
        from ded.commands.common import context
        from ded.report import write_report

        params, lake = context(ctx, read_only=True)
        paths = write_report(lake, params, out_dir=out, metrics_dir=metrics_dir, selection_run=run)

        typer.echo(f"wrote {paths['html']} and {paths['card']}")
