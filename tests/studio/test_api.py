"""Every endpoint of the REST API, including auth failures, bad uploads, unknown ids and path tricks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.studio.conftest import TEST_UPLOAD_LIMIT

from shotcraft.media.probe import probe


def upload(client, project, path: Path, name: str | None = None):
    return client.post(
        f"/api/projects/{project['id']}/assets",
        params={"filename": name or path.name},
        content=path.read_bytes(),
    )


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert response.json()["error"]["status"] == status
    for word in words:
        assert word in message, message


def test_health_and_openapi_need_no_key(client):
    client.headers.pop("Authorization")
    assert client.get("/api/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/jobs" in paths and "/api/projects/{project_id}/assets" in paths


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "API key is required"),
        ({"Authorization": "Bearer sc_wrong"}, "not valid"),
        ({"X-API-Key": "nope"}, "not valid"),
    ],
)
def test_every_protected_route_refuses_a_missing_or_wrong_key(client, headers, reason):
    client.headers.pop("Authorization")
    for method, path in [
        ("GET", "/api/me"),
        ("GET", "/api/projects"),
        ("POST", "/api/projects"),
        ("POST", "/api/projects/prj_x/assets"),
        ("GET", "/api/assets/ast_x/content"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/job_x/events"),
        ("POST", "/api/jobs/job_x/cancel"),
        ("GET", "/api/takes/take_x/content"),
        ("POST", "/api/advise"),
    ]:
        assert_error(client.request(method, path, headers=headers, json={}), 401, reason)


def test_a_revoked_key_and_another_keys_objects(client, store, project):
    other = store.create_key("other")[1]
    assert_error(
        client.get(f"/api/projects/{project['id']}", headers={"Authorization": f"Bearer {other}"}),
        404,
        "does not exist",
    )
    from shotcraft.studio.models import ApiKey

    with store.write() as s:
        for key in s.query(ApiKey).all():
            key.revoked = True
    assert_error(client.get("/api/projects"), 401, "revoked")


def test_session_cookie_authorises_the_browser(client, secret):
    client.headers.pop("Authorization")
    assert_error(client.post("/api/session", json={"key": "sc_bad"}), 401)
    response = client.post("/api/session", json={"key": secret})
    assert response.status_code == 200 and "httponly" in response.headers["set-cookie"].lower()
    assert client.get("/api/me").json()["key"]["name"] == "test"
    client.delete("/api/session")
    client.cookies.clear()
    assert client.get("/api/me").status_code == 401


def test_projects(client, project):
    assert [p["id"] for p in client.get("/api/projects").json()] == [project["id"]]
    assert client.get(f"/api/projects/{project['id']}").json()["name"] == "test"
    assert_error(client.post("/api/projects", json={"name": ""}), 422, "name")
    assert_error(client.get("/api/projects/prj_unknown"), 404, "prj_unknown")


def test_upload_video_and_image_deduplicated_and_downloadable(client, project, tiny_clip, tmp_path):
    first = upload(client, project, tiny_clip)
    assert first.status_code == 201
    asset = first.json()
    assert asset["kind"] == "video" and asset["info"]["video"]["frame_count"] == 12
    again = upload(client, project, tiny_clip, name="copy.mp4")
    assert again.status_code == 200 and again.json()["id"] == asset["id"]
    image = tmp_path / "still.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(image)
    still = upload(client, project, image, name="still.jpg")  # the name lies; the bytes decide
    assert still.status_code == 201 and still.json()["media_type"] == "image/png"
    assert [a["id"] for a in client.get(f"/api/projects/{project['id']}/assets").json()] == [
        asset["id"],
        still.json()["id"],
    ]
    assert client.get(f"/api/assets/{asset['id']}").json()["sha256"] == asset["sha256"]
    body = client.get(asset["content_url"]).content
    assert body == tiny_clip.read_bytes()
    assert_error(client.get("/api/assets/ast_unknown"), 404)
    assert_error(client.get("/api/assets/ast_unknown/content"), 404)


def test_oversize_upload_is_refused_and_leaves_nothing(client, project, store):
    big = b"\x00\x00\x00\x18ftypisom" + bytes(TEST_UPLOAD_LIMIT)
    assert_error(client.post(f"/api/projects/{project['id']}/assets", content=big), 413, "limit")

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield big[: TEST_UPLOAD_LIMIT // 2]
        yield big[TEST_UPLOAD_LIMIT // 2 :]

    assert_error(client.post(f"/api/projects/{project['id']}/assets", content=chunks()), 413, "limit")
    assert not any(p.is_file() for p in store.blobs.rglob("*"))


def test_non_video_uploads_are_refused_by_content(client, project, tmp_path):
    text = tmp_path / "clip.mp4"
    text.write_text("this is not a video, whatever its name says")
    assert_error(upload(client, project, text), 415, "not a video clip or an image")
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(200))  # an MP4 signature with nothing behind it
    assert_error(upload(client, project, fake), 415, "not a usable video")
    assert_error(client.post(f"/api/projects/{project['id']}/assets", content=b""), 400, "empty")
    assert_error(upload(client, {"id": "prj_unknown"}, text), 404)


def test_path_traversal_in_a_file_name_never_reaches_the_disk(client, project, tiny_clip, store, tmp_path):
    for name in ("../../../../tmp/evil.mp4", "..\\..\\evil.mp4", "/etc/passwd"):
        response = upload(client, project, tiny_clip, name=name)
        assert response.status_code in (200, 201)
    asset = response.json()
    assert "/" not in asset["name"] and "\\" not in asset["name"] and ".." not in asset["name"]
    files = [
        p
        for p in store.home.rglob("*")
        if p.is_file() and p.suffix not in (".db", ".lock") and "studio.db" not in p.name
    ]
    assert files == [store.blob_path(asset["sha256"])]
    assert not Path("/tmp/evil.mp4").exists()


def job_body(project, asset, **spec):
    """A transform of ``asset``; one that names no operation relights for night (a transform that changes
    nothing is refused)."""
    spec.setdefault("operations", [{"op": "relight", "preset": "night"}])
    return {"project_id": project["id"], "kind": "transform", "source_asset_id": asset["id"], "spec": spec}


def test_jobs_takes_lineage_range_download_and_events(client, project, tiny_clip, worker, store):
    asset = upload(client, project, tiny_clip).json()
    spec = {
        "operations": [{"op": "relight", "preset": "night"}],
        "locks": [{"kind": "rect", "x": 0, "y": 0, "width": 16, "height": 16}],
    }
    job = client.post("/api/jobs", json=job_body(project, asset, **spec))
    assert job.status_code == 202 and job.json()["state"] == "queued"
    job = job.json()
    assert worker.run_once()
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["state"] == "succeeded" and done["progress"] == 1.0 and len(done["take_ids"]) == 1
    assert [j["id"] for j in client.get(f"/api/projects/{project['id']}/jobs").json()] == [job["id"]]
    events = client.get(f"/api/jobs/{job['id']}/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in events.text.split("\n\n") if b.startswith("event:")]
    assert (
        blocks[-1].startswith("event: end")
        and json.loads(blocks[-1].split("data: ", 1)[1])["state"] == "succeeded"
    )

    takes = client.get(f"/api/projects/{project['id']}/takes").json()
    assert len(takes) == 1 and takes[0]["engine"] == "classic" and takes[0]["frame_count"] == 12
    take = takes[0]
    # A second transform from the take: its lineage leads back through the first take to the upload.
    child_job = client.post(
        "/api/jobs",
        json={
            "project_id": project["id"],
            "kind": "transform",
            "source_take_id": take["id"],
            "spec": {"operations": [{"op": "relight", "exposure": 0.5}]},
        },
    ).json()
    assert worker.run_once()
    child_id = client.get(f"/api/jobs/{child_job['id']}").json()["take_ids"][0]
    lineage = client.get(f"/api/takes/{child_id}").json()["lineage"]
    assert [(x["type"], x["id"]) for x in lineage] == [("take", take["id"]), ("asset", asset["id"])]
    assert client.patch(f"/api/takes/{take['id']}", json={"picked": True}).json()["picked"] is True

    whole = client.get(take["content_url"])
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(take["content_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert client.get(take["content_url"], headers={"Range": "bytes=999999999-"}).status_code == 416
    path = store.home / "out.mp4"
    path.write_bytes(whole.content)
    assert probe(path).video.frame_count == 12
    for url in (
        f"/api/takes/{'take_unknown'}",
        "/api/takes/take_unknown/content",
        "/api/jobs/job_unknown",
        "/api/jobs/job_unknown/events",
    ):
        assert_error(client.get(url), 404)
    assert_error(client.patch("/api/takes/take_unknown", json={"picked": True}), 404)
    assert_error(client.post("/api/jobs/job_unknown/cancel"), 404)


def test_bad_job_requests_get_clear_errors(client, project, tiny_clip, tmp_path):
    asset = upload(client, project, tiny_clip).json()
    assert_error(
        client.post("/api/jobs", json={**job_body(project, asset), "kind": "teleport"}),
        422,
        "unknown",
        "transform",
    )
    assert_error(
        client.post("/api/jobs", json=job_body(project, asset, motion_adherence=12)), 422, "motion_adherence"
    )
    assert_error(
        client.post("/api/jobs", json={"project_id": project["id"], "kind": "transform", "spec": {}}),
        422,
        "needs a source",
    )
    assert_error(
        client.post("/api/jobs", json={**job_body(project, asset), "source_asset_id": "ast_unknown"}), 404
    )
    assert_error(
        client.post("/api/jobs", json={**job_body(project, asset), "project_id": "prj_unknown"}), 404
    )
    assert_error(
        client.post("/api/jobs", json=job_body(project, asset, output={"format": "png_sequence"})),
        422,
        "single files",
    )
    # A server path in a spec is refused: files come in as uploads and are named as asset references.
    mask = {"kind": "mask", "path": "/etc/passwd"}
    assert_error(client.post("/api/jobs", json=job_body(project, asset, locks=[mask])), 422, "asset:")
    relative = {"kind": "mask", "path": "../../studio.db"}
    assert_error(
        client.post("/api/jobs", json=job_body(project, asset, locks=[relative])), 422, "not allowed"
    )
    assert_error(
        client.post(
            "/api/jobs", json=job_body(project, asset, locks=[{"kind": "mask", "path": "asset:ast_nope"}])
        ),
        422,
        "not in this project",
    )
    assert_error(
        client.post("/api/jobs", content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    localize = {
        "project_id": project["id"],
        "kind": "localize",
        "source_asset_id": asset["id"],
        "spec": {"markets": []},
    }
    assert_error(client.post("/api/jobs", json=localize), 422, "markets")
    assert_error(
        client.post("/api/jobs", json={"project_id": project["id"], "kind": "invent", "spec": {}}),
        422,
        "prompt",
    )
    assert_error(client.get("/api/nowhere"), 404, "nothing at this address")
    assert_error(client.delete("/api/projects"), 405)
    still = tmp_path / "mask.png"
    Image.fromarray(np.full((48, 64), 255, np.uint8)).save(still)
    mask_asset = upload(client, project, still).json()
    masked = {
        "locks": [{"kind": "mask", "path": mask_asset["ref"]}],
        "operations": [{"op": "restyle", "look": "pencil"}],
    }
    ok = client.post("/api/jobs", json=job_body(project, asset, **masked))
    assert ok.status_code == 202, ok.text
    assert_error(client.post("/api/jobs", json=job_body(project, mask_asset)), 422, "needs a video")


def test_cancel_and_per_key_limits(client, store, project, tiny_clip, worker):
    from shotcraft.studio.models import ApiKey

    asset = upload(client, project, tiny_clip).json()
    with store.write() as s:
        for key in s.query(ApiKey).all():
            key.max_concurrent_jobs, key.max_storage_bytes = 2, asset["size_bytes"] + 100
    first = client.post("/api/jobs", json=job_body(project, asset)).json()
    client.post("/api/jobs", json=job_body(project, asset))
    assert_error(client.post("/api/jobs", json=job_body(project, asset)), 429, "limit")
    cancelled = client.post(f"/api/jobs/{first['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert client.post("/api/jobs", json=job_body(project, asset)).status_code == 202  # a slot was freed
    me = client.get("/api/me").json()
    assert me["usage"] == {"live_jobs": 2, "storage_bytes": asset["size_bytes"]}
    image = store.home / "other.png"
    Image.fromarray(np.full((48, 64, 3), 7, np.uint8)).save(image)
    assert_error(upload(client, project, image), 413, "storage limit")
    assert worker.run_once()  # the queue still runs: the cancelled job is skipped, the next one runs
    assert client.get("/api/kinds").json()[0]["name"] == "transform"


def test_advise_over_uploaded_assets(client, project, tiny_clip):
    asset = upload(client, project, tiny_clip).json()
    advice = client.post(
        "/api/advise",
        json={
            "project_id": project["id"],
            "goal": "relight it for golden hour",
            "clip_asset_id": asset["id"],
        },
    )
    assert advice.status_code == 200
    assert advice.json()["workflow"] == "transform"
    assert advice.json()["settings"]["transform"]["operations"] == [
        {"op": "relight", "preset": "golden_hour"}
    ]
    assert_error(
        client.post(
            "/api/advise", json={"project_id": project["id"], "goal": "x", "clip_asset_id": "ast_no"}
        ),
        404,
    )
    assert_error(client.post("/api/advise", json={"project_id": project["id"], "goal": ""}), 422, "goal")


def test_web_studio_is_served(client):
    client.headers.pop("Authorization")
    page = client.get("/")
    assert page.status_code == 200 and "shotcraft studio" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_project_timeline_exports_every_take_with_its_lineage(client, project, tiny_clip, worker):
    otio = pytest.importorskip("opentimelineio")
    assert_error(client.get(f"/api/projects/{project['id']}/timeline"), 422, "no takes yet")
    asset = upload(client, project, tiny_clip).json()
    client.post("/api/jobs", json=job_body(project, asset, operations=[{"op": "relight", "preset": "night"}]))
    assert worker.run_once()
    take = client.get(f"/api/projects/{project['id']}/takes").json()[0]
    client.patch(f"/api/takes/{take['id']}", json={"picked": True})
    response = client.get(f"/api/projects/{project['id']}/timeline", params={"format": "otio"})
    assert response.status_code == 200, response.text
    timeline = otio.adapters.read_from_string(response.text, "otio_json")
    (track,) = timeline.tracks
    (clip,) = track.find_clips()
    assert track.name == "relight · night (picked)" and clip.name == "relight · night"  # the studio's words
    assert clip.source_range.duration.value == take["frame_count"] == 12
    meta = clip.metadata["shotcraft"]
    assert meta["take_id"] == take["id"] and meta["studio_lineage"]["source_asset_id"] == asset["id"]
    assert meta["spec"]["operations"][0]["preset"] == "night" and meta["content_url"] == take["content_url"]
    edl = client.get(f"/api/projects/{project['id']}/timeline", params={"format": "edl"})
    assert edl.status_code == 200 and edl.text.startswith("TITLE:")
    assert_error(client.get(f"/api/projects/{project['id']}/timeline", params={"format": "aaf"}), 422)
    assert_error(client.get("/api/projects/prj_unknown/timeline"), 404)
