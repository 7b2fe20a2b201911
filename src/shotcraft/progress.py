"""Progress reporting, one callback shape for every stage (signals, engines, writers, jobs).

A stage calls ``progress(stage_name, done, total)`` as it goes; the CLI draws a bar from it and the studio
stores it on the job.

>>> seen = []
>>> report: Progress = lambda stage, done, total: seen.append((stage, done, total))
>>> report("relight", 1, 10); seen
[('relight', 1, 10)]
"""

from __future__ import annotations

from collections.abc import Callable

#: Progress callback: (stage name, done, total).
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""
