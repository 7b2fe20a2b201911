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


def _transform_spec(spec_file: Path | None, flags: dict[str, Any]) -> Any:
    """Merge a spec file with the flags given on the command line (flags win)."""
    from shotcraft.spec import (
        GradedKeyframe,
        Keyframe,
        TransformSpec,
        load_spec,
        parse_lock,
        validate_spec,
    )

    data: dict[str, Any] = load_spec(spec_file, TransformSpec).model_dump() if spec_file else {}
    if flags["prompt"] is not None:
        data["prompt"] = flags["prompt"]
    for key in ("strength", "engine", "model", "seed"):
        if flags[key] is not None:
            data[key] = flags[key]
    for key, name in (("motion", "motion_adherence"), ("structure", "structure_adherence")):
        if flags[key] is not None:
            value = flags[key]
            data[name] = "off" if value.lower() == "off" else _int(value, f"--{key}")
    if flags["keyframe"]:
        data["keyframes"] = [k.model_dump() for k in map(Keyframe.parse, flags["keyframe"])]
    if flags["lock"]:
        data["locks"] = [*data.get("locks", []), *(parse_lock(t).model_dump() for t in flags["lock"])]
    if flags["reference"]:
        data["references"] = [{"image": Path(p), "role": "style"} for p in flags["reference"]]
    if flags["reframe"]:
        data["reframe"] = {"aspect": flags["reframe"]}
    operations = list(data.get("operations", []))
    if flags["restyle"] or flags["look"] or flags["style_reference"]:
        operations.append({"op": "restyle", "look": flags["look"], "reference": flags["style_reference"]})
    relight_keys = [GradedKeyframe.parse(t).model_dump() for t in flags["relight_keyframe"] or []]
    relight_values = {
        k: flags[k]
        for k in ("exposure", "temperature", "tint", "contrast", "saturation")
        if flags[k] is not None
    }
    if flags["relight"] or relight_keys or relight_values:
        preset = flags["relight"] if flags["relight"] not in (None, "custom") else None
        operations.append({"op": "relight", "preset": preset, "keyframes": relight_keys, **relight_values})
    data["operations"] = operations
    output = dict(data.get("output", {}))
    for flag, name in (("format", "format"), ("crf", "crf"), ("encoder_preset", "preset")):
        if flags[flag] is not None:
            output[name] = flags[flag]
    if flags["lossless"]:
        output["lossless"] = True
    data["output"] = output
    return validate_spec(data, TransformSpec)


def _int(text: str, flag: str) -> int:
    from shotcraft.spec import SpecError

    try:
        return int(text)
    except ValueError:
        raise SpecError(f"{flag} takes 'off' or a number from 1 to 9, not {text!r}") from None


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
        help="rect:X,Y,W,H | polygon:x,y,... | mask:FILE | track:FILE | people | faces; @F feathers.",
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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Transform a clip: same frames, fps, duration and audio, a new look. With no operation it is a
    faithful re-encode (the identity transform)."""
    from shotcraft.pipeline import transform as run_transform

    flags = dict(locals())
    spec_obj = _transform_spec(spec, flags)
    with progress_bar(quiet) as progress:
        options = {"weights": weights, "steps": steps, "vram_gb": vram, "device": device}
        result = run_transform(
            source,
            output,
            spec_obj,
            progress=progress,
            engine_options={k: v for k, v in options.items() if v is not None},
            overwrite=overwrite,
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
