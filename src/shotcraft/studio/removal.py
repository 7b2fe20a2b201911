"""Deleting takes and projects: the rows go inside the caller's transaction, the files after it commits, and
a file goes only when no remaining record uses it (two assets with the same bytes share one blob).

>>> import tempfile
>>> from shotcraft.studio import jobs
>>> from shotcraft.studio.store import Store
>>> store = Store.open(tempfile.mkdtemp())
>>> key, _ = store.create_key("docs")
>>> project = jobs.create_project(store, key.id, "demo")
>>> with store.write() as s:
...     files = forget_project(s, store, s.get(Project, project.id))
>>> files, store.get(Project, project.id) is None
([], True)
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shotcraft.studio.labels import take_label
from shotcraft.studio.models import Asset, Job, Project, Take
from shotcraft.studio.store import Store


def _take_files(store: Store, take: Take) -> list[Path]:
    files = [store.take_path(take)]
    sidecar = take.info.get("sidecar")
    if isinstance(sidecar, str):
        files.append(store.home / sidecar)
    return files


def forget_takes(session: Session, store: Store, takes: list[Take]) -> list[Path]:
    """Delete ``takes``; returns the files to remove once the transaction has committed. A take made from one
    of them keeps its file and says, in its ``made_from``, which take it came from."""
    ids = {t.id for t in takes}
    for take in takes:
        for child in session.scalars(select(Take).where(Take.parent_take_id == take.id)):
            if child.id in ids:
                continue
            child.parent_take_id = None
            child.info = {**child.info, "made_from": f"take “{take_label(take)}” (deleted)"}
    session.flush()
    files: list[Path] = []
    for take in takes:
        shared = session.scalar(
            select(func.count()).select_from(Take).where(Take.path == take.path, Take.id.not_in(ids))
        )
        if not shared:
            files += _take_files(store, take)
        session.delete(take)
    session.flush()
    return files


def forget_project(session: Session, store: Store, project: Project) -> list[Path]:
    """Delete a project with its takes, jobs and assets; returns the files to remove after the commit (an
    asset's blob only when no other project holds the same bytes). The caller makes sure no job is live."""
    takes = list(session.scalars(select(Take).where(Take.project_id == project.id)))
    for take in takes:  # lineage inside the project goes with it
        take.parent_take_id = None
    session.flush()
    files = forget_takes(session, store, takes)
    job_ids = list(session.scalars(select(Job.id).where(Job.project_id == project.id)))
    files += [store.job_output_dir(j) for j in job_ids] + [store.job_work_dir(j) for j in job_ids]
    session.execute(delete(Job).where(Job.project_id == project.id))
    assets = list(session.scalars(select(Asset).where(Asset.project_id == project.id)))
    for asset in assets:
        shared = session.scalar(
            select(func.count())
            .select_from(Asset)
            .where(Asset.sha256 == asset.sha256, Asset.project_id != project.id)
        )
        if not shared:
            files.append(store.asset_path(asset))
        session.delete(asset)
    session.delete(project)
    session.flush()
    return files


def remove_files(store: Store, files: list[Path]) -> None:
    """Remove files (and folders) inside the studio home, then the take folders left empty."""
    home = store.home.resolve()
    for path in files:
        path = path.resolve()
        if home not in path.parents:  # never outside the studio, whatever a record says
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        parent = path.parent
        if parent.parent == store.takes.resolve():
            with contextlib.suppress(OSError):  # not empty: another take of the job is still there
                parent.rmdir()
