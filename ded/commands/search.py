"""`ded search`: find questions or trajectories by meaning."""

from __future__ import annotations

import json

import typer


def search(
    ctx: typer.Context,
    text: str | None = typer.Argument(None, help="Query text (omit with --like)."),
    table: str = typer.Option("questions", "--table", help="questions or trajectories."),
    k: int = typer.Option(10, "-k", "--k", help="Number of hits."),
    where: str | None = typer.Option(None, "--where", help="SQL predicate over the table's columns, e.g. \"domain = 'math'\"."),
    like: str | None = typer.Option(None, "--like", help="Find the neighbours of this stored question_id / trajectory_id."),
    hybrid: bool = typer.Option(False, "--hybrid", help="Fuse vector and full-text (BM25) rankings (questions only)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Similarity search over the embedded corpus.

    Examples: ded search "sum of the digits of a prime" -k 5 · ded search --like q_0123abcd --where "source = 'math'"
    · ded search "shortest path after adding roads" --hybrid
    """
    from ded.commands.common import context, echo_table
    from ded.search import search as run_search
    from ded.search.query import check_args, check_table

    params, lake = context(ctx, read_only=True)
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format must be table or json, got {fmt!r}")
    check_args(text, like, k)  # before the model loads: a bad query or a missing table fails fast
    check_table(lake, table)
    encoder = None
    if text is not None and like is None:
        from ded.embeddings.model import load_query_encoder

        encoder = load_query_encoder(params.embed.model, params.embed.device)
    hits = run_search(lake, text=text, like=like, table=table, k=k, where=where, hybrid=hybrid, encoder=encoder,
                      nprobes=params.embed.nprobes, refine_factor=params.embed.refine_factor)
    rows = [h.as_dict() for h in hits]
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    cols = ["id", "similarity"] + (["rank_score"] if hybrid else []) + ["source", "snippet"]
    echo_table(rows, cols, title=f"{len(rows)} nearest {table}")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
