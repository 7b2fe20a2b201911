"""The ``shotcraft`` command line. Each area adds its commands from its own module; bad input exits 2
with a one-line reason."""

from shotcraft.cli import advise  # noqa: F401  (registers advise)
from shotcraft.cli import media  # noqa: F401  (registers probe, transform, demo)
from shotcraft.cli.app import app, main

__all__ = ["app", "main"]
