"""The errors a user can fix, in the lowest layer so every layer can raise them.

Each carries one plain sentence (``SpecError`` one per problem, in ``problems``). The CLI prints them as
one line each and exits 2; the API answers 4xx with a JSON body. Anything else is a bug.
"""

from __future__ import annotations


class MediaError(ValueError):
    """A media file or output path that cannot be used; ``str(error)`` is the reason, in one line."""


class SpecError(ValueError):
    """A spec that cannot be carried out; ``problems`` holds one plain sentence per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class EngineUnavailable(RuntimeError):
    """Something the job needs is not here (weights, a model file, a package, a device); the message names it."""
