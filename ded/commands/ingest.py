"""`ded ingest`: pour question sets and trajectory dumps into the lake."""

from __future__ import annotations

from pathlib import Path

import typer

from ded.params import PRESET_NAMES


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="Source files (jsonl, jsonl.gz, json, parquet, csv, a saved datasets folder). None: the sources in params `ingest.sources`."),
    kind: str = typer.Option("auto", "--kind", help="questions, trajectories, or auto: trajectories for the response presets "
                             "(qwen-math-eval, openr1-math, openthoughts, s1k) and for files whose first record carries "
                             "responses (response, responses, generations, completion, a list `code`, ...), questions otherwise. "
                             "--kind questions on rows with responses keeps the questions and warns with the count."),
    preset: str = typer.Option("generic", "--preset", help=f"Row shape, one of {', '.join(PRESET_NAMES)} (ded/ingest/presets/)."),
    source: str | None = typer.Option(None, "--source", help="Source label (default: the file name)."),
    model: str | None = typer.Option(None, "--model", help="Model name for trajectory rows that do not name one (default: the file name)."),
    domain: str | None = typer.Option(None, "--domain", help="math, code, science or other, for rows that do not say."),
    mapping: list[str] = typer.Option([], "--map", help="Rename a column before the preset reads it: COLUMN=FIELD (repeatable)."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first bad record and write nothing."),
) -> None:
    """Ingest sources into the lake; bad records go to `rejects` with their reason.

    Example: ded ingest ../shared/data/trajectories/skythought_evals/aime24/*.jsonl.gz --preset qwen-math-eval
    """
    from ded.commands.common import context
    from ded.ingest import ingest_paths
    from ded.ingest.core import StrictReject

    params, lake = context(ctx)
    maps = {}
    for m in mapping:
        col, sep, fld = m.partition("=")
        if not sep or not col or not fld:
            raise typer.BadParameter(f"--map expects COLUMN=FIELD, got {m!r}")
        maps[col] = fld
    cfg = params.ingest
    try:
        if paths:
            report = ingest_paths(lake, list(paths), kind=kind, preset=preset, source=source, model=model,
                                  domain=domain, mapping=maps, strict=strict or cfg.strict,
                                  batch_rows=cfg.batch_rows, max_field_bytes=cfg.max_field_bytes)
        else:
            from ded.stages import ingest as stage

            report = stage.main(params, lake, strict=strict)
    except StrictReject as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(report.summary(warnings=False))
    for w in report.warnings():
        typer.echo(w, err=True)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
