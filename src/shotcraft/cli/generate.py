"""``shotcraft generate``: invent takes with an open video model (prompt, image, first+last frame,
references; N takes; draft then final; extend; loop)."""

from __future__ import annotations

from pathlib import Path

import typer

from shotcraft.cli.app import OVERWRITE_HELP, app, console, friendly, out, progress_bar


@app.command()
@friendly
def generate(
    output: Path = typer.Option(
        ..., "-o", "--output", help="Output file (.mp4/.mov); several takes get _take2 ..."
    ),
    prompt: str = typer.Option("", help="What the shot shows."),
    negative_prompt: str = typer.Option("", "--negative-prompt", help="What it must not show."),
    image: Path | None = typer.Option(None, "--image", help="First frame."),
    end_image: Path | None = typer.Option(None, "--end-image", help="Last frame (with --image)."),
    reference: list[Path] = typer.Option(
        None, "--reference", help="Reference image(s): product, character, style."
    ),
    takes: int = typer.Option(1, "--takes", "-n", help="How many takes (seeds S, S+1, ...)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the first take."),
    final: bool = typer.Option(False, "--final/--draft", help="Final quality (default: a fast draft)."),
    from_take: Path | None = typer.Option(
        None, "--from-take", help="With --final: refine this draft take at full size and steps."
    ),
    extend: Path | None = typer.Option(None, "--extend", help="Extend this take."),
    backwards: bool = typer.Option(
        False, "--backwards", help="With --extend: extend before its first frame."
    ),
    extend_seconds: float = typer.Option(2.0, "--seconds", help="With --extend: seconds to add."),
    loop: bool = typer.Option(False, "--loop", help="Make a seamless loop."),
    duration: float | None = typer.Option(None, help="Seconds."),
    fps: float | None = typer.Option(None, help="Output frame rate (default: the model's)."),
    aspect: str | None = typer.Option(None, help="Aspect ratio, e.g. 16:9."),
    width: int | None = typer.Option(None, help="Width in pixels (rounded to the model's grid)."),
    height: int | None = typer.Option(None, help="Height in pixels (rounded to the model's grid)."),
    steps: int | None = typer.Option(None, help="Denoising steps (default: the model's)."),
    model: str | None = typer.Option(None, "--model", help="Model name (see `shotcraft models list`)."),
    weights: Path | None = typer.Option(None, "--weights", help="Weights folder for the model."),
    vram: float | None = typer.Option(
        None, "--vram", help="GPU memory to plan for, GiB (default: detected)."
    ),
    device: str | None = typer.Option(None, "--device", help="cuda or cpu (default: cuda when present)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Invent new takes. Without weights this says exactly which files are missing and where it looked."""
    from shotcraft.invent import final_of
    from shotcraft.invent import generate as run_generate
    from shotcraft.spec import GenerateSpec, SpecError, validate_spec

    lineage = None
    first_seed = seed
    if from_take is not None:
        if not final:
            raise SpecError("--from-take re-renders a draft at final quality: add --final")
        from shotcraft.media.output_path import check_output, sidecar_of

        # The draft (and its record) is an input too: the final take never lands on it.
        check_output(output, inputs=[from_take, sidecar_of(from_take)], overwrite=overwrite)
        spec, first_seed = final_of(from_take)
        lineage = {"final_of": str(from_take)}
    else:
        data: dict = {"prompt": prompt, "negative_prompt": negative_prompt, "takes": takes, "loop": loop,
                      "quality": "final" if final else "draft"}  # fmt: skip
        optional = {"image": image, "end_image": end_image, "seed": seed, "duration": duration, "fps": fps,
                    "aspect": aspect, "width": width, "height": height, "steps": steps, "model": model}  # fmt: skip
        data.update({k: v for k, v in optional.items() if v is not None})
        if reference:
            data["references"] = [{"image": p} for p in reference]
        if extend is not None:
            data["extend"] = {"take": extend, "direction": "backwards" if backwards else "forwards",
                              "seconds": extend_seconds}  # fmt: skip
        spec = validate_spec(data, GenerateSpec)
    with progress_bar(quiet) as progress:
        results = run_generate(
            spec, output, weights=weights, progress=progress, seed=first_seed, lineage=lineage,
            steps=steps or spec.steps, vram_gb=vram, device=device, overwrite=overwrite, refine=from_take,
        )  # fmt: skip
    for take in results:
        for notice in take.notices:
            console.print(f"[yellow]note:[/yellow] {notice}", highlight=False, soft_wrap=True)
        out.print(f"wrote {take.path} ({take.frame_count} frames at {take.fps} fps, seed {take.seed})")
