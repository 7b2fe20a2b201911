"""What many workers on one shared store must never see (run on SQLite and PostgreSQL, where SQLite's
whole-database write lock no longer hides a race): a job leased twice, or a job that both finishes and
goes back to the queue."""

from __future__ import annotations

import threading
import time

from tests.studio.test_queue import key, queued  # noqa: F401 - fixtures

from shotcraft.studio import jobs
from shotcraft.studio.models import Job, Take


def test_workers_racing_for_jobs_each_lease_a_different_one(store, queued):  # noqa: F811
    queued_ids = {queued().id for _ in range(6)}
    start = threading.Barrier(4)
    claimed: list[str] = []

    def work(name: str) -> None:
        start.wait()
        while (job := jobs.claim(store, name, lease_seconds=30)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(queued_ids)  # every job once, none twice


def test_a_lease_expiring_while_the_outputs_commit_gives_one_owner(store, queued, monkeypatch):  # noqa: F811
    """Worker A's lease expires while A is committing its take; worker B sweeps and claims at that moment.
    Either A's take lands and B gets nothing, or A is told its lease was lost and B runs the job: never both."""
    job = queued()
    a = jobs.claim(store, "a", lease_seconds=0.2)
    time.sleep(0.3)  # A's lease has expired, but A has not noticed
    rival: dict[str, object] = {}
    real_take = Take

    def take_then_rival(**fields):
        # Inside A's commit, after A found its job: B tries to sweep and claim (waiting at most 2 s).
        thread = threading.Thread(target=lambda: rival.update(job=jobs.claim(store, "b", lease_seconds=30)))
        thread.start()
        thread.join(2)
        rival["thread"] = thread
        return real_take(**fields)

    monkeypatch.setattr(jobs, "Take", take_then_rival)
    record = jobs.TakeRecord(
        name="take", kind="transform", path="takes/x.mp4", size_bytes=1, engine="classic", spec={},
        frame_count=1, fps="25", model=None, seed=None, info={},
    )  # fmt: skip
    try:
        jobs.finish(store, a.lease_token, [record])
        a_finished = True
    except jobs.LeaseLost:
        a_finished = False
    rival["thread"].join(30)
    b_claimed = rival.get("job") is not None
    assert a_finished != b_claimed
    with store.read() as s:
        final = s.get(Job, job.id)
        takes = s.query(Take).filter(Take.job_id == job.id).count()
    assert (final.state, takes) == (("succeeded", 1) if a_finished else ("running", 0))
