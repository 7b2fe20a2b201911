"""Uploads: stream to disk under a size limit while hashing, recognise the type from the bytes (never the
file name), then keep the file under its SHA-256, so no client-chosen name or path reaches the disk.

An upload is *staged* (``blobs/incoming/``) until the caller has registered it: :meth:`Upload.keep` moves it
into the blob store, and leaving the ``with`` block removes whatever was not kept, so an upload refused
after it arrived (a storage quota, a duplicate) leaves nothing behind.

>>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
('image', 'image/png')
>>> sniff(b"\\x00\\x00\\x00\\x18ftypisom" + bytes(8))
('video', 'video/mp4')
>>> sniff(b"hello world, not media") is None
True
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from fastapi import HTTPException

from shotcraft.studio.store import Store

#: (offset, magic bytes, kind, media type), checked in order.
_SIGNATURES: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image", "image/png"),
    (0, b"\xff\xd8\xff", "image", "image/jpeg"),
    (4, b"ftypqt  ", "video", "video/quicktime"),
    (4, b"ftyp", "video", "video/mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video", "video/x-matroska"),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """``(kind, media type)`` from a file's first bytes, or ``None`` when it is neither a clip nor an image."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "video/x-msvideo"
    for offset, magic, kind, media_type in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind, media_type
    return None


def display_name(name: str | None) -> str:
    """The last part of a client's file name, for display only (``../../x.mp4`` → ``x.mp4``).

    >>> display_name("../../etc/passwd"), display_name("C:\\\\clips\\\\a.mp4"), display_name("")
    ('passwd', 'a.mp4', 'upload')
    """
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    cleaned = "".join(c for c in base if c.isprintable() and c not in "/\\").strip(" .")
    return cleaned[:200] or "upload"


#: Largest image accepted, in pixels (Pillow's own decompression-bomb threshold): a 109 KB PNG can claim
#: 30000 x 30000 pixels, which would take 2.7 GB to decode.
MAX_IMAGE_PIXELS = 89_478_485


@dataclass
class Upload:
    """A received, identified upload, staged at ``staged`` until :meth:`keep` moves it into the store."""

    store: Store
    sha256: str
    size: int
    kind: str
    media_type: str
    staged: Path
    info: dict[str, Any]

    def keep(self) -> Path:
        """Move the bytes to their blob (kept as they are when the same bytes are already stored)."""
        final = self.store.blob_path(self.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if not final.exists():
            os.replace(self.staged, final)
        return final

    def discard(self) -> None:
        self.staged.unlink(missing_ok=True)


async def receive(
    store: Store, chunks: AsyncIterator[bytes], limit: int, *, max_pixels: int = MAX_IMAGE_PIXELS
) -> Upload:
    """Stream an upload into ``blobs/incoming``; 413 past ``limit`` bytes (or an image past ``max_pixels``),
    415 when it is not media. The caller keeps or discards the returned upload."""
    incoming = store.blobs / "incoming" / f"{secrets.token_hex(12)}.part"
    digest, size = hashlib.sha256(), 0
    try:
        with open(incoming, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise HTTPException(
                        413, f"the upload is larger than this server's limit of {limit} bytes"
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise HTTPException(400, "the upload is empty")
        kind, media_type, info = _identify(incoming, max_pixels)
        return Upload(store, digest.hexdigest(), size, kind, media_type, incoming, info)
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise


def _identify(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[str, str, dict[str, Any]]:
    with open(path, "rb") as f:
        head = f.read(64)
    sniffed = sniff(head)
    if sniffed is None:
        raise HTTPException(
            415, "the upload is not a video clip or an image (PNG, JPEG, WebP, MP4, MOV, MKV, AVI)"
        )
    kind, media_type = sniffed
    if kind == "image":
        import warnings

        from PIL import Image, UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                # Pillow only warns between its threshold and twice it; the size is checked below either way.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    width, height = image.size
                    if width * height <= max_pixels:
                        image.verify()
        except Image.DecompressionBombError:
            raise HTTPException(
                413, f"the image has more pixels than this server accepts ({max_pixels} at most)"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, UnidentifiedImageError):  # its message names the file on the server's disk
                reason = "no image could be decoded from it"
            else:
                reason = str(exc).replace(str(path), "it").replace(path.name, "it")
            raise HTTPException(
                415, f"the upload looks like {media_type} but cannot be read: {reason}"
            ) from None
        if width * height > max_pixels:
            raise HTTPException(
                413,
                f"the image is {width}x{height} pixels, more than this server accepts ({max_pixels} at most)",
            )
        return kind, media_type, {"width": width, "height": height}
    from shotcraft.errors import MediaError
    from shotcraft.media.probe import probe

    try:
        info = probe(path)
        info.require_video()
    except MediaError as exc:
        raise HTTPException(
            415,
            f"the upload is not a usable video clip: {str(exc).replace(str(path), 'it').replace(path.name, 'it')}",
        ) from None
    summary = info.to_dict()
    summary.pop("path", None)
    return kind, media_type, summary
