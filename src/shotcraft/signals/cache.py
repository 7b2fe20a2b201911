"""A per-clip optical-flow cache on disk, so restyle, relight and the scores compute each flow once.

Flow between frames ``i`` and ``i + 1`` (both directions) is stored as one float16 ``.npy`` file at the
flow's working size (half resolution by default: about 0.9 MB per direction at 720p), in a folder keyed by
the clip's *content* identity and the flow settings. A renamed or copied clip hits the same cache; an
edited one misses it. Files are written under a temporary name and renamed, so a crash never leaves a
half-written flow and two processes may share a cache. Nothing holds more than one pair in memory.

The cache lives under ``$SHOTCRAFT_CACHE/flow`` (default ``~/.cache/shotcraft/flow``); deleting it is
always safe.

>>> import tempfile
>>> from shotcraft.media.read import VideoReader
>>> from shotcraft.media.samples import sample_clip
>>> reader = VideoReader(sample_clip("carphone"))
>>> cache = FlowCache(reader.info, root=tempfile.mkdtemp())
>>> steps = [(i, pair) for i, frame, pair in cache.walk(reader, 0, 3)]
>>> [(i, pair is None or pair.index) for i, pair in steps]
[(0, True), (1, 0), (2, 1)]
>>> cache.get(1).forward_full().shape
(144, 176, 2)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shotcraft.media.probe import MediaInfo, probe
from shotcraft.media.read import VideoReader
from shotcraft.signals.flow import FlowSettings, compute_flow_lowres, flow_confidence, upsample_flow

_IDENTITY_SAMPLE = 1 << 20  # bytes read from each end of the file for its content identity


def default_cache_root() -> Path:
    """``$SHOTCRAFT_CACHE/flow``, or ``~/.cache/shotcraft/flow``."""
    base = os.environ.get("SHOTCRAFT_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "shotcraft") / "flow"


def clip_identity(info: MediaInfo) -> str:
    """A short hash of the clip's content: its size, first and last MiB, and video geometry.

    Reading both ends catches re-encodes and trims without reading a multi-GB file whole.
    """
    path = Path(info.path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    video = info.require_video()
    # The first timestamp tells apart the parts of one file that a split render views as clips of their own.
    first = video.pts[0] if video.pts else 0
    digest.update(f"{size}:{video.width}x{video.height}:{video.frame_count}:{first}".encode())
    with path.open("rb") as fh:
        digest.update(fh.read(_IDENTITY_SAMPLE))
        if size > _IDENTITY_SAMPLE:
            fh.seek(max(_IDENTITY_SAMPLE, size - _IDENTITY_SAMPLE))
            digest.update(fh.read(_IDENTITY_SAMPLE))
    return digest.hexdigest()[:24]


@dataclass(frozen=True)
class FlowPair:
    """Flow between frames ``index`` and ``index + 1`` at the working size, in working-size pixels.

    ``forward`` maps frame ``index`` onto ``index + 1``; ``backward`` the other way (see
    :mod:`shotcraft.signals.flow` for the convention). ``width``/``height`` are the clip's size.
    """

    index: int
    forward: np.ndarray
    backward: np.ndarray
    width: int
    height: int

    def forward_full(self) -> np.ndarray:
        """``forward`` upsampled to the clip's size, in full-size pixels."""
        return upsample_flow(self.forward, self.width, self.height)

    def backward_full(self) -> np.ndarray:
        """``backward`` upsampled to the clip's size, in full-size pixels."""
        return upsample_flow(self.backward, self.width, self.height)

    def forward_confidence(self) -> np.ndarray:
        """Forward-backward consistency per pixel of frame ``index``, full size."""
        return flow_confidence(self.forward_full(), self.backward_full())


class FlowCache:
    """Flow pairs of one clip under one :class:`FlowSettings`, computed on first use and kept on disk."""

    def __init__(
        self,
        source: MediaInfo | str | os.PathLike[str],
        settings: FlowSettings = FlowSettings(),
        root: str | os.PathLike[str] | None = None,
    ):
        self.info = source if isinstance(source, MediaInfo) else probe(source)
        video = self.info.require_video()
        self.width, self.height = video.width, video.height
        self.frame_count = video.frame_count
        self.settings = settings
        self.folder = Path(root or default_cache_root()) / clip_identity(self.info) / settings.key

    def _file(self, index: int) -> Path:
        return self.folder / f"pair_{index:06d}.npy"

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.frame_count - 1:
            raise IndexError(f"flow pair {index} is outside the clip's {self.frame_count - 1} pairs")

    def get(self, index: int) -> FlowPair | None:
        """The cached pair between frames ``index`` and ``index + 1``, or None if not computed yet."""
        self._check_index(index)
        try:
            both = np.load(self._file(index))
        except (FileNotFoundError, ValueError, OSError):
            # A missing or unreadable file is a cache miss; the pair is recomputed and rewritten.
            return None
        work_w, work_h = self.settings.working_size(self.width, self.height)
        if both.shape != (2, work_h, work_w, 2):
            return None
        return FlowPair(
            index, both[0].astype(np.float32), both[1].astype(np.float32), self.width, self.height
        )

    def pair(self, index: int, a: np.ndarray, b: np.ndarray) -> FlowPair:
        """The pair between frames ``index`` (``a``) and ``index + 1`` (``b``): from disk, or computed and stored."""
        cached = self.get(index)
        if cached is not None:
            return cached
        both = np.stack([compute_flow_lowres(a, b, self.settings), compute_flow_lowres(b, a, self.settings)])
        # Rounded as stored, so a pair computed now and the same pair read back later are the same numbers
        # (a render must not depend on which process filled the cache first).
        both = both.astype(np.float16)
        self._store(index, both)
        return FlowPair(
            index, both[0].astype(np.float32), both[1].astype(np.float32), self.width, self.height
        )

    def walk(
        self, reader: VideoReader, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray, FlowPair | None]]:
        """Decode frames ``start..stop`` in order, yielding ``(index, frame, pair)`` where ``pair`` links the
        previous frame to this one (None for the first)."""
        previous: np.ndarray | None = None
        for offset, frame in enumerate(reader.frames(start, stop)):
            index = start + offset
            pair = None if previous is None else self.pair(index - 1, previous, frame)
            yield index, frame, pair
            previous = frame

    def _store(self, index: int, both: np.ndarray) -> None:
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_meta()
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".pair-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, both)
            os.replace(tmp, self._file(index))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _write_meta(self) -> None:
        """A note for people browsing the cache: which clip and settings the folder holds."""
        meta = {
            "clip": str(self.info.path),
            "size": [self.width, self.height],
            "frames": self.frame_count,
            "flow": self.settings.key,
        }
        target = self.folder / "meta.json"
        tmp = self.folder / f".meta-{os.getpid()}.json"
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp, target)
