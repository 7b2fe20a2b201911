"""The API's loose ends (issue 9): decompression bombs, refused uploads that leave files, integers and lists
without bounds, server paths shown to clients, the session cookie, security headers, the OpenAPI document,
and workers that outlive their serve."""

from __future__ import annotations

import json
import os
import signal
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from tests.studio.conftest import (
    TEST_UPLOAD_LIMIT,
    add_video_asset,
    start_serve_with_worker,
    wait_for,
)
from tests.studio.test_api import assert_error, job_body, upload

from shotcraft.server.app import create_app
from shotcraft.studio import jobs
from shotcraft.studio.models import ApiKey, Job, utcnow


def stored_files(store) -> list[Path]:
    """Every file in the blob store (uploads in progress included)."""
    return [p for p in store.blobs.rglob("*") if p.is_file()]


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims ``width`` x ``height`` pixels (what a decompression bomb looks like to
    ``Image.open``): the signature, the header chunk, a little compressed data and the end."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    data = zlib.compress(bytes(1 + (width + 7) // 8) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def still(tmp_path: Path, name: str, size: tuple[int, int] = (64, 48), value: int = 255) -> Path:
    path = tmp_path / name
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


# -- uploads ----------------------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_with_413_and_leaves_nothing(client, project, store):
    response = client.post(
        f"/api/projects/{project['id']}/assets",
        params={"filename": "bomb.png"},
        content=png_header_only(30000, 30000),
    )
    assert_error(response, 413, "pixels")
    assert stored_files(store) == []
    # Below Pillow's hard limit but above the server's: refused the same way (the limit is a setting).
    with TestClient(create_app(store, max_image_pixels=1000)) as small:
        small.headers.update(client.headers)
        response = small.post(f"/api/projects/{project['id']}/assets", content=png_header_only(100, 100))
        assert_error(response, 413, "100x100", "1000")
    assert stored_files(store) == []


def test_an_upload_refused_by_the_storage_limit_leaves_no_file(client, project, store, tmp_path):
    first = upload(client, project, still(tmp_path, "a.png", value=1)).json()
    with store.write() as s:
        for key in s.scalars(select(ApiKey)):
            key.max_storage_bytes = first["size_bytes"] + 10
    before = sorted(stored_files(store))
    assert_error(upload(client, project, still(tmp_path, "b.png", value=2)), 413, "storage limit")
    assert sorted(stored_files(store)) == before  # no orphan blob, nothing left in incoming/
    assert client.get("/api/me").json()["usage"]["storage_bytes"] == first["size_bytes"]


def test_no_server_path_in_upload_errors(client, project, store):
    for broken in (b"\xff\xd8\xff" + b"garbage" * 20, b"RIFF\0\0\0\0WEBP" + b"garbage" * 20):
        response = client.post(f"/api/projects/{project['id']}/assets", content=broken)
        assert_error(response, 415, "cannot be read")
        assert str(store.home) not in response.text and "incoming" not in response.text


# -- integers and lists in specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"seed": 2**63}, "seed"),
        ({"seed": -1}, "seed"),
        ({"operations": [{"op": "relight", "preset": "night"}] * 10_000}, "at most 16"),
        ({"locks": [{"kind": "people"}] * 65}, "at most 64"),
        ({"keyframes": [{"at": {"frame": 0}, "image": "asset:x"}] * 65}, "at most 64"),
        ({"locks": [{"kind": "rect", "x": 2**40, "y": 0, "width": 4, "height": 4}]}, "locks.0.rect.x"),
        ({"keyframes": [{"at": {"frame": 2**63}, "image": "asset:x"}]}, "frame"),
        ({"output": {"crf": 2**70}}, "crf"),
        ({"prompt": "x" * 20_000}, "prompt"),
    ],
)
def test_out_of_range_numbers_and_long_lists_are_refused_before_queueing(
    client, project, store, tiny_clip, spec, field
):
    asset = upload(client, project, tiny_clip).json()
    assert_error(client.post("/api/jobs", json=job_body(project, asset, **spec)), 422, field)
    with store.read() as s:
        assert s.scalars(select(Job)).all() == []


def test_invent_and_localize_ranges(client, project, tiny_clip):
    asset = upload(client, project, tiny_clip).json()
    invent = {"project_id": project["id"], "kind": "invent", "spec": {"prompt": "a car", "seed": 2**64}}
    response = client.post("/api/jobs", json=invent)
    assert response.status_code in (422, 501), response.text  # 501 where this install cannot invent
    if response.status_code == 422:
        assert "seed" in response.json()["error"]["message"]
    markets = [f"m{i}" for i in range(65)]
    localize = {"project_id": project["id"], "kind": "localize", "source_asset_id": asset["id"]}
    response = client.post("/api/jobs", json={**localize, "spec": {"markets": markets}})
    assert response.status_code in (422, 501), response.text
    if response.status_code == 422:
        assert "at most 64" in response.json()["error"]["message"]


def test_a_queued_job_with_a_bad_spec_fails_once_without_retrying(store, secret, tiny_clip, worker):
    """A job queued past the API (or before these limits) with 10,000 operations fails at once with the
    reason, instead of rendering, crashing and being retried."""
    key = store.key_for_secret(secret)
    project = jobs.create_project(store, key.id, "p")
    asset = add_video_asset(store, key, project.id, tiny_clip)
    spec = {"operations": [{"op": "relight", "preset": "night"}] * 10_000, "seed": 2**63}
    job = jobs.enqueue(store, key, project.id, "transform", spec, source_asset_id=asset.id)
    assert worker.run_once()
    final = store.job(job.id)
    assert final.state == "failed" and final.attempts == 1
    assert "at most 16" in final.error and "seed" in final.error
    assert not worker.run_once()  # nothing was put back in the queue
    assert not store.job_output_dir(job.id).exists() and not store.job_work_dir(job.id).exists()


# -- asset references and server paths ------------------------------------------------------------------------


def test_asset_references_only_in_file_fields_and_no_server_path_is_shown(
    client, project, store, tiny_clip, worker, tmp_path
):
    asset = upload(client, project, tiny_clip).json()
    mask = upload(client, project, still(tmp_path, "mask.png")).json()
    prompt = f"make {mask['ref']} glow"
    spec = {
        "locks": [{"kind": "mask", "path": mask["ref"]}],
        "operations": [{"op": "relight", "preset": "night"}],
    }
    job = client.post("/api/jobs", json=job_body(project, asset, **spec))
    assert job.status_code == 202, job.text
    assert job.json()["spec"]["locks"][0]["path"] == mask["ref"]
    assert worker.run_once()
    done = client.get(f"/api/jobs/{job.json()['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    take = client.get(f"/api/takes/{done['take_ids'][0]}").json()
    assert take["spec"]["locks"][0]["path"] == mask["ref"]
    for text in (json.dumps(done), json.dumps(take), client.get(f"/api/projects/{project['id']}/takes").text):
        assert str(store.home) not in text and "blobs/" not in text

    # Free text is text: "asset:<id>" in a prompt is neither replaced nor echoed as a path.
    with_prompt = client.post("/api/jobs", json=job_body(project, asset, prompt=prompt))
    assert with_prompt.status_code == 202, with_prompt.text
    assert with_prompt.json()["spec"]["prompt"] == prompt
    assert str(store.home) not in with_prompt.text


def test_advice_names_assets_not_server_files(client, project, store, tiny_clip, tmp_path):
    clip = upload(client, project, tiny_clip).json()
    image = upload(client, project, still(tmp_path, "start.png")).json()
    advice = client.post(
        "/api/advise",
        json={
            "project_id": project["id"],
            "goal": "make a new shot from this still",
            "image_asset_ids": [image["id"]],
            "reference_asset_ids": [image["id"]],
            "clip_asset_id": clip["id"],
        },
    )
    assert advice.status_code == 200, advice.text
    assert str(store.home) not in advice.text and image["sha256"] not in advice.text
    assert image["ref"] in advice.text


def test_errors_name_assets_not_server_files(client, project, store, secret, tiny_clip, worker, tmp_path):
    asset = upload(client, project, tiny_clip).json()
    small = upload(client, project, still(tmp_path, "small.png", size=(10, 10))).json()
    refused = client.post(
        "/api/jobs", json=job_body(project, asset, locks=[{"kind": "mask", "path": small["ref"]}])
    )
    assert_error(refused, 422, "small.png", "10x10")  # named as the user named it, never by id or hash
    assert str(store.home) not in refused.text and small["sha256"] not in refused.text

    # A job whose file went away after it was queued fails with the asset's name, not the blob's path.
    mask = upload(client, project, still(tmp_path, "mask.png")).json()
    job = client.post(
        "/api/jobs", json=job_body(project, asset, locks=[{"kind": "mask", "path": mask["ref"]}])
    )
    assert job.status_code == 202
    store.blob_path(mask["sha256"]).unlink()
    assert worker.run_once()
    failed = client.get(f"/api/jobs/{job.json()['id']}").json()
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert "mask.png" in failed["error"] and str(store.home) not in failed["error"], failed["error"]
    assert mask["id"] not in failed["error"] and mask["sha256"] not in failed["error"]


def test_the_plan_is_checked_before_a_job_is_queued(client, project, store, tiny_clip, tmp_path, monkeypatch):
    asset = upload(client, project, tiny_clip).json()
    key = upload(client, project, still(tmp_path, "key.png")).json()
    late = {"keyframes": [{"at": {"frame": 100}, "image": key["ref"]}], "operations": [{"op": "restyle"}]}
    assert_error(
        client.post("/api/jobs", json=job_body(project, asset, **late)), 422, "frame 100", "12 frames"
    )

    # Whatever the plan refuses (a pixel budget, a format that does not fit its container) is refused here.
    import shotcraft.plan
    from shotcraft.errors import MediaError

    def over_budget(source, spec):
        raise MediaError(f"{source} is more pixels than this server renders (limit 1)")

    monkeypatch.setattr(shotcraft.plan, "plan_transform", over_budget)
    response = client.post("/api/jobs", json=job_body(project, asset))
    assert_error(response, 422, "limit 1", "tiny.mp4")
    assert str(store.home) not in response.text
    with store.read() as s:
        assert s.scalars(select(Job)).all() == []


# -- sessions and headers --------------------------------------------------------------------------------------


def test_the_session_cookie_is_a_revocable_token_not_the_key(client, store, secret):
    from shotcraft.studio.models import BrowserSession

    client.headers.pop("Authorization")
    response = client.post("/api/session", json={"key": secret})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert secret not in cookie and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # served over plain http here
    token = client.cookies.get("shotcraft_session")
    assert token and token != secret
    with store.read() as s:
        rows = s.scalars(select(BrowserSession)).all()
    assert len(rows) == 1 and token not in rows[0].token_hash  # only the hash is at rest
    assert client.get("/api/me").status_code == 200

    client.delete("/api/session")  # sign out: the token is dead, even if someone kept a copy
    client.cookies.set("shotcraft_session", token)
    assert_error(client.get("/api/me"), 401, "session")

    client.post("/api/session", json={"key": secret})
    with store.write() as s:  # expired
        for row in s.scalars(select(BrowserSession)):
            row.expires_at = utcnow() - timedelta(seconds=1)
    assert_error(client.get("/api/me"), 401)

    client.post("/api/session", json={"key": secret})
    assert client.get("/api/me").status_code == 200
    with store.write() as s:  # revoked by deleting its row
        for row in s.scalars(select(BrowserSession)):
            s.delete(row)
    assert_error(client.get("/api/me"), 401)


def test_the_session_cookie_is_secure_over_https(store, secret):
    for app, base in (
        (create_app(store), "https://studio.example"),
        (create_app(store, secure_cookies=True), "http://x"),
    ):
        with TestClient(app, base_url=base) as c:
            assert "secure" in c.post("/api/session", json={"key": secret}).headers["set-cookie"].lower()


def test_security_headers(client):
    for path in ("/", "/static/app.js", "/api/health", "/api/projects", "/api/nowhere"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
    csp = client.get("/").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp


# -- the OpenAPI document ------------------------------------------------------------------------------------


def test_openapi_documents_errors_security_and_job_kinds(client):
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"].lower() == "bearer"
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    create = doc["paths"]["/api/jobs"]["post"]
    assert {"400", "401", "404", "413", "422", "429"} <= set(create["responses"]) | {"400"}
    assert create["security"]
    upload_op = doc["paths"]["/api/projects/{project_id}/assets"]["post"]
    assert {"400", "401", "404", "413", "415", "422"} <= set(upload_op["responses"])
    error = create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/ErrorBody")
    kind = doc["components"]["schemas"]["NewJob"]["properties"]["kind"]
    assert set(kind["enum"]) == {"transform", "invent", "localize"}
    assert "security" not in doc["paths"]["/api/health"]["get"]


def test_405_names_the_allowed_methods(client):
    response = client.delete("/api/projects")
    assert_error(response, 405, "method")
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert set(client.put("/api/takes/take_x").headers["allow"].replace(" ", "").split(",")) == {
        "GET",
        "PATCH",
        "DELETE",
    }


# -- workers outlive no serve ----------------------------------------------------------------------------


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_whose_serve_was_killed_exits(store, processes, tmp_path):
    store.close()
    server, worker_pid = start_serve_with_worker(store, processes, tmp_path / "serve.log")
    server.send_signal(signal.SIGKILL)
    server.wait()
    try:
        wait_for(
            lambda: not _running(worker_pid), 60, f"worker {worker_pid} to exit after its serve was killed"
        )
    finally:
        if _running(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def test_oversize_upload_limit_still_applies(client, project):
    big = b"\x89PNG\r\n\x1a\n" + bytes(TEST_UPLOAD_LIMIT)
    assert_error(client.post(f"/api/projects/{project['id']}/assets", content=big), 413, "limit")
