"""The ``shotcraft`` command line. Each area adds its commands from its own module; bad input exits 2
with a one-line reason."""

from shotcraft.cli import (  # noqa: F401  (each module registers its commands)
    advise,
    localize,
    media,
    score,
    studio,
    track,
)
from shotcraft.cli.app import app, main

__all__ = ["app", "main"]
