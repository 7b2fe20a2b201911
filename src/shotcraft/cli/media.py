"""``shotcraft probe``, ``transform`` and ``demo``: the commands around one clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from shotcraft.cli.app import OVERWRITE_HELP, app, console, friendly, out, progress_bar


@app.command()
@friendly
def probe(
    path: Path = typer.Argument(..., help="A video (or audio) file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a clip's exact fps, frame count, duration, rotation, colour tags and streams."""
    from shotcraft.media.probe import probe as probe_file

    info = probe_file(path)
    if as_json:
        out.print_json(json.dumps(info.to_dict()))
        return
    table = Table(title=str(path), show_header=False)
    table.add_row("container", info.container)
    table.add_row("duration", f"{float(info.duration):.3f} s ({info.duration})")
    if info.video:
        v = info.video
        table.add_row("video", f"{v.codec} {v.width}x{v.height} {v.pix_fmt} ({v.bit_depth}-bit)")
        rate = f"{v.fps} ({float(v.fps):.3f} fps)" + ("  variable frame rate" if v.vfr else "")
        table.add_row("frame rate", rate)
        table.add_row("frames", str(v.frame_count))
        if v.rotation:
            table.add_row("rotation", f"{v.rotation}°")
    for a in info.audio:
        table.add_row(
            f"audio #{a.index}",
            f"{a.codec} {a.channels} ch ({a.layout}) {a.sample_rate} Hz {a.language or ''}",
        )
    for s in info.subtitles:
        table.add_row(f"subtitles #{s.index}", f"{s.codec} {s.language or ''}")
    out.print(table)


def _transform_spec(
    spec_file: Path | None,
    settings: dict[str, Any],
    locks: list[str],
    operations: list[dict[str, Any]],
    output: dict[str, Any],
) -> Any:
    """Merge a spec file with the flags given on the command line (flags win).

    ``settings`` replace the spec file's values of the same name, ``locks`` and ``operations`` are added to
    its own, ``output`` updates its output settings; a value of ``None`` (a flag not given) changes nothing.
    Every value is validated once, by the spec's own types.
    """
    from shotcraft.spec import TransformSpec, load_spec, parse_lock, validate_spec

    data: dict[str, Any] = load_spec(spec_file, TransformSpec).model_dump() if spec_file else {}
    data.update({name: value for name, value in settings.items() if value is not None})
    if locks:
        data["locks"] = [*data.get("locks", []), *(parse_lock(t).model_dump() for t in locks)]
    data["operations"] = [*data.get("operations", []), *operations]
    given = {name: value for name, value in output.items() if value is not None}
    data["output"] = {**data.get("output", {}), **given}
    return validate_spec(data, TransformSpec)


def _keyframes(texts: list[str] | None) -> list[dict[str, Any]] | None:
    """``--keyframe`` values as the spec's keyframes; ``None`` when none was given."""
    from shotcraft.spec import Keyframe

    return [Keyframe.parse(t).model_dump() for t in texts] if texts else None


def _restyle_op(restyle: bool, look: str | None, reference: Path | None) -> list[dict[str, Any]]:
    """The restyle operation asked for by ``--restyle``, ``--look`` or ``--style-reference``, if any."""
    if not (restyle or look or reference):
        return []
    return [{"op": "restyle", "look": look, "reference": reference}]


def _relight_op(
    preset: str | None, keyframes: list[str] | None, grade: dict[str, Any]
) -> list[dict[str, Any]]:
    """The relight operation asked for by ``--relight``, ``--relight-keyframe`` or a grade flag, if any."""
    from shotcraft.spec import GradedKeyframe

    keys = [GradedKeyframe.parse(t).model_dump() for t in keyframes or []]
    values = {name: value for name, value in grade.items() if value is not None}
    if not (preset or keys or values):
        return []
    preset = preset if preset != "custom" else None
    return [{"op": "relight", "preset": preset, "keyframes": keys, **values}]


def _swap_ops(
    corners: list[str] | None, tracks: list[str] | None, occluders: str, match_lighting: bool
) -> list[dict[str, Any]]:
    """The swap operations asked for by ``--swap`` and ``--swap-track``, with the shared swap options."""
    from shotcraft.spec import SwapOp

    options: dict[str, Any] = {"occluders": occluders, "match_lighting": match_lighting}
    ops = [SwapOp.parse(t, **options) for t in corners or []]
    ops += [SwapOp.parse_track(t, **options) for t in tracks or []]
    return [op.model_dump() for op in ops]


@app.command()
@friendly
def transform(
    source: Path = typer.Argument(..., help="The source clip (never modified)."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Output file (.mp4/.mov/.mkv) or folder for PNG frames."
    ),
    spec: Path | None = typer.Option(None, "--spec", help="A YAML/JSON TransformSpec; flags override it."),
    prompt: str | None = typer.Option(None, help="The end state, e.g. 'a rainy night street'."),
    strength: str | None = typer.Option(None, help="adhere_1..3, flex_1..3, reimagine_1..3 or auto."),
    keyframe: list[str] = typer.Option(
        None, "--keyframe", "-k", help="TIME:IMAGE, e.g. 4.2s:key.png, 50%:key.png, f12:key.png."
    ),
    motion: str | None = typer.Option(None, "--motion", help="Motion adherence: off or 1-9."),
    structure: str | None = typer.Option(None, "--structure", help="Structure adherence: off or 1-9."),
    lock: list[str] = typer.Option(
        None,
        "--lock",
        help="rect:X,Y,W,H | polygon:x,y,... | mask:FILE | track:FILE | people[:min-size=F] | faces[:min-size=F]"
        " (F: fraction of the frame height); @F feathers.",
    ),
    reference: list[str] = typer.Option(None, "--reference", help="Reference image(s) to bring in."),
    reframe: str | None = typer.Option(None, help="New aspect ratio, e.g. 9:16 (outpaints)."),
    restyle: bool = typer.Option(False, "--restyle", help="Restyle by the keyframes given."),
    look: str | None = typer.Option(
        None, "--look", help="Built-in look: watercolour, pencil, cartoon, film_print."
    ),
    style_reference: Path | None = typer.Option(
        None, "--style-reference", help="Take the look of this still."
    ),
    relight: str | None = typer.Option(
        None, "--relight", help="golden-hour, blue-hour, night, overcast, noon or custom."
    ),
    relight_keyframe: list[str] = typer.Option(
        None, "--relight-keyframe", help="TIME:GRADED.png, a frame graded elsewhere."
    ),
    swap: list[str] = typer.Option(
        None,
        "--swap",
        help="Product swap: x1,y1;x2,y2;x3,y3;x4,y4@TIME:IMAGE, four corners clockwise from top-left as a "
        "player shows the frame, given on frame TIME (2.5s, 50%, f12; f0 if left out).",
    ),
    swap_track: list[str] = typer.Option(
        None, "--swap-track", help="Product swap on a track file: TRACK.json:IMAGE (see `shotcraft track`)."
    ),
    swap_occluders: str = typer.Option(
        "none",
        "--swap-occluders",
        help="What stays in front of swapped regions: none, people or a mask file.",
    ),
    swap_lighting: bool = typer.Option(
        True,
        "--swap-lighting/--no-swap-lighting",
        help="Match the swapped image to the shot's light, blur, grain.",
    ),
    exposure: float | None = typer.Option(None, help="Relight exposure in stops."),
    temperature: float | None = typer.Option(None, help="Relight white balance, -100 cool .. 100 warm."),
    tint: float | None = typer.Option(None, help="Relight tint, -100 green .. 100 magenta."),
    contrast: float | None = typer.Option(None, help="Relight contrast, -1 .. 1."),
    saturation: float | None = typer.Option(None, help="Relight saturation, -1 .. 1."),
    engine: str | None = typer.Option(None, help="auto, classic or diffusion."),
    model: str | None = typer.Option(None, help="Diffusion model name (see `shotcraft models list`)."),
    seed: int | None = typer.Option(None, help="Random seed, for takes that can be reproduced."),
    weights: Path | None = typer.Option(None, "--weights", help="Diffusion: the model's weights folder."),
    steps: int | None = typer.Option(
        None, "--steps", help="Diffusion: denoising steps (default: the model's)."
    ),
    vram: float | None = typer.Option(None, "--vram", help="Diffusion: GPU memory to plan for, in GB."),
    device: str | None = typer.Option(None, "--device", help="Diffusion: cuda, cuda:1, mps or cpu."),
    format: str | None = typer.Option(
        None, "--format", help="mp4_h264, mp4_h265, mov_prores or png_sequence."
    ),
    lossless: bool = typer.Option(False, "--lossless", help="Lossless output (exact pixels, large files)."),
    crf: int | None = typer.Option(None, help="Quality for lossy H.264/H.265 (lower is better)."),
    encoder_preset: str | None = typer.Option(None, "--encoder-preset", help="x264/x265 speed preset."),
    segment_seconds: float | None = typer.Option(
        None,
        "--segment-seconds",
        help="Encode in segments of about this length (default 2); --parallel splits on them.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
    parallel: int = typer.Option(
        1,
        "--parallel",
        min=1,
        help="Split the clip into N parts rendered by N local processes (same frames).",
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Render on a Ray cluster, auto (local) or its ADDRESS: the parts as tasks, a diffusion clip's "
        "windows on actors that keep the model loaded (one per GPU).",
    ),
) -> None:
    """Transform a clip: same frames, fps, duration and audio, a new look. With no operation it is a
    faithful re-encode (the identity transform)."""
    from shotcraft.engines.base import EngineOptions
    from shotcraft.pipeline import transform as run_transform

    spec_obj = _transform_spec(
        spec,
        settings={
            "prompt": prompt,
            "strength": strength,
            "keyframes": _keyframes(keyframe),
            "motion_adherence": motion,
            "structure_adherence": structure,
            "references": [{"image": Path(p), "role": "style"} for p in reference] if reference else None,
            "reframe": {"aspect": reframe} if reframe else None,
            "engine": engine,
            "model": model,
            "seed": seed,
        },
        locks=lock,
        operations=[
            *_restyle_op(restyle, look, style_reference),
            *_relight_op(
                relight,
                relight_keyframe,
                {
                    "exposure": exposure,
                    "temperature": temperature,
                    "tint": tint,
                    "contrast": contrast,
                    "saturation": saturation,
                },
            ),
            *_swap_ops(swap, swap_track, swap_occluders, swap_lighting),
        ],
        output={
            "format": format,
            "lossless": True if lossless else None,
            "crf": crf,
            "preset": encoder_preset,
            "segment_seconds": segment_seconds,
        },
    )
    executor = None
    if ray is not None:
        from shotcraft.executors import RayExecutor

        executor = RayExecutor(ray)
        parallel = parallel if parallel > 1 else executor.cpus()
    with progress_bar(quiet) as progress:
        result = run_transform(
            source,
            output,
            spec_obj,
            progress=progress,
            engine_options=EngineOptions(weights=weights, steps=steps, vram_gb=vram, device=device),
            overwrite=overwrite,
            parts=parallel,
            executor=executor,
        )
    for notice in result.notices:
        console.print(f"[yellow]note:[/yellow] {notice}", highlight=False, soft_wrap=True)
    out.print(
        f"wrote {result.path} ({result.frame_count} frames, engine {result.engine}, {result.seconds:.1f} s)"
    )


@app.command()
@friendly
def demo(
    output: Path = typer.Option(Path("demo-output"), "-o", "--output", help="Folder for the demo's outputs."),
) -> None:
    """Run the main jobs on bundled real footage, with no GPU and no weights, and say where the outputs are."""
    from shotcraft.demo import run_demo

    with progress_bar() as progress:
        results = run_demo(output, progress)
    table = Table(title="shotcraft demo", show_header=True)
    table.add_column("job")
    table.add_column("output", overflow="fold")
    table.add_column("frames", justify="right")
    for name, result in results:
        table.add_row(name, str(result.path), str(result.frame_count))
    out.print(table)
    out.print(
        f"Open the files in {output.resolve()} with any player; each has a .json sidecar saying how it was made."
    )
