"""Schemathesis against the app's own ``/openapi.json``, in-process: generated requests to every operation
(with a valid key), each answer checked for server errors and against the document (status code, content
type, headers, body schema). Bounded and seeded: the same requests on every run, a minute at most."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shotcraft.server.app import create_app  # noqa: E402
from shotcraft.studio.store import Store  # noqa: E402

#: Generated cases per operation (about 20 operations).
EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# The schema is loaded when the module is collected (schemathesis makes one test per operation from it), so the
# app's store is made here and removed when the module's tests are done.
_HOME = Path(tempfile.mkdtemp(prefix="shotcraft-fuzz-"))
_STORE = Store.open(_HOME / "studio")
_SECRET = _STORE.create_key("fuzz", max_concurrent_jobs=1000)[1]
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_STORE, max_upload_bytes=1 << 20))


@pytest.fixture(scope="module", autouse=True)
def _remove_store() -> Iterator[None]:
    yield
    _STORE.close()
    shutil.rmtree(_HOME, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {_SECRET}"}, checks=CHECKS)
