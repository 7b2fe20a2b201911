"""Where shotcraft may write: the one set of rules every writer follows (transform, generate, localize,
track, the studio's takes), so a user's file is never lost.

1. An existing **folder, device, FIFO, socket, or a symbolic link to one** (or to nothing) is never deleted
   or replaced. A PNG-sequence output is a folder that does not exist yet or is empty.
2. An existing **regular file** at the output or at its ``.json`` sidecar is replaced only when the caller
   says so (``overwrite=True``, the CLI's ``--overwrite``/``-y``); otherwise one plain sentence.
3. Nothing written (output, sidecar, temporaries) is, or sits inside, the source or another input
   (keyframes, masks, tables, track files), compared by real path and by inode (hard links).
4. Everything is written under a hidden temporary name in the output's folder
   (:func:`temp_name`: ``.NAME.partial-PID.SUFFIX``) and renamed into place by :func:`commit`, the output
   and its sidecar together; on failure the temporaries are removed and nothing appears.
5. Temporaries left by a process that is gone (killed, power cut) are removed by the next writer into the
   same folder (:func:`remove_stale_partials`): only names of exactly that pattern, only if that process
   id is not alive.

Every check raises :class:`~shotcraft.errors.MediaError` with one sentence naming the path.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from shotcraft.errors import MediaError

#: The hidden temporaries this program writes: ``.NAME.partial-PID`` plus an optional suffix.
PARTIAL_NAME = re.compile(
    r"^\.(?P<name>.+)\.partial-(?P<pid>[1-9][0-9]{0,9})(?P<suffix>\.[A-Za-z0-9]{1,8})?$"
)
#: What a temporary folder holds: a PNG sequence's frames and copied audio, or a split render's segments
#: (finished or being written); nothing else is ever removed.
_SEQUENCE_PARTS = re.compile(r"^(.+_[0-9]{6}\.png|audio\.mka|\.?part-[0-9]{5}(\.partial-[0-9]{1,10})?\.mov)$")
#: Paths this process has put in place, so an interrupted command can say what was finished.
committed: list[Path] = []

OVERWRITE_HINT = "add --overwrite (-y) to replace it"


def temp_name(path: str | os.PathLike[str]) -> Path:
    """The hidden temporary for ``path`` in the same folder: ``.NAME.partial-PID.SUFFIX``."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def sidecar_of(path: str | os.PathLike[str]) -> Path:
    """The ``.json`` record next to an output."""
    return Path(f"{path}.json")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.abspath(path))


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def check_inputs(
    written: Iterable[str | os.PathLike[str]],
    inputs: Iterable[str | os.PathLike[str] | None],
    source: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse any written path that is, or sits inside, an input, or holds one (a folder to be written)."""
    named = [Path(p) for p in (source, *inputs) if p is not None and str(p)]
    for target in written:
        real = _real(target)
        for source_or_input in named:
            source_ = source_or_input
            src = _real(source_)
            same = _inside(real, src) or _inside(src, real)
            if not same and os.path.lexists(target) and os.path.exists(source_):
                with contextlib.suppress(OSError):
                    same = os.path.samefile(target, source_)
            if not same:
                continue
            what = "is" if real == src or not _inside(src, real) else "would overlap"
            if source is not None and source_ == Path(source):
                raise MediaError(
                    f"output {target} {what} the source clip (sources are never modified): choose another name"
                )
            raise MediaError(
                f"output {target} {what} the input {source_}: choose another output name (inputs are never written)"
            )


def _check_file_slot(path: Path, overwrite: bool, what: str) -> None:
    """A regular file may be replaced with ``overwrite``; anything else that exists never is."""
    if not os.path.lexists(path):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise MediaError(
            f"{what} {path} is a symbolic link to nothing: shotcraft does not replace it"
        ) from None
    if not stat.S_ISREG(mode):
        link = "a symbolic link to " if os.path.islink(path) else ""
        raise MediaError(
            f"{what} {path} is {link}{_kind(mode)}: shotcraft never replaces one; choose a file name"
        )
    if not overwrite:
        raise MediaError(f"{what} {path} already exists: {OVERWRITE_HINT}")


def _check_folder_slot(path: Path) -> None:
    """A PNG-sequence output: absent, or an empty real folder."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path):
        raise MediaError(f"output {path} is a symbolic link: PNG frames go into a new or empty folder")
    mode = os.stat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise MediaError(f"output {path} is {_kind(mode) if not stat.S_ISREG(mode) else 'a file'}: "
                         "PNG frames go into a new or empty folder")  # fmt: skip
    if any(os.scandir(path)):
        raise MediaError(
            f"output folder {path} is not empty: PNG frames go into a new or empty folder (nothing was deleted)"
        )


def check_folder(folder: str | os.PathLike[str], what: str = "output folder") -> Path:
    """A folder outputs go into: absent (it will be made) or a real folder we can write to."""
    folder = Path(folder)
    if str(folder) == "":
        raise MediaError(f"{what} is empty: give a folder name")
    probe = folder
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if os.path.lexists(probe):
        try:
            mode = os.stat(probe).st_mode
        except OSError:
            raise MediaError(f"{what} {folder}: {probe} is a symbolic link to nothing") from None
        if not stat.S_ISDIR(mode):
            kind = _kind(mode) if not stat.S_ISREG(mode) else "a file"
            raise MediaError(f"cannot create {what} {folder}: {probe} is {kind}")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise MediaError(f"{what} {probe} is not writable")
    return folder


def check_output(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    source: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    folder: bool = False,
    sidecar: bool = True,
) -> Path:
    """Check every rule for writing ``path`` (a file, or with ``folder`` a PNG-sequence folder) and, with
    ``sidecar``, its ``.json`` record. Nothing is created; raises :class:`MediaError` naming the path."""
    path = Path(path)
    if str(path) in ("", ".") or path.name in ("", ".", ".."):
        raise MediaError(f"output name {str(path)!r} names no file: give a file name such as out.mp4")
    check_folder(path.parent)
    written = [path, temp_name(path)]
    if sidecar:
        written += [sidecar_of(path), temp_name(sidecar_of(path))]
    check_inputs(written, inputs, source)
    if folder:
        _check_folder_slot(path)
    else:
        _check_file_slot(path, overwrite, "output")
    if sidecar:
        _check_file_slot(sidecar_of(path), overwrite, "sidecar")
    return path


# ---------------------------------------------------------------------------------------------------------
# Temporaries left behind


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_partials(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove this program's temporaries in ``folder`` whose process is gone; returns what was removed.

    Only names of :data:`PARTIAL_NAME`'s pattern are considered, never this process's own, never a live
    process's, never a symbolic link, and a folder only when it holds nothing but PNG frames and audio.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL_NAME.match(entry.name)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or pid_alive(pid):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_symlink():
                continue
            if entry.is_file(follow_symlinks=False):
                path.unlink()
                removed.append(path)
            elif entry.is_dir(follow_symlinks=False):
                parts = list(os.scandir(path))
                if all(p.is_file(follow_symlinks=False) and _SEQUENCE_PARTS.match(p.name) for p in parts):
                    for part in parts:
                        os.unlink(part.path)
                    path.rmdir()
                    removed.append(path)
    return removed


# ---------------------------------------------------------------------------------------------------------
# Putting files in place


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while renaming, so an interrupt cannot land between output and sidecar."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            remove_partial_folder(path)
        else:
            path.unlink()


def remove_partial_folder(path: Path) -> None:
    """Remove a temporary folder this process made (a PNG sequence's frames and audio, or segments only)."""
    for part in os.scandir(path):
        if part.is_file(follow_symlinks=False) and _SEQUENCE_PARTS.match(part.name):
            os.unlink(part.path)
    path.rmdir()


def commit(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Rename each finished temporary onto its final name, all or none: if a rename fails, the files
    already renamed by this call are removed again and every temporary left is deleted."""
    done: list[Path] = []
    with _signals_held():
        try:
            for tmp, final in pairs:
                os.replace(tmp, final)
                done.append(final)
        except BaseException:
            for final in done:
                _remove(final)
            for tmp, _ in pairs:
                _remove(tmp)
            raise
    committed.extend(done)


__all__ = [
    "PARTIAL_NAME", "check_folder", "check_inputs", "check_output", "commit", "committed", "pid_alive",
    "remove_stale_partials", "sidecar_of", "temp_name",
]  # fmt: skip
