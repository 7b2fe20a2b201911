"""The typer application and the one error boundary every command shares."""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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
#: The help of every command's ``--overwrite``/``-y``.
OVERWRITE_HELP = "Replace an existing output file (never a folder, device or input)."


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every writer's cleanup runs and removes its temporaries."""


def _interrupt(signum: int, _frame: Any) -> None:
    # Later signals are ignored while the cleanup that this exception starts runs to its end.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise in the command (restored after it), so outputs are cleaned up on either."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say_interrupted(exc: KeyboardInterrupt, finished: list[Any]) -> int:
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    if finished:
        names = ", ".join(str(p) for p in finished)
        console.print(f"{word}; finished before that: {names}; nothing else was written", highlight=False,
                      soft_wrap=True)  # fmt: skip
    else:
        console.print(f"{word}; nothing was written", highlight=False, soft_wrap=True)
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or :class:`Terminated`) an exception was raised while handling, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def user_errors() -> tuple[type[BaseException], ...]:
    from shotcraft.errors import EngineUnavailable, MediaError
    from shotcraft.spec import SpecError

    return (MediaError, SpecError, EngineUnavailable, FileNotFoundError, PermissionError)


def friendly(fn: F) -> F:
    """Turn the errors a user can fix into one red line and exit code 2 (no stack trace).

    Ctrl-C (SIGINT) and SIGTERM raise inside the command, so writers remove their temporaries; the command
    then says what, if anything, was finished and exits 130 (SIGINT) or 143 (SIGTERM).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from shotcraft.media.output_path import committed

        before = len(committed)
        try:
            with _interrupts_raise():
                return fn(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise typer.Exit(_say_interrupted(exc, committed[before:])) from None
        except RecursionError:
            console.print("[red]error:[/red] the input is nested too deeply", highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except user_errors() as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            for problem in problems:
                # Escaped: a problem may name a file or an extra in brackets (shotcraft[scale]).
                console.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            reason = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            console.print(f"[red]error:[/red] {reason}{where}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except SystemError as exc:
            # A signal that lands while a compiled kernel (numba) is being called surfaces as a SystemError
            # whose context is the interrupt: it is still the user's Ctrl-C or SIGTERM.
            interrupt = _interrupt_behind(exc)
            if interrupt is None:
                raise
            raise typer.Exit(_say_interrupted(interrupt, committed[before:])) from None

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
