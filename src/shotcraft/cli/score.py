"""``shotcraft score``: how faithfully an output keeps its source's timing, audio, locks, keyframes,
motion and structure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shotcraft.cli.app import app, friendly, out

if TYPE_CHECKING:
    from shotcraft.look_metrics import LookReport


@app.command()
@friendly
def score(
    source: Path = typer.Argument(..., help="The source clip."),
    output: Path = typer.Argument(..., help="The transformed clip to score."),
    spec: Path | None = typer.Option(
        None, "--spec", help="The transform's spec (locks, keyframes); default: the output's take sidecar."
    ),
    sample: int = typer.Option(1, "--sample", min=1, help="Score every Nth frame pair for motion and edges."),
    look_reference: Path | None = typer.Option(
        None,
        "--look-reference",
        help="What the look should be on every frame (a folder of frames or a clip): adds look fidelity, "
        "style retention and flicker.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fidelity scores: frame count, fps, duration, audio packets, lock exactness, keyframe hit,
    temporal consistency, structure and motion adherence; with --look-reference, look fidelity, style
    retention and flicker on every frame."""
    from shotcraft.metrics import score_paths

    report = score_paths(source, output, spec, sample)
    look = None
    if look_reference is not None:
        from shotcraft.look_metrics import look_scores

        look = look_scores(source, output, look_reference, sample=sample)
    if as_json:
        out.print_json(json.dumps(report.to_dict() | ({"look": look.to_dict()} if look else {})))
        return
    table = Table(title=f"{output.name} against {source.name}")
    table.add_column("score")
    table.add_column("value", justify="right")
    table.add_column("detail")
    for name, value, detail in report.rows():
        table.add_row(name, value, detail)
    out.print(table)
    scored = f"{report.pairs_scored} frame pairs scored for motion (every {report.sample})"
    if report.cut_pairs:
        scored += f", {report.cut_pairs} across a cut left out"
    out.print(f"{report.frames_compared} frames compared; {scored}", highlight=False)
    for note in report.notes:
        out.print(f"note: {note}", highlight=False)
    if look is not None:
        out.print(_look_table(look, look_reference))


def _look_table(look: LookReport, reference: Path) -> Table:
    """The look scores against the reference look, one row each."""
    s = look.summary()
    table = Table(title=f"look against {reference.name} ({s['frames']} frames)")
    table.add_column("score")
    table.add_column("value", justify="right")
    table.add_column("detail")
    table.add_row(
        "look fidelity",
        f"{s['psnr_mean']} dB",
        f"PSNR mean; worst {s['psnr_min']} dB at frame {s['psnr_worst_frame']}",
    )
    table.add_row("look SSIM", f"{s['ssim_mean']}", "mean over frames")
    table.add_row(
        "style retention",
        f"{s['retention_median']}",
        f"detail kept, median; min {s['retention_min']} (frame {s['retention_min_frame']}), "
        f"max {s['retention_max']} (frame {s['retention_max_frame']})",
    )
    table.add_row(
        "flicker",
        f"{s['flicker_vs_reference']}",
        f"vs the reference's; {s['flicker_vs_source']} vs the source's",
    )
    return table
