"""Where a model's weights are, whether a folder holds all of them, and fetching them where there is internet.

Weights are looked up in this order: the folder given with ``--weights``; ``$SHOTCRAFT_MODELS/<name>``
(the models folder setting); the Hugging Face cache (files already downloaded, never fetched here). A
diffusers folder is complete when ``model_index.json`` names components whose folders each hold a config
and every weight file their index lists.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> missing_parts(folder)
['model_index.json (the folder is not a diffusers pipeline)']
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from shotcraft.engines.diffusion.registry import ModelCard
from shotcraft.errors import EngineUnavailable

#: Environment variable naming the folder that holds one sub-folder per model.
MODELS_ENV = "SHOTCRAFT_MODELS"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "spiece.model",
    "tokenizer.model",
    "vocab.json",
    "tokenizer_config.json",
)


def missing_parts(folder: Path) -> list[str]:
    """What a diffusers pipeline folder lacks, one short phrase per missing piece (empty when complete)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder} (no such folder)"]
    index = folder / "model_index.json"
    if not index.is_file():
        return ["model_index.json (the folder is not a diffusers pipeline)"]
    try:
        components = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"model_index.json is unreadable ({exc})"]
    missing: list[str] = []
    for name, value in components.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        sub = folder / name
        if not sub.is_dir():
            missing.append(f"{name}/ ({value[1]})")
            continue
        if name.startswith("tokenizer"):
            if not any((sub / f).is_file() for f in _TOKENIZER_FILES):
                missing.append(f"{name}/tokenizer files")
            continue
        if name.startswith("scheduler") or name.endswith("processor"):
            if not any(sub.glob("*.json")):
                missing.append(f"{name}/*config.json")
            continue
        if not (sub / "config.json").is_file():
            missing.append(f"{name}/config.json")
        missing.extend(_missing_weights(sub, name))
    return missing


def _missing_weights(sub: Path, name: str) -> list[str]:
    shard_indexes = list(sub.glob("*.index.json"))
    if shard_indexes:
        missing: list[str] = []
        for shard_index in shard_indexes:
            try:
                shards = set(json.loads(shard_index.read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, json.JSONDecodeError, KeyError):
                return [f"{name}/{shard_index.name} is unreadable"]
            missing += [f"{name}/{s}" for s in sorted(shards) if not (sub / s).is_file()]
        return missing
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in sub.iterdir()):
        return [f"{name}/ weights (*.safetensors)"]
    return []


def candidate_folders(card: ModelCard, weights: Path | None = None) -> list[Path]:
    """Folders that may hold ``card``'s weights, in the order they are tried."""
    if weights is not None:
        return [Path(weights).expanduser()]
    folders: list[Path] = []
    root = os.environ.get(MODELS_ENV)
    if root:
        base = Path(root).expanduser()
        folders += [base / card.name, base / card.repo_id.split("/")[-1]]
    cached = _hub_cache_folder(card)
    if cached is not None:
        folders.append(cached)
    return folders


def _hub_cache_folder(card: ModelCard) -> Path | None:
    """The newest cached snapshot of the model's repository, without touching the network."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return Path(snapshot_download(card.repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def locate(card: ModelCard, weights: Path | None = None) -> Path:
    """The folder holding ``card``'s complete weights, or an EngineUnavailable saying what is missing where."""
    tried = candidate_folders(card, weights)
    reports: list[str] = []
    for folder in tried:
        missing = missing_parts(folder)
        if not missing:
            return folder
        reports.append(f"{folder} lacks {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}")
    if not tried:
        raise EngineUnavailable(
            f"weights for {card.name} not found: pass --weights DIR, set {MODELS_ENV} to a folder holding "
            f"{card.name}/, or run `shotcraft models pull {card.name}` where there is internet ({card.repo_id})"
        )
    raise EngineUnavailable(
        f"weights for {card.name} are incomplete: {'; '.join(reports)}. "
        f"Fetch them with `shotcraft models pull {card.name}` ({card.repo_id})"
    )


def pull(card: ModelCard, destination: Path | None = None) -> Path:
    """Download ``card``'s weights with huggingface_hub (into ``destination`` or the hub cache)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise EngineUnavailable(
            "pulling weights needs huggingface_hub: pip install 'shotcraft[diffusion]'"
        ) from None
    kwargs = {"local_dir": str(destination)} if destination is not None else {}
    try:
        folder = Path(snapshot_download(card.repo_id, **kwargs))
    except Exception as exc:  # the hub raises many kinds (offline, gated, HTTP); all mean "not fetched"
        raise EngineUnavailable(f"could not download {card.repo_id}: {type(exc).__name__}: {exc}") from None
    missing = missing_parts(folder)
    if missing:
        raise EngineUnavailable(f"download of {card.repo_id} is incomplete: {', '.join(missing)}")
    return folder


__all__ = ["MODELS_ENV", "candidate_folders", "locate", "missing_parts", "pull"]
