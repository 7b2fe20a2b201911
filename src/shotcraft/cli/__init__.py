"""The ``shotcraft`` command line. Each area adds its commands from its own module; bad input exits 2
with a one-line reason."""

from shotcraft.cli.app import app, main
from shotcraft.cli import media  # noqa: F401,E402  (registers probe, transform, generate, demo)

__all__ = ["app", "main"]
