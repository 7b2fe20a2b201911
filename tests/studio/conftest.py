"""Studio fixtures: a store in a temp folder, a key, an API client, worker processes that are always stopped,
and a tiny random model for invent jobs."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shotcraft.server.app import create_app
from shotcraft.studio.models import ApiKey, Asset
from shotcraft.studio.store import Store
from shotcraft.studio.worker import Worker

#: Largest upload the test app accepts, so oversize uploads are cheap to send.
TEST_UPLOAD_LIMIT = 4 * 1024 * 1024


#: The test files that run on PostgreSQL as well as SQLite: the store's own behaviour (leases, retries,
#: resuming, concurrency, migrations, every job kind's records). The API and browser files above the store
#: run on SQLite only, so the suite stays inside its time budget; they share the store's code path.
BOTH_DATABASES = {"test_queue.py", "test_store_concurrency.py", "test_fault.py", "test_job_kinds.py",
                  "test_studio_api.py"}  # fmt: skip
#: Files that run on PostgreSQL only: the studio on a Ray cluster, whose store is shared by the cluster's
#: machines, which a SQLite file cannot be.
POSTGRESQL_ONLY = {"test_ray_studio.py"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" in metafunc.fixturenames:
        name = Path(metafunc.definition.fspath).name
        databases = ["sqlite", "postgresql"] if name in BOTH_DATABASES else ["sqlite"]
        metafunc.parametrize(
            "database", ["postgresql"] if name in POSTGRESQL_ONLY else databases, indirect=True
        )


@pytest.fixture
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """The database a studio test runs on: SQLite in the home folder, then a fresh PostgreSQL database on
    the server ``SHOTCRAFT_TEST_DATABASE_URL`` names (``.ci/postgres`` starts one; CI always has it).
    Processes the test starts find it through ``SHOTCRAFT_DATABASE_URL``."""
    if request.param == "sqlite":
        yield None
        return
    admin = os.environ.get("SHOTCRAFT_TEST_DATABASE_URL")
    if not admin:
        pytest.skip("no PostgreSQL server configured: set SHOTCRAFT_TEST_DATABASE_URL (source .ci/postgres)")
    import psycopg

    name = f"shotcraft_test_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    monkeypatch.setenv("SHOTCRAFT_DATABASE_URL", url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(tmp_path: Path, database: str | None) -> Iterator[Store]:
    s = Store.open(tmp_path / "studio", database)
    yield s
    s.close()


@pytest.fixture
def secret(store: Store) -> str:
    return store.create_key("test", max_concurrent_jobs=8)[1]


@pytest.fixture
def client(store: Store, secret: str) -> Iterator[TestClient]:
    with TestClient(create_app(store, max_upload_bytes=TEST_UPLOAD_LIMIT)) as c:
        c.headers["Authorization"] = f"Bearer {secret}"
        yield c


@pytest.fixture
def project(client: TestClient) -> dict:
    return client.post("/api/projects", json={"name": "test"}).json()


@pytest.fixture
def worker(store: Store) -> Worker:
    """An in-process worker: ``worker.run_once()`` runs the next queued job."""
    return Worker(store, name="test", lease_seconds=5, chunk_frames=8)


def add_video_asset(store: Store, key: ApiKey, project_id: str, clip: Path) -> Asset:
    """``clip`` as a video asset of the project, stored as an upload stores it (a blob named by its hash),
    for tests that queue jobs without going through the API."""
    data = clip.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    blob = store.blob_path(sha256)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    with store.write() as s:
        asset = Asset(
            project_id=project_id,
            owner_key_id=key.id,
            sha256=sha256,
            kind="video",
            media_type="video/mp4",
            name=clip.name,
            size_bytes=len(data),
        )
        s.add(asset)
    return asset


#: The model an invent job uses when its spec names none: the registry's default for inventing from a prompt.
INVENT_MODEL = "wan2.1-vace-1.3b"


@pytest.fixture(scope="session")
def tiny_invent_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding a tiny random pipeline under the default invent model's name, built by the
    diffusion tests' builders and saved like real weights."""
    pytest.importorskip("diffusers")
    from tests.diffusion.conftest import TINY

    root = tmp_path_factory.mktemp("models")
    TINY[INVENT_MODEL]().save_pretrained(root / INVENT_MODEL)
    return root


@pytest.fixture
def invent_env(tiny_invent_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The engine settings pointing at the tiny invent model, for this process and the ones it starts."""
    from tests.diffusion.conftest import use_tiny_models

    return use_tiny_models(monkeypatch, tiny_invent_models)


@pytest.fixture(scope="session")
def tiny_clip(clip_factory) -> Path:
    """12 frames of real footage at 64x48 with stereo audio: the cheapest clip a job can run on."""
    return clip_factory(
        "tiny.mp4", frames=12, width=64, height=48, fps=Fraction(25), footage="bikes", audio_channels=2
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Child processes started by a test; every one is stopped when the test ends, whatever happens."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "shotcraft", *args], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.stop_all()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def serve_studio(processes: Processes, home: Path, log: Path, workers: int = 1) -> str:
    """``shotcraft serve`` on a free port with ``workers`` worker processes; its address once it answers."""
    import httpx

    port = free_port()
    processes.start(
        "serve", "--home", str(home), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        log=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 60, "the studio server", interval=0.2)
    return base


def start_serve_with_worker(store, processes, log: Path):
    """``shotcraft serve`` on a free port with its log at ``log``; returns the server process and the pid
    of the worker it started (read from the log)."""
    server = processes.start("serve", "--home", str(store.home), "--port", str(free_port()), log=log)
    started = wait_for(
        lambda: re.search(r"worker \S+:(\d+) started", log.read_text(errors="replace")), 90, "the worker"
    )
    return server, int(started.group(1))


#: Debian's browser, driven by the playwright package (``make browser`` installs both); nothing is downloaded.
CHROMIUM = Path("/usr/bin/chromium")


def skip_without_browser() -> None:
    """Skip a browser test module where the browser is missing (in CI it must be there: the tests then fail)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        installed = False
    else:
        installed = CHROMIUM.exists()
    if not installed and os.environ.get("CI", "").lower() != "true":
        pytest.skip(
            "needs Debian's chromium and the playwright package (run `make browser`)", allow_module_level=True
        )


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for every browser test; each test opens its own context (cookies, storage)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def wait_in_page(page, expression: str, arg=None, timeout: float = 30, what: str | None = None):
    """Poll a JS function of ``arg`` in the page until it returns something truthy. (Playwright's
    ``wait_for_function`` polls with ``eval``, which the studio's Content-Security-Policy rightly refuses.)"""
    return wait_for(lambda: page.evaluate(expression, arg), timeout, what or expression, interval=0.1)
