"""The errors a user can fix, in the lowest layer so every layer can raise them (and the one reader of
user-named text files, so every such file fails the same way).

Each carries one plain sentence (``SpecError`` one per problem, in ``problems``). The CLI prints them as
one line each and exits 2; the API answers 4xx with a JSON body. Anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class MediaError(ValueError):
    """A media file or output path that cannot be used; ``str(error)`` is the reason, in one line."""


class SpecError(ValueError):
    """A spec that cannot be carried out; ``problems`` holds one plain sentence per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class EngineUnavailable(RuntimeError):
    """Something the job needs is not here (weights, a model file, a package, a device); the message names it."""


def read_user_text(path: Path, what: str, error: type[ValueError] = SpecError) -> str:
    """A text file the user named (spec, translation table, subtitles), or ``error`` with one plain reason.

    A UTF-8 byte-order mark, as spreadsheet programs write, is dropped.
    """
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} {Path(path).name} cannot be read as UTF-8 text: {exc}") from None
