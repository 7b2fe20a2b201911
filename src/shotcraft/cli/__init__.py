"""The ``shotcraft`` command line. Each area adds its commands from its own module; bad input exits 2
with a one-line reason."""

from shotcraft.cli import (
    advise,  # noqa: F401  (registers advise)
    generate,  # noqa: F401  (registers generate)
    localize,  # noqa: F401  (registers localize)
    media,  # noqa: F401  (registers probe, transform, demo)
    models,  # noqa: F401  (registers models list|pull|verify)
    score,  # noqa: F401  (registers score)
    sequence,  # noqa: F401  (registers sequence run|status|export)
    studio,  # noqa: F401  (registers serve, worker, keys)
    timeline,  # noqa: F401  (registers conform)
    track,  # noqa: F401  (registers track)
)
from shotcraft.cli.app import app, main

__all__ = ["app", "main"]
