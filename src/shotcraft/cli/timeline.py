"""``shotcraft conform``: apply one transform (or market versions) to every clip an edit uses."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import typer

from shotcraft.cli.app import OVERWRITE_HELP, app, console, friendly, out, progress_bar
from shotcraft.cli.localize import subtitle_options
from shotcraft.cli.media import _relight_op, _restyle_op, _transform_spec


@app.command()
@friendly
def conform(
    timeline: Path = typer.Argument(..., help="The edit: .otio, .fcpxml, .xml (FCP 7) or .edl."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the new media and timeline(s)."),
    spec: Path | None = typer.Option(None, "--spec", help="A YAML/JSON TransformSpec; flags add to it."),
    relight: str | None = typer.Option(
        None, "--relight", help="golden-hour, blue-hour, night, overcast or noon."
    ),
    look: str | None = typer.Option(
        None, "--look", help="Built-in look: watercolour, pencil, cartoon, film_print."
    ),
    markets: str | None = typer.Option(
        None, "--markets", "-m", help="Market versions, e.g. de,fr: one timeline each."
    ),
    table: Path | None = typer.Option(None, "--table", "-t", help="Translation table for --markets."),
    subtitles: list[str] = typer.Option(None, "--subtitles", "-s", help="MARKET=FILE.srt|vtt, per market."),
    handles: int = typer.Option(12, "--handles", help="Frames kept before and after each used range."),
    rate: str | None = typer.Option(None, "--rate", help="The frame rate of an EDL (e.g. 30000/1001)."),
    lossless: bool = typer.Option(False, "--lossless", help="Lossless media (exact pixels, large files)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Transform every clip a timeline uses, over the frames it uses plus handles, and write a timeline that
    points at the new media with the same cut points; with --markets, one timeline per market."""
    from shotcraft.spec import SpecError
    from shotcraft.timeline import conform as run_conform

    operations = [*_restyle_op(False, look, None), *_relight_op(relight, None, {})]
    transform = (
        _transform_spec(spec, {}, [], operations, {"lossless": True if lossless else None})
        if spec or operations
        else None
    )
    try:
        fps = Fraction(rate) if rate else None
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"--rate {rate!r} is not a frame rate such as 25 or 30000/1001") from None
    with progress_bar(quiet) as progress:
        result = run_conform(
            timeline, output, transform, markets=[m.strip() for m in markets.split(",") if m.strip()] if markets else None,
            table=table, subtitles=subtitle_options(subtitles), handles=handles, rate=fps, progress=progress, overwrite=overwrite,
        )  # fmt: skip
    for notice in result.notices:
        console.print(f"[yellow]note:[/yellow] {notice}", highlight=False, soft_wrap=True)
    for path in result.timelines:
        out.print(f"wrote {path}")
    out.print(f"{len(result.media)} conformed media files in {output}")
