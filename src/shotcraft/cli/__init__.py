"""The ``shotcraft`` command line. Each area adds its commands from its own module; bad input exits 2
with a one-line reason."""

from shotcraft.cli import advise  # noqa: F401  (registers advise)
from shotcraft.cli import generate  # noqa: F401  (registers generate)
from shotcraft.cli import localize  # noqa: F401  (registers localize)
from shotcraft.cli import media  # noqa: F401  (registers probe, transform, generate, demo)
from shotcraft.cli import models  # noqa: F401  (registers models list|pull|verify)
from shotcraft.cli import score  # noqa: F401  (registers score)
from shotcraft.cli import studio  # noqa: F401  (registers serve, worker, keys)
from shotcraft.cli import track  # noqa: F401  (registers track)
from shotcraft.cli.app import app, main

__all__ = ["app", "main"]
