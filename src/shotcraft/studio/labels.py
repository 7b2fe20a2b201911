"""Names for jobs and takes in the words of what was done ("relight · golden hour + lock"), and the names
of a project's files, so that what a person reads names clips and takes, never ids, hashes or paths.

>>> describe("transform", {"operations": [{"op": "relight", "preset": "golden_hour"}],
...                         "locks": [{"kind": "rect"}]})
'relight · golden hour + lock'
>>> describe("transform", {"operations": [{"op": "restyle"}], "keyframes": [{}, {}]})
'restyle · by 2 keyframes'
>>> describe("localize", {"markets": ["de", "fr"]}), describe("localize", {}, market="de")
('localize · de, fr', 'localize · de')
>>> describe("invent", {"prompt": "a lighthouse in a storm at dusk, waves breaking on the rocks"})
'invent · “a lighthouse in a storm at dusk…”'
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shotcraft.studio.models import Asset, Take
from shotcraft.studio.store import Store

#: Longest prompt shown in a name, in characters.
PROMPT_CHARS = 36


def _words(name: str) -> str:
    return name.replace("_", " ")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _quoted(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[:PROMPT_CHARS].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
    return f"“{prompt}”"


def _relight(op: dict[str, Any]) -> str:
    parts = [_words(op["preset"])] if op.get("preset") else []
    if op.get("exposure"):
        parts.append(f"exposure {op['exposure']:+g}")
    if op.get("temperature"):
        parts.append("warmer" if op["temperature"] > 0 else "cooler")
    if op.get("keyframes"):
        parts.append(f"by {_count(len(op['keyframes']), 'graded keyframe')}")
    return "relight" + (f" · {', '.join(parts)}" if parts else "")


def _operation(op: dict[str, Any], keyframes: int) -> str:
    kind = op.get("op")
    if kind == "relight":
        return _relight(op)
    if kind == "restyle":
        if op.get("look"):
            return f"restyle · {_words(op['look'])}"
        if keyframes:
            return f"restyle · by {_count(keyframes, 'keyframe')}"
        return "restyle · by reference" if op.get("reference") else "restyle"
    if kind == "swap":
        return "product swap"
    if kind == "localize":
        return f"localize · {op['market']}" if op.get("market") else "localize"
    return str(kind)


def describe(kind: str, spec: dict[str, Any], *, market: str | None = None) -> str:
    """What a job (or one of its takes) does, in a few words."""
    if kind == "invent":
        return f"invent · {_quoted(spec.get('prompt', ''))}"
    if kind == "localize":
        return f"localize · {market or ', '.join(spec.get('markets', []))}"
    keyframes = len(spec.get("keyframes") or [])
    parts = [_operation(op, keyframes) for op in spec.get("operations") or []]
    if not parts and keyframes:
        parts.append(f"by {_count(keyframes, 'keyframe')}")
    if spec.get("prompt"):
        parts.append(_quoted(spec["prompt"]))
    text = ", ".join(parts) or "unchanged copy"
    locks = len(spec.get("locks") or [])
    if locks:
        text += " + lock" if locks == 1 else f" + {locks} locks"
    return text


def take_label(take: Take) -> str:
    """The take's name as people see it: the one they gave it, or what was done to make it."""
    return take.title or describe(take.kind, take.spec, market=take.info.get("market"))


def project_names(session: Session, project_id: str) -> dict[str, str]:
    """Every asset and take of a project by id → the name a person knows it by."""
    names = {
        ident: name
        for ident, name in session.execute(
            select(Asset.id, Asset.name).where(Asset.project_id == project_id)
        ).all()
    }
    for take in session.scalars(select(Take).where(Take.project_id == project_id)):
        names[take.id] = f"take “{take_label(take)}”"
    return names


def file_names(session: Session, store: Store, project_id: str) -> dict[str, str]:
    """Every stored file of a project (asset blobs and take files) → its name, for :func:`refs.redact`."""
    known: dict[str, str] = {}
    for asset in session.scalars(select(Asset).where(Asset.project_id == project_id)):
        known[str(store.asset_path(asset))] = asset.name
    for take in session.scalars(select(Take).where(Take.project_id == project_id)):
        known[str(store.take_path(take))] = f"take “{take_label(take)}”"
    return known


def source_name(names: dict[str, str], asset_id: str | None, take_id: str | None) -> str | None:
    """What a job or take started from, by name (``None`` for a prompt)."""
    ident = asset_id or take_id
    if ident is None:
        return None
    return names.get(ident, "a deleted take" if take_id else "a deleted file")
