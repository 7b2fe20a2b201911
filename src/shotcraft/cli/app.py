"""The typer application and the one error boundary every command shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

app = typer.Typer(
    name="shotcraft",
    help="Invent new video shots, or transform existing ones while keeping their timing, motion and audio.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code for input the user can fix (bad file, bad spec, missing weights).
EXIT_BAD_INPUT = 2


def user_errors() -> tuple[type[BaseException], ...]:
    from shotcraft.errors import EngineUnavailable, MediaError
    from shotcraft.spec import SpecError

    return (MediaError, SpecError, EngineUnavailable, FileNotFoundError, PermissionError)


def friendly(fn: F) -> F:
    """Turn the errors a user can fix into one red line and exit code 2 (no stack trace)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except user_errors() as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            for problem in problems:
                console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            reason = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
            console.print(f"[red]error:[/red] {reason}", highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar fed by the pipeline's (stage, done, total) callback."""
    if quiet or not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    # Only a terminal gets a bar, so scripts and pipes do not pay for importing it.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def main() -> None:
    app()
