"""`ded ablate`: the ablation harness (recipes x budgets x seeds x teachers → ablations, metrics/ablate.json)."""

from __future__ import annotations

from typing import Optional

import typer

ablate_app = typer.Typer(
    help="Does a selection train the student better than random, and by how much? Every arm of `ablate` in "
         "params.yaml (recipe x budget x seed x teacher) selects, fine-tunes and evaluates the student; the "
         "aggregate compares each recipe with `random` at the same budget and seeds (paired bootstrap). "
         "`ded ablate` runs the arms without a result and aggregates; `dvc repro pipelines/ablate/dvc.yaml` runs "
         "one DVC stage per arm. Example: ded ablate --no-train   (select and export every arm's corpus only)",
    invoke_without_command=True, rich_markup_mode=None)


@ablate_app.callback()
def ablate(
    ctx: typer.Context,
    no_train: bool = typer.Option(False, "--no-train", help="Select and export every arm's corpus only (no SFT, no evaluation: no GPU needed)."),
    arm: Optional[list[str]] = typer.Option(None, "--arm", help="Only this arm (NAME = recipe-budget-seed-teacher); repeatable."),
    force: bool = typer.Option(False, "--force", help="Rerun arms that already have an up-to-date result."),
) -> None:
    """Run every arm of params `ablate` that has no up-to-date result, then aggregate."""
    if ctx.invoked_subcommand is not None:
        return
    from ded.commands.common import context
    from ded.stages import ablate as stage

    params, lake = context(ctx, needs_lake=True)
    train = False if no_train else None
    out = stage.main(params, lake, train=train, only=arm or None, force=force)
    typer.echo(f"ablate: ran {len(out['ran'])} arms, reused {len(out['reused'])} with an up-to-date result")
    _print(out, params)


@ablate_app.command("arm")
def arm_cmd(
    ctx: typer.Context,
    recipe: str = typer.Option(..., "--recipe", help="ded, limo, s1k, rsr, random, ded-teacher, ded-correct or ded-compression."),
    budget: int = typer.Option(..., "--budget", help="Corpus rows."),
    seed: int = typer.Option(0, "--seed", help="select.seed, sft.seed and the evaluation seed offset."),
    teacher: str = typer.Option("auto", "--teacher", help="select.teacher of the arm: auto, all or a model name."),
    no_train: bool = typer.Option(False, "--no-train", help="Select and export only."),
    objective: Optional[list[str]] = typer.Option(None, "--objective", help="SFT objective: plain, t3s or rrt; repeatable (default: every one in ablate.objectives, plain first)."),
) -> None:
    """Run one arm (a DVC stage of pipelines/ablate/dvc.yaml), once per SFT objective. Example: ded ablate arm --recipe ded --budget 100 --seed 0"""
    from ded.commands.common import context
    from ded.params import ABLATE_RECIPES
    from ded.stages import ablate as stage

    if recipe not in ABLATE_RECIPES:
        raise stage.AblateError(f"unknown recipe {recipe!r} for --recipe; choose one of {', '.join(ABLATE_RECIPES)}")
    params, lake = context(ctx, needs_lake=True)
    objectives = objective or params.ablate.objectives
    bad = [o for o in objectives if o not in ("plain", "t3s", "rrt")]
    if bad:
        raise stage.AblateError(f"unknown objective(s) {bad} for --objective; choose plain, t3s or rrt")
    for o in sorted(objectives, key=lambda o: o != "plain"):  # plain's folder holds the others
        r = stage.run_arm(params, lake, recipe, budget, seed, teacher, train=False if no_train else None,
                          objective=o)
        scores = ", ".join(f"{b} {m['avg_at_n']:.3f}" if m["avg_at_n"] is not None else f"{b} –"
                           for b, m in r["benchmarks"].items()) or "not trained"
        typer.echo(f"ablate {r['arm']}: {r['corpus']['rows']} rows from {r['corpus']['questions']} questions "
                   f"(teacher {', '.join(r['teachers_chosen'])}); {scores}; {r['seconds']['total']:.1f} s")


@ablate_app.command("aggregate")
def aggregate_cmd(ctx: typer.Context) -> None:
    """The ablations table, metrics/ablate.json and the SVG from every arm's result. Example: ded ablate aggregate"""
    from ded.commands.common import context
    from ded.stages import ablate as stage

    params, lake = context(ctx, needs_lake=True)
    _print(stage.aggregate(params, lake), params)


def _print(out: dict, params) -> None:
    from ded.commands.common import echo_table

    rows = [{k: a.get(k) for k in ("arm", "benchmark", "corpus_rows", "corpus_tokens", "avg_at_n", "ci_low", "ci_high",
                                   "sft_tokens_per_s", "wall_s")} for a in out["arms"]]
    echo_table(rows, title="ablations (ded sql \"select * from ablations\")")
    if out["comparisons"]:
        echo_table([{k: c.get(k) for k in ("recipe", "objective", "vs", "vs_objective", "budget", "benchmark", "diff",
                                            "ci_low", "ci_high", "items")}
                    | {"seeds": len(c["seeds"])} for c in out["comparisons"]],
                   title=f"paired differences ({int(params.ablate.ci_level * 100)}% bootstrap interval over items)")
    c = out["cost"]
    typer.echo(f"cost: {c['sft_runs']} SFT runs on {c['corpus_tokens']:,} corpus tokens: ~{c['sft_tokens_estimate']:,} "
               f"SFT tokens at {c['epochs']:g} epochs" + (f"; trained {c['sft_tokens_trained']:,} tokens in "
                                                          f"{c['sft_seconds']:g} s" if c.get("sft_tokens_trained") else ""))
    typer.echo(f"ablate: wrote {params.ablate.metrics}" + (f" and {out['svg']}" if out.get("svg") else "")
               + f"; {out['rows']} rows in lake table ablations")


def register(app: typer.Typer) -> None:
    app.add_typer(ablate_app, name="ablate")
