"""``shotcraft advise``: which workflow fits the assets at hand and the goal, why, and settings to start from."""

from __future__ import annotations

from pathlib import Path

import typer

from shotcraft.cli.app import OVERWRITE_HELP, app, friendly, out


@app.command()
@friendly
def advise(
    goal: str = typer.Option(
        ..., "--goal", "-g", help="What you want, in plain words, e.g. 'relight it for night'."
    ),
    clip: Path | None = typer.Option(
        None, "--clip", metavar="FILE", help="The source clip, if there is one (probed, never changed)."
    ),
    image: list[Path] = typer.Option(
        None, "--image", metavar="FILE", help="A still to start a shot from (repeatable)."
    ),
    reference: list[Path] = typer.Option(
        None, "--reference", metavar="FILE", help="A style or character reference (repeatable)."
    ),
    product: list[Path] = typer.Option(
        None, "--product", metavar="FILE", help="A product photo (repeatable)."
    ),
    keyframe: list[Path] = typer.Option(
        None,
        "--keyframe",
        "-k",
        metavar="[TIME:]FILE",
        help="An edited still, optionally placed: 4.2s:key.png (repeatable).",
    ),
    prompt: str = typer.Option("", "--prompt", help="The prompt you have so far, if any."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    write_sequence: Path | None = typer.Option(
        None,
        "--write-sequence",
        metavar="FILE",
        help="Also write a sequence file for `shotcraft sequence run`.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Recommend invent, transform, or invent-then-transform for what you have and want, with reasons and
    suggested settings."""
    from shotcraft.advisor import Assets
    from shotcraft.advisor import advise as run_advise

    assets = Assets(
        clip=clip,
        images=image or [],
        references=reference or [],
        products=product or [],
        keyframes=keyframe or [],
        prompt=prompt,
    )
    advice = run_advise(assets, goal)
    if write_sequence is not None:
        from shotcraft.sequence import sequence_of_advice, write_text_file

        write_text_file(write_sequence, sequence_of_advice(advice, clip), overwrite=overwrite)
    if as_json:
        out.print_json(advice.model_dump_json())
    else:
        out.print(advice.to_text(), markup=False, highlight=False, soft_wrap=True)
