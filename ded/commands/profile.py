"""`ded profile [NAME]`: list the recipe profiles in pipelines/, or make one the active params.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer

PROFILE_DIR = Path("pipelines")


def profiles(directory: Path = PROFILE_DIR) -> dict[str, Path]:
    """Profile name → file: every pipelines/*.yaml that is a params file (has a `profile:` key)."""
    import yaml

    out = {}
    for p in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(p.read_text()) or {}
        if isinstance(data, dict) and "profile" in data:
            out[p.stem] = p
    return out


def describe(path: Path, min_chars: int = 40) -> str:
    """What a profile is, from its leading comment block: whole sentences (the first, plus the next
    while that is shorter than `min_chars`, so "LIMO (arXiv 2502.03387)." comes with what LIMO does),
    without the "Profile `NAME`:" label."""
    import re

    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(x for x in lines if x)
    label = re.match(r"Profile `[^`]+`\s*(\([^)]*\))?:?\s*", text)
    if label:
        text = ((label.group(1) + " ") if label.group(1) else "") + text[label.end():]
    out = ""
    # a sentence ends at . ! or ? before a capital, a backtick or the end ("Sec. 4.1" and "2^-rank" do not)
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z`])", text):
        out = f"{out} {sentence}".strip()
        if len(out) >= min_chars:
            break
    return out


def switch(name: str, target: Path = Path("params.yaml"), directory: Path = PROFILE_DIR) -> Path | None:
    """Copy pipelines/NAME.yaml over `target` after validating it; returns the backup made, if any.

    A `target` that matches no profile byte for byte (hand edits) is kept as `<target>.bak` first.
    """
    from ded.errors import DedError
    from ded.params import load_params

    found = profiles(directory)
    if name not in found:
        raise DedError(f"no profile {name!r} in {directory}/ (have: {', '.join(found) or 'none'})")
    load_params(found[name])  # a broken profile fails here, before params.yaml is touched
    backup = None
    if target.exists() and all(target.read_bytes() != p.read_bytes() for p in found.values()):
        backup = target.with_name(target.name + ".bak")
        shutil.copyfile(target, backup)
    shutil.copyfile(found[name], target)
    return backup


def profile(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, help="Profile to activate (demo, ded-paper, limo, s1k, ...); omit to list them."),
) -> None:
    """Switch params.yaml to a recipe profile from pipelines/ (then `dvc repro` reruns what changed).

    Example: ded profile ded-paper && dvc repro
    """
    target = Path(ctx.find_root().obj.params_path)
    if name is None:
        found = profiles()
        if not found:  # run outside the project: say so instead of listing nothing
            from ded.errors import DedError

            raise DedError(f"no profiles in {PROFILE_DIR.resolve()}/ (pipelines/*.yaml with a `profile:` key); "
                           f"run `ded profile` from the project root")
        import textwrap

        current = target.read_bytes() if target.exists() else None
        width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
        pad = max(len(n) for n in found) + 4
        for n, p in found.items():
            mark = "*" if current == p.read_bytes() else " "
            head = f"{mark} {n:<{pad - 3}} "
            typer.echo(textwrap.fill(describe(p), width=width, initial_indent=head, subsequent_indent=" " * pad,
                                     break_on_hyphens=False, break_long_words=False))
        typer.echo("(* the active params.yaml)" if current in {p.read_bytes() for p in found.values()}
                   else f"({target} matches no profile: edited by hand, or absent)")
        return
    backup = switch(name, target)
    if backup:
        typer.echo(f"kept your edited {target} as {backup}")
    typer.echo(f"{target} is now profile {name} (from {PROFILE_DIR / (name + '.yaml')}); run `dvc repro`")


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
