"""shotcraft: invent new video shots, or transform existing ones while keeping their timing, motion and audio.

The public API::

    import shotcraft
    info = shotcraft.probe("clip.mp4")
    result = shotcraft.transform("clip.mp4", "out.mp4", shotcraft.TransformSpec(...))
    report = shotcraft.score("clip.mp4", "out.mp4")
    look = shotcraft.look_scores("clip.mp4", "out.mp4", "look-frames/")  # against the look on every frame
    advice = shotcraft.advise(shotcraft.Assets(clip="clip.mp4"), goal="relight for night")
    takes = shotcraft.generate(shotcraft.GenerateSpec(prompt="a lighthouse in a storm"), "takes/shot.mp4")
    markets = shotcraft.localize("clip.mp4", "out/", ["de", "ja"], table="strings.csv")
"""

__version__ = "0.1.0"

import importlib
import os

# Before any OpenMP runtime loads (it reads this once): idle OpenMP threads sleep rather than spin after each
# of numba's once-a-frame kernels (shotcraft.threads says what spinning cost); a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from shotcraft.media import MediaError, probe
from shotcraft.spec import GenerateSpec, SpecError, TransformSpec

#: Public names imported on first use, so `import shotcraft` stays fast (no torch, OpenCV or FastAPI).
_LAZY = {
    "transform": "shotcraft.pipeline",
    "advise": "shotcraft.advisor",
    "Assets": "shotcraft.advisor",
    "score": "shotcraft.metrics",
    "look_scores": "shotcraft.look_metrics",
    "generate": "shotcraft.invent",
    "localize": "shotcraft.markets",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shotcraft' has no attribute {name!r}")


__all__ = [
    "Assets", "GenerateSpec", "MediaError", "SpecError", "TransformSpec",
    "advise", "generate", "localize", "look_scores", "probe", "score", "transform",
]  # fmt: skip
