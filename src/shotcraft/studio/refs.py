"""Asset references in specs, and keeping the server's paths out of what a client sees.

A spec sent to the studio names its files (keyframe stills, masks, references, subtitles) as
``"asset:<id>"``. Only fields that *take a file* (the spec's :class:`~pathlib.Path` fields) are references:
the same text in a prompt stays text. A job keeps its spec with the references (that is what its record
and its takes show); the worker swaps them for the stored files just before it runs.

>>> from shotcraft.spec import TransformSpec
>>> spec = TransformSpec.model_validate(
...     {"prompt": "asset:ast_1 at dusk", "locks": [{"kind": "mask", "path": "asset:ast_1"}]}
... )
>>> resolved = resolve_refs(spec, {"ast_1": Path("/srv/blobs/ab/abcd")}.get)
>>> resolved.prompt, str(resolved.locks[0].path), str(spec.locks[0].path)
('asset:ast_1 at dusk', '/srv/blobs/ab/abcd', 'asset:ast_1')
>>> redact("cannot read /srv/blobs/ab/abcd or /srv/work/x", {"/srv/blobs/ab/abcd": "asset:ast_1"}, Path("/srv"))
'cannot read asset:ast_1 or a studio file'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from shotcraft.errors import SpecError
from shotcraft.spec import map_paths

ASSET_REF = "asset:"
M = TypeVar("M", bound=BaseModel)


def ref_id(path: Path) -> str | None:
    """The asset id of a reference (``asset:<id>``), or ``None`` for anything else."""
    text = str(path)
    return text[len(ASSET_REF) :] if text.startswith(ASSET_REF) else None


def resolve_refs(spec: M, lookup: Callable[[str], Path | None], *, keep_paths: bool = False) -> M:
    """A copy of ``spec`` whose file fields name stored files: each ``asset:<id>`` becomes ``lookup(id)``.
    A reference ``lookup`` does not know is a SpecError, and so is a file field that is not a reference
    unless ``keep_paths``."""
    problems: list[str] = []

    def resolve(path: Path) -> Path:
        ident = ref_id(path)
        if ident is None and keep_paths:
            return path
        if ident is None:
            problems.append(
                f"spec path {str(path)!r} is not allowed: upload the file and write it as 'asset:<id>'"
            )
            return path
        found = lookup(ident)
        if found is None:
            problems.append(f"spec refers to asset {ident!r}, which is not in this project")
            return path
        return found

    resolved = map_paths(spec.model_copy(deep=True), resolve)
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))
    return resolved


def redact(text: str, known: dict[str, str], home: Path) -> str:
    """``text`` with the server's paths taken out: each path in ``known`` becomes what it maps to (an asset
    reference), and any other path inside the studio's ``home`` becomes "a studio file"."""
    for path, name in sorted(known.items(), key=lambda item: -len(item[0])):
        text = text.replace(path, name)
    for (
        path,
        name,
    ) in known.items():  # a stored blob's file name is its SHA-256: messages often show only that
        base = Path(path).name
        if re.fullmatch(r"[0-9a-f]{64}", base):
            text = text.replace(base, name)
    return re.sub(re.escape(str(home)) + r"[^\s'\",;:)]*", "a studio file", text)
