"""``shotcraft serve``, ``shotcraft worker`` and ``shotcraft keys create``: the studio's processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shotcraft.shipping import Storage
    from shotcraft.studio.store import Store

from shotcraft.cli.app import app, console, friendly, out

keys_app = typer.Typer(help="Manage the studio's API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

HOME_HELP = "The studio's folder (database, uploads, takes); env SHOTCRAFT_HOME."
DB_HELP = (
    "A database URL (postgresql://...) instead of the SQLite file in --home; env SHOTCRAFT_DATABASE_URL."
)
RAY_HELP = "Run the jobs as tasks on a Ray cluster: auto (local) or its ADDRESS (host:port)."
STORAGE_HELP = (
    "With --ray: a folder every node reaches, as an fsspec URL (file:///shared/folder, s3://bucket/prefix), "
    "through which the jobs' files move; default: Ray's object store."
)


def _ray_options(ray: str | None, storage: str | None) -> Storage | None:
    """Check --ray and --storage before anything starts: Ray installed, the storage reachable."""
    from shotcraft.executors import require_ray
    from shotcraft.shipping import Storage

    if ray is None:
        if storage is not None:
            raise typer.BadParameter("--storage is where Ray tasks exchange files: use it with --ray")
        return None
    require_ray()
    return Storage(storage) if storage is not None else None


def _home(home: Path | None) -> Path:
    return home or Path(os.environ.get("SHOTCRAFT_HOME", "shotcraft-studio"))


def _open(home: Path | None, database_url: str | None) -> Store:
    from shotcraft.studio.store import Store

    return Store.open(_home(home), database_url)


@keys_app.command("create")
@friendly
def keys_create(
    name: str = typer.Option("default", help="A name to tell keys apart."),
    max_jobs: int = typer.Option(4, help="Most queued or running jobs at once."),
    max_storage_gb: float = typer.Option(20.0, help="Most storage (uploads and takes), in GB."),
    home: Path | None = typer.Option(None, help=HOME_HELP),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Create an API key and print its secret (shown once; only its hash is stored)."""
    store = _open(home, database_url)
    key, secret = store.create_key(
        name, max_concurrent_jobs=max_jobs, max_storage_bytes=int(max_storage_gb * 1024**3)
    )
    console.print(
        f"created key {key.id} ({key.name}); keep the secret below, it is not stored", highlight=False
    )
    out.print(secret, highlight=False)


@app.command()
@friendly
def worker(
    home: Path | None = typer.Option(None, help=HOME_HELP),
    database_url: str | None = typer.Option(None, help=DB_HELP),
    lease_seconds: float = typer.Option(
        30.0, help="A job whose worker is silent this long goes back to the queue."
    ),
    chunk_frames: int = typer.Option(64, help="Frames per resumable chunk of a transform."),
    poll_seconds: float = typer.Option(0.5, help="How often an idle worker looks for work."),
    parent_pid: int | None = typer.Option(
        None, hidden=True, help="Stop when this process (the serve that started the worker) is gone."
    ),
    ray: str | None = typer.Option(None, "--ray", help=RAY_HELP + " One such worker serves the cluster."),
    storage: str | None = typer.Option(None, "--storage", help=STORAGE_HELP),
) -> None:
    """Run jobs from the studio's queue (start as many as the machine has room for)."""
    from shotcraft.studio.worker import Worker

    shared = _ray_options(ray, storage)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options = {"lease_seconds": lease_seconds, "poll_seconds": poll_seconds, "chunk_frames": chunk_frames,
               "parent_pid": parent_pid}  # fmt: skip
    runner: Worker
    if ray is not None:
        from shotcraft.studio.cluster import RayDispatcher

        runner = RayDispatcher(_open(home, database_url), ray, storage=shared, **options)
    else:
        runner = Worker(_open(home, database_url), **options)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.stop())
    runner.run_forever()


class _Supervisor:
    """Keeps ``count`` worker processes running beside the API; a dead worker is replaced."""

    def __init__(self, command: list[str], count: int):
        self.command, self.count = command, count
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self.processes = [subprocess.Popen(self.command) for _ in range(self.count)]
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self.processes):
                if proc.poll() is not None and not self._stop.is_set():
                    console.print(
                        f"worker {proc.pid} exited ({proc.returncode}); starting another", highlight=False
                    )
                    self.processes[i] = subprocess.Popen(self.command)

    def stop(self) -> None:
        self._stop.set()
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
@friendly
def serve(
    home: Path | None = typer.Option(None, help=HOME_HELP),
    database_url: str | None = typer.Option(None, help=DB_HELP),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (0.0.0.0 exposes the studio to the network)."
    ),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        help="Worker processes to run beside the API (0: run them with `shotcraft worker`); with --ray, "
        "one process hands the jobs to the cluster.",
    ),
    max_upload_mb: float = typer.Option(2048, help="Largest upload accepted, in MB."),
    lease_seconds: float = typer.Option(30.0, help="Passed to the workers (see `shotcraft worker`)."),
    chunk_frames: int = typer.Option(64, help="Passed to the workers (see `shotcraft worker`)."),
    secure_cookie: bool | None = typer.Option(
        None,
        "--secure-cookie/--no-secure-cookie",
        help="Mark the session cookie Secure (https only); default: when the request came over https.",
    ),
    ray: str | None = typer.Option(None, "--ray", help=RAY_HELP),
    storage: str | None = typer.Option(None, "--storage", help=STORAGE_HELP),
) -> None:
    """Serve the REST API and the web studio, with worker processes beside it (or a Ray cluster's)."""
    import uvicorn
    from sqlalchemy import func, select

    from shotcraft.server.app import create_app
    from shotcraft.studio.models import ApiKey

    _ray_options(ray, storage)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = _open(home, database_url)
    with store.read() as s:
        has_keys = bool(s.scalar(select(func.count()).select_from(ApiKey)))
    url = f"http://{host}:{port}/"
    if not has_keys:
        _, secret = store.create_key("local")
        console.print(
            f"first start: created API key 'local'. Open the studio at {url}#key={secret}", highlight=False
        )
    else:
        console.print(f"studio at {url} (create a key with `shotcraft keys create`)", highlight=False)
    command = [sys.executable, "-m", "shotcraft", "worker", "--home", str(store.home)]
    command += ["--lease-seconds", str(lease_seconds), "--chunk-frames", str(chunk_frames)]
    command += ["--parent-pid", str(os.getpid())]
    if database_url:
        command += ["--database-url", database_url]
    if ray is not None:  # one dispatcher runs every job on the cluster
        command += ["--ray", ray] + (["--storage", storage] if storage else [])
        workers = min(workers, 1)
    supervisor = _Supervisor(command, workers)
    # uvicorn re-raises the SIGTERM it caught once it has shut down; under the default handler that would end
    # this process before the `finally` below stops the workers, leaving them running as orphans.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    supervisor.start()
    try:
        uvicorn.run(
            create_app(store, max_upload_bytes=int(max_upload_mb * 1024**2), secure_cookies=secure_cookie),
            host=host,
            port=port,
            log_level="warning",
        )
    finally:
        supervisor.stop()
