"""``shotcraft track``: follow a planar region through a clip and write the track file (JSON) to inspect,
correct and re-run.

Coordinates are on the frame as a player shows it (after the clip's rotation tag), in the options and in
the track file alike, so corners read off a displayed frame can be typed in or corrected directly.
"""

from __future__ import annotations

from pathlib import Path

import typer

from shotcraft.cli.app import OVERWRITE_HELP, app, console, friendly, progress_bar


@app.command()
@friendly
def track(
    clip: Path = typer.Argument(..., help="The clip to track in."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the track file (.json)."),
    box: str | None = typer.Option(
        None, "--box", help="The region as X,Y,W,H on the reference frame, as a player shows it."
    ),
    corners: str | None = typer.Option(
        None,
        "--corners",
        help="The region's four corners x1,y1,...,x4,y4, clockwise from top-left, as a player shows the frame.",
    ),
    at: str = typer.Option("0", "--at", help="Reference frame: f12 / 12 (frame), 4.2s or 50%."),
    corrections: Path | None = typer.Option(
        None,
        "--corrections",
        help='A track file whose frames marked "status": "corrected" are fixed; re-track from them.',
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Track a box or a four-corner planar region (label, screen, poster) forwards and backwards through
    the whole clip. Frames where the region is hidden or outside the picture are reported, not guessed.
    Coordinates, given and written, are on the frame as a player shows it (after the rotation tag)."""
    from shotcraft.media.output_path import check_output
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import resolve_time
    from shotcraft.signals.track import (
        corners_from_box,
        load_track,
        parse_corners,
        retrack,
        storage_corners,
        track_region,
    )
    from shotcraft.spec import SpecError, parse_time_point

    rules = {"source": clip, "inputs": [corrections], "overwrite": overwrite, "sidecar": False}
    check_output(output, **rules)
    reader = VideoReader(clip)
    given = sum(v is not None for v in (box, corners, corrections))
    if given != 1:
        raise SpecError(
            "give exactly one of --box X,Y,W,H, --corners x1,y1,...,x4,y4 or --corrections TRACK.json"
        )
    with progress_bar(quiet) as progress:
        if corrections is not None:
            result = retrack(reader, load_track(corrections, reader.video), progress=progress)
        else:
            if box is not None:
                try:
                    x, y, w, h = (float(v) for v in box.split(","))
                except ValueError:
                    raise SpecError(f"--box {box!r} should be four numbers X,Y,W,H") from None
                quad = corners_from_box(x, y, w, h)
            else:
                assert corners is not None
                quad = parse_corners(corners)
            start = resolve_time(parse_time_point(at), reader.video, "--at")
            result = track_region(reader, storage_corners(quad, reader.video), start, progress=progress)
    check_output(output, **rules)  # again: the folder may have changed while tracking
    result.save(output)
    counts: dict[str, int] = {}
    for frame in result.frames:
        counts[frame.status] = counts.get(frame.status, 0) + 1
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items())
    console.print(f"wrote {output} ({result.frame_count} frames: {summary})", highlight=False)
    for first, last, status in result.lost_runs():
        where = f"frame {first}" if first == last else f"frames {first}-{last}"
        console.print(f"  {where}: {status.replace('_', ' ')}", highlight=False)
