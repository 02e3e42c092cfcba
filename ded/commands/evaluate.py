"""`ded evaluate`: n samples per benchmark item from a model, graded, to eval_samples and metrics/*.json."""

from __future__ import annotations

import typer


def evaluate(
    ctx: typer.Context,
    model: list[str] | None = typer.Option(None, "--model", "-m", help="Model name from `models` (repeatable); default evaluate.models, else the student."),
    benchmark: list[str] | None = typer.Option(None, "--benchmark", "-b", help="Benchmark name from `benchmarks` (repeatable); default evaluate.benchmarks, else all."),
    model_path: str | None = typer.Option(None, "--model-path", help="Evaluate these weights (hub id or path, e.g. models/student) under the first model's name."),
    n: int | None = typer.Option(None, "-n", help="Samples per item (overrides evaluate.n)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N items of each benchmark."),
    regrade: bool = typer.Option(False, "--regrade", help="Grade every sample again (e.g. after a verifier fix)."),
    import_file: str | None = typer.Option(None, "--import", help="Grade outputs made elsewhere: a JSONL of {item_id or problem, response[, sample_idx]} as samples of --model on --benchmark."),
) -> None:
    """Sample, grade (reasoning stripped; an unclosed <think> is no answer) and score with bootstrap intervals.

    Resumable: a rerun generates only missing samples. Example: ded evaluate -b aime24 -n 16
    """
    import json

    from ded.commands.common import context
    from ded.stages import evaluate as stage

    params, lake = context(ctx)
    updates = {k: v for k, v in {"n": n, "limit": limit, "model_path": model_path}.items() if v is not None}
    if updates:
        params.evaluate = params.evaluate.model_copy(update=updates)
    if import_file:
        if not model or not benchmark or len(benchmark) != 1:
            raise typer.BadParameter("--import needs --model NAME and exactly one --benchmark")
        with open(import_file, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        entry = stage.evaluate_responses(lake, params, benchmark[0], model[0], records, label=f"imported:{import_file}")
        _print({benchmark[0]: {model[0]: entry}}, params.evaluate.metrics_dir)
        return
    _print(stage.main(params, lake, models=model or None, benchmarks=benchmark or None, regrade=regrade),
           params.evaluate.metrics_dir)


def _print(results: dict, metrics_dir: str = "metrics") -> None:
    import math

    from ded.commands.common import echo_table

    rows = []
    for b, ms in results.items():
        for m, e in ms.items():
            s = e["metrics"]
            lo, hi = s["avg_at_n_ci"]
            ks = s.get("pass_at_k") or {}
            top = max(ks, key=int) if ks else None
            rows.append({"benchmark": b, "model": m, "items": s["items"], "n": s["samples_per_item"],
                         "avg@n": f"{s['avg_at_n']:.4f}",
                         f"{s['ci_level']:.0%} CI": f"[{lo:.3f}, {hi:.3f}]" if lo is not None and not math.isnan(lo) else "-",
                         "pass@k": f"pass@{top}={ks[top]:.3f}" if top else "-",
                         "undecided": s["undecided_samples"], "notes": "; ".join(e.get("notes") or [])})
    echo_table(rows, title=f"evaluation ({metrics_dir}/<benchmark>.json has the full record)")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
