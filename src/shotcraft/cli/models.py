"""``shotcraft models list | pull NAME | verify DIR``: the diffusion models and their weights."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from shotcraft.cli.app import app, console, friendly, out

models_app = typer.Typer(help="Diffusion models: list them, fetch their weights, check a weights folder.")
app.add_typer(models_app, name="models")


@models_app.command("list")
@friendly
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show every model: pipeline, fps, frame grid, resolutions, GPU memory, and whether weights are here."""
    from shotcraft.engines.diffusion.registry import MODELS
    from shotcraft.engines.diffusion.weights import locate
    from shotcraft.errors import EngineUnavailable

    def weights_of(card) -> str | None:
        try:
            return str(locate(card))
        except EngineUnavailable:
            return None

    if as_json:
        rows = [
            {"name": c.name, "pipeline": c.pipeline, "repo_id": c.repo_id, "fps": str(c.fps),
             "frame_grid": c.frame_grid, "window_frames": c.window_frames, "resolutions": c.resolutions,
             "vram_gb": c.vram_gb, "tasks": sorted(c.tasks), "weights": weights_of(c)}
            for c in MODELS.values()
        ]  # fmt: skip
        out.print_json(json.dumps(rows))
        return
    table = Table(title="diffusion models")
    for column in ("name", "pipeline", "fps", "frames", "resolutions", "GPU GB", "tasks", "weights"):
        table.add_column(column)
    for card in MODELS.values():
        table.add_row(
            card.name, card.pipeline, str(card.fps), f"{card.frame_grid}k+1 (≤{card.window_frames})",
            " ".join(f"{w}x{h}" for w, h in card.resolutions[:2]), f"{card.vram_gb:g}",
            ",".join(sorted(card.tasks)), weights_of(card) or "-",
        )  # fmt: skip
    out.print(table)


@models_app.command("pull")
@friendly
def pull_model(
    name: str = typer.Argument(..., help="A model name from `shotcraft models list`."),
    dest: Path | None = typer.Option(
        None, "--to", help="Download into this folder instead of the hub cache."
    ),
) -> None:
    """Download a model's weights with huggingface_hub (needs internet)."""
    from shotcraft.engines.diffusion.registry import get_model
    from shotcraft.engines.diffusion.weights import pull

    card = get_model(name)
    console.print(f"downloading {card.repo_id} …", highlight=False)
    out.print(f"{card.name}: weights in {pull(card, dest)}")


@models_app.command("verify")
@friendly
def verify_model(
    folder: Path = typer.Argument(..., help="A diffusers weights folder."),
    name: str | None = typer.Option(None, "--model", help="Also check it holds this model's transformer."),
) -> None:
    """Check that a weights folder is complete (and, with --model, that it is that model)."""
    from shotcraft.engines.diffusion.registry import get_model
    from shotcraft.engines.diffusion.weights import missing_parts
    from shotcraft.errors import EngineUnavailable

    missing = missing_parts(folder)
    if missing:
        raise EngineUnavailable(f"{folder} is incomplete: missing {', '.join(missing)}")
    if name is not None:
        card = get_model(name)
        config = folder / "transformer" / "config.json"
        found = json.loads(config.read_text(encoding="utf-8")).get("_class_name")
        if found != card.transformer_class:
            raise EngineUnavailable(f"{folder} holds a {found}, not {card.name}'s {card.transformer_class}")
    out.print(f"{folder}: complete")
