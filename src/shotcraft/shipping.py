"""Files a Ray task needs, moved by value: through Ray's object store, or through a storage URL that every
node reaches (any fsspec URL: ``file:///shared/folder``, ``s3://bucket/prefix``, ...), never as a path that
exists on one machine only.

A spec that names other files (mask stills, reference and swap images, tables, subtitles) travels with
them: the sender ships each file (:func:`ship`), and the task saves its copies into its own folder and
renders a copy of the spec that names those copies (:func:`receive`).

>>> import tempfile
>>> from shotcraft.spec import TransformSpec
>>> folder = Path(tempfile.mkdtemp())
>>> mask = folder / "mask.png"
>>> _ = mask.write_bytes(b"png")
>>> spec = TransformSpec.model_validate({"locks": [{"kind": "mask", "path": str(mask)}]})
>>> shipped = {str(mask): Shipped("mask.png", data=b"png")}  # what ship() makes, without a cluster
>>> local, copies = receive(spec, shipped, folder / "task")
>>> local.locks[0].path == copies[str(mask)], local.locks[0].path.name, spec.locks[0].path == mask
(True, 'mask.png', True)
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from shotcraft.errors import EngineUnavailable, MediaError
from shotcraft.spec import map_paths

STORAGE_MISSING = "--storage needs fsspec: pip install 'shotcraft[scale]'"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Shipped:
    """One file as a task receives it: its name (kept, so a choice made by suffix, such as a still mask, is
    the same on every node) and its bytes, inline, as an object in Ray's object store (``ref``), or at a
    storage URL (``url``)."""

    name: str
    ref: Any = None
    url: str | None = None
    data: bytes | None = None

    def save(self, folder: Path) -> Path:
        """Write the file into ``folder`` (made if needed); returns its path there."""
        folder.mkdir(parents=True, exist_ok=True)
        self.write_to(folder / self.name)
        return folder / self.name

    def write_to(self, dest: Path) -> None:
        """Write the file's bytes to ``dest``."""
        if self.url is not None:
            import fsspec

            with fsspec.open(self.url, "rb") as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            data = self.data
            if data is None:
                import ray

                data = ray.get(self.ref)
            dest.write_bytes(data)


class Storage:
    """A folder at an fsspec URL that every node of the cluster reaches."""

    def __init__(self, url: str):
        try:
            import fsspec
        except ModuleNotFoundError:
            raise EngineUnavailable(STORAGE_MISSING) from None
        self.url = url.rstrip("/")
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
            self.fs.makedirs(self.root, exist_ok=True)
        except (OSError, ValueError, ImportError) as exc:
            raise MediaError(f"cannot use the storage {url}: {exc}") from None

    def put(self, path: Path) -> str:
        """``path``'s bytes at ``URL/inputs/<sha256>`` (uploaded once, by content); returns that URL.

        The upload goes to a temporary name and is moved into place, so a sender killed mid-upload never
        leaves a partial file under the name the next one would trust."""
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        target = f"{self.root}/inputs/{digest.hexdigest()}"
        if not (self.fs.exists(target) and self.fs.size(target) == path.stat().st_size):
            partial = f"{target}.partial-{os.getpid()}-{secrets.token_hex(4)}"
            self.fs.makedirs(f"{self.root}/inputs", exist_ok=True)
            self.fs.put_file(str(path), partial)
            self.fs.mv(partial, target)
        return f"{self.url}/inputs/{digest.hexdigest()}"

    def write(self, relative: str, path: Path) -> str:
        """Upload ``path`` to ``URL/relative``; returns that URL."""
        target = f"{self.root}/{relative}"
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(path), target)
        return f"{self.url}/{relative}"

    def remove(self, relative: str) -> None:
        """Remove ``URL/relative`` and everything under it, if there."""
        target = f"{self.root}/{relative}"
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)


def ship(ray: Any, paths: list[Path], storage: Storage | None = None) -> dict[str, Shipped]:
    """Each file of ``paths`` made reachable by every node: put in Ray's object store once, or uploaded to
    ``storage``. Keyed by the path as the spec names it."""
    shipped: dict[str, Shipped] = {}
    for path in dict.fromkeys(paths):
        if storage is not None:
            shipped[str(path)] = Shipped(path.name, url=storage.put(path))
        else:
            shipped[str(path)] = Shipped(path.name, ref=ray.put(path.read_bytes()))
    return shipped


def receive(spec: M, shipped: dict[str, Shipped], folder: Path) -> tuple[M, dict[str, Path]]:
    """Save the shipped files under ``folder`` (one sub-folder each, so two files of one name stay apart)
    and return a copy of ``spec`` naming the copies, with where each original path went."""
    copies = {original: item.save(folder / str(i)) for i, (original, item) in enumerate(shipped.items())}
    local = map_paths(spec.model_copy(deep=True), lambda p: copies.get(str(p), p))
    return local, copies
