"""``shotcraft localize``: market versions of one clip in one command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shotcraft.cli.app import EXIT_BAD_INPUT, OVERWRITE_HELP, app, console, friendly, out, progress_bar


def subtitle_options(items: list[str] | None) -> dict[str, Path]:
    """``--subtitles MARKET=FILE`` values as a market → file mapping."""
    from shotcraft.spec import SpecError

    files: dict[str, Path] = {}
    for item in items or []:
        market, eq, file = item.partition("=")
        if not eq or not file:
            raise SpecError(f"--subtitles {item!r} should look like 'de=subs_de.srt'")
        files[market.strip()] = Path(file)
    return files


@app.command()
@friendly
def localize(
    source: Path = typer.Argument(..., help="The source clip (never modified)."),
    markets: str = typer.Option(..., "--markets", "-m", help="Comma-separated markets, e.g. de,fr,ja."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the market versions."),
    table: Path | None = typer.Option(
        None, "--table", "-t", help="Translation table: CSV (source,de,fr,...) or JSON."
    ),
    replace: list[str] = typer.Option(
        None, "--replace", help="MARKET:SOURCE=TEXT, an explicit replacement (wins over the table)."
    ),
    subtitles: list[str] = typer.Option(None, "--subtitles", "-s", help="MARKET=FILE.srt|vtt, per market."),
    burn: bool = typer.Option(False, "--burn-subtitles", help="Burn the subtitles into the picture."),
    soft: bool = typer.Option(True, "--soft-subtitles/--no-soft-subtitles", help="Add them as a soft track."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Replace on-screen text per market (OCR, tracking, removal, re-typesetting) and add subtitles.
    Each market version keeps the source's frame count, fps, duration and audio; a market that cannot
    be made is reported while the others are still made (exit code 2 if any failed)."""
    from shotcraft.markets import localize as run_localize
    from shotcraft.spec import SpecError

    replacements: dict[str, dict[str, str]] = {}
    for item in replace or []:
        market, sep, rest = item.partition(":")
        src, eq, text = rest.partition("=")
        if not sep or not eq or not src:
            raise SpecError(f"--replace {item!r} should look like 'de:SUMMER SALE=SOMMERSCHLUSSVERKAUF'")
        replacements.setdefault(src, {})[market.strip()] = text
    subtitle_files = subtitle_options(subtitles)
    with progress_bar(quiet) as progress:
        results = run_localize(
            source,
            output,
            [m for m in markets.split(",") if m.strip()],
            table=table,
            replacements=replacements,
            subtitles=subtitle_files,
            burn_subtitles=burn,
            soft_subtitles=soft,
            progress=progress,
            overwrite=overwrite,
        )
    summary = Table(title=f"{source.name}: {len(results)} markets")
    for column in ("market", "output", "frames", "seconds"):
        summary.add_column(column)
    failed = False
    for result in results:
        if result.take is None:
            failed = True
            summary.add_row(result.market, "[red]not made[/red]", "", "")
            for problem in result.problems:
                console.print(
                    f"[red]error:[/red] {result.market}: {problem}", highlight=False, soft_wrap=True
                )
            continue
        take = result.take
        summary.add_row(result.market, str(take.path), str(take.frame_count), f"{take.seconds:.1f}")
        for notice in take.notices:
            console.print(
                f"[yellow]note:[/yellow] {result.market}: {notice}", highlight=False, soft_wrap=True
            )
    out.print(summary)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)
