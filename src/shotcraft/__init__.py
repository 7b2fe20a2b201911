"""shotcraft: invent new video shots, or transform existing ones while keeping their timing, motion and audio.

The public API::

    import shotcraft
    info = shotcraft.probe("clip.mp4")
    result = shotcraft.transform("clip.mp4", "out.mp4", shotcraft.TransformSpec(...))
    advice = shotcraft.advise(shotcraft.Assets(clip="clip.mp4"), goal="relight for night")
"""

__version__ = "0.1.0"

from shotcraft.media import MediaError, probe
from shotcraft.spec import GenerateSpec, SpecError, TransformSpec


def __getattr__(name: str):
    if name == "transform":
        from shotcraft.pipeline import transform

        return transform
    if name in ("advise", "Assets"):
        from shotcraft import advisor

        return getattr(advisor, name)
    raise AttributeError(name)


__all__ = ["GenerateSpec", "MediaError", "SpecError", "TransformSpec", "advise", "probe", "transform"]
