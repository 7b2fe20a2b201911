"""``shotcraft score``: how faithfully an output keeps its source's timing, audio, locks, keyframes,
motion and structure."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from shotcraft.cli.app import app, friendly, out


@app.command()
@friendly
def score(
    source: Path = typer.Argument(..., help="The source clip."),
    output: Path = typer.Argument(..., help="The transformed clip to score."),
    spec: Path | None = typer.Option(
        None, "--spec", help="The transform's spec (locks, keyframes); default: the output's take sidecar."
    ),
    sample: int = typer.Option(1, "--sample", min=1, help="Score every Nth frame pair for motion and edges."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fidelity scores: frame count, fps, duration, audio packets, lock exactness, keyframe hit,
    temporal consistency, structure and motion adherence."""
    from shotcraft.metrics import score_paths

    report = score_paths(source, output, spec, sample)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    table = Table(title=f"{output.name} against {source.name}")
    table.add_column("score")
    table.add_column("value", justify="right")
    table.add_column("detail")
    for name, value, detail in report.rows():
        table.add_row(name, value, detail)
    out.print(table)
    scored = f"{report.pairs_scored} frame pairs scored for motion (every {report.sample})"
    out.print(f"{report.frames_compared} frames compared; {scored}", highlight=False)
    for note in report.notes:
        out.print(f"note: {note}", highlight=False)
