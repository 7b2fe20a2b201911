"""The API under the web studio of issue 15: idempotent job submission, checks before queueing in plain words
(names, never ids or hashes), what the server can do, takes and projects renamed and deleted, localize
progress that only moves forwards, and migrations that match the models."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from tests.studio.test_api import assert_error, job_body, upload
from tests.studio.test_hardening import still

from shotcraft.studio.models import Asset, Job, Take


def run(client, worker, body: dict) -> dict:
    job = client.post("/api/jobs", json=body)
    assert job.status_code == 202, job.text
    assert worker.run_once()
    done = client.get(f"/api/jobs/{job.json()['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    return done


def job_count(store) -> int:
    with store.read() as s:
        return len(s.scalars(select(Job)).all())


# -- jobs that stay put ----------------------------------------------------------------------------------------


def test_an_idempotency_key_makes_one_job_of_a_request_sent_twice(client, project, store, tiny_clip):
    asset = upload(client, project, tiny_clip).json()
    body = job_body(project, asset)
    first = client.post("/api/jobs", json=body, headers={"Idempotency-Key": "click-1"})
    again = client.post("/api/jobs", json=body, headers={"Idempotency-Key": "click-1"})
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert first.json()["idempotency_key"] == "click-1"
    assert job_count(store) == 1

    other = job_body(project, asset, operations=[{"op": "relight", "preset": "golden_hour"}])
    assert_error(
        client.post("/api/jobs", json=other, headers={"Idempotency-Key": "click-1"}), 409, "different"
    )
    assert job_count(store) == 1
    # Without a key every request is a new job, as before; keys belong to one API key.
    client.post("/api/jobs", json=body)
    assert job_count(store) == 2
    second_key = store.create_key("second")[1]
    elsewhere = client.post(
        "/api/jobs",
        json=body,
        headers={"Idempotency-Key": "click-1", "Authorization": f"Bearer {second_key}"},
    )
    assert elsewhere.status_code == 404  # the other key cannot see this project, key or not


def test_the_job_list_names_what_each_job_does_and_its_source(client, project, tiny_clip, worker):
    asset = upload(client, project, tiny_clip).json()
    locks = [{"kind": "rect", "x": 0, "y": 0, "width": 8, "height": 8}]
    done = run(client, worker, job_body(project, asset, locks=locks))
    [listed] = client.get(f"/api/projects/{project['id']}/jobs").json()
    assert listed["label"] == "relight · night + lock" and listed["source_name"] == "tiny.mp4"
    assert listed["take_ids"] == done["take_ids"]
    [take] = client.get(f"/api/projects/{project['id']}/takes").json()
    assert (take["label"], take["source_name"], take["title"]) == ("relight · night + lock", "tiny.mp4", None)


# -- checks before queueing, in plain words ----------------------------------------------------------------------


def test_a_transform_that_changes_nothing_is_refused(client, project, store, tiny_clip):
    asset = upload(client, project, tiny_clip).json()
    locks_only = job_body(
        project, asset, operations=[], locks=[{"kind": "rect", "x": 0, "y": 0, "width": 8, "height": 8}]
    )
    assert_error(client.post("/api/jobs", json=locks_only), 422, "changes nothing", "tick what to change")
    assert job_count(store) == 0


def test_refusals_name_files_and_projects_never_ids(client, project, tiny_clip):
    asset = upload(client, project, tiny_clip).json()
    other = client.post("/api/projects", json={"name": "Holiday"}).json()
    response = client.post("/api/jobs", json={**job_body(project, asset), "project_id": other["id"]})
    assert_error(response, 422, "tiny.mp4", "Holiday")
    no_source = {
        "project_id": project["id"],
        "kind": "transform",
        "spec": {"operations": [{"op": "restyle", "look": "pencil"}]},
    }
    assert_error(client.post("/api/jobs", json=no_source), 422, "needs a source", "upload a clip")
    for text in (response.text,):
        assert asset["id"] not in text and asset["sha256"] not in text and other["id"] not in text


def test_a_keyframe_of_another_shape_is_refused_at_upload_with_the_clips_size(
    client, project, store, tiny_clip, tmp_path
):
    clip = upload(client, project, tiny_clip).json()  # 64x48
    square = still(tmp_path, "graded.png", size=(100, 100))
    refused = client.post(
        f"/api/projects/{project['id']}/assets",
        params={"filename": "graded.png", "keyframe_for": f"asset:{clip['id']}"},
        content=square.read_bytes(),
    )
    assert_error(refused, 422, "graded.png is 100x100", "tiny.mp4 is 64x48", "export it at 64x48")
    assert [a["name"] for a in client.get(f"/api/projects/{project['id']}/assets").json()] == ["tiny.mp4"]
    assert not [p for p in store.blobs.rglob("*") if p.is_file() and p.parent.name == "incoming"]
    # The same shape at another size is fine (it is resized when the job runs); so is any image without
    # keyframe_for.
    half = still(tmp_path, "half.png", size=(32, 24))
    kept = client.post(
        f"/api/projects/{project['id']}/assets",
        params={"filename": "half.png", "keyframe_for": f"asset:{clip['id']}"},
        content=half.read_bytes(),
    )
    assert kept.status_code == 201, kept.text
    assert upload(client, project, square).status_code == 201


def test_localize_checks_every_market_before_queueing(client, project, store, tiny_clip):
    asset = upload(client, project, tiny_clip).json()

    def localize(spec):
        body = {"project_id": project["id"], "kind": "localize", "source_asset_id": asset["id"], "spec": spec}
        return client.post("/api/jobs", json=body)

    assert_error(localize({"markets": ["de", "fr"]}), 422, "text table is empty")
    half_done = {"markets": ["de", "fr"], "replacements": {"SALE": {"de": "RABATT"}}}
    assert_error(localize(half_done), 422, "'fr'", "SALE")
    assert job_count(store) == 0


# -- offer only what works ---------------------------------------------------------------------------------------


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """A server with no video model set up: an empty models folder and nothing in the hub cache."""
    import shotcraft.engines.diffusion.weights as weights

    (tmp_path / "models").mkdir()
    monkeypatch.setenv("SHOTCRAFT_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("SHOTCRAFT_WEIGHTS", raising=False)
    monkeypatch.setattr(weights, "_hub_cache_folder", lambda card: None)
    return tmp_path / "models"


def test_capabilities_say_why_invent_is_off_and_invent_is_refused(client, project, no_weights):
    invent = client.get("/api/capabilities").json()["kinds"]["invent"]
    assert invent["available"] is False
    assert "video model" in invent["reason"] and "SHOTCRAFT" not in invent["reason"]
    assert "SHOTCRAFT_MODELS" in invent["operator_note"] and str(no_weights) not in invent["operator_note"]
    assert client.get("/api/capabilities").json()["kinds"]["transform"]["available"] is True
    kinds = {k["name"]: k for k in client.get("/api/kinds").json()}
    assert kinds["invent"]["available"] is False and kinds["invent"]["reason"] == invent["reason"]
    body = {"project_id": project["id"], "kind": "invent", "spec": {"prompt": "a red car"}}
    assert_error(client.post("/api/jobs", json=body), 501, "video model")
    client.headers.pop("Authorization")
    assert client.get("/api/capabilities").status_code == 401


def test_the_advisor_recommends_only_what_the_server_can_do(client, project, tiny_clip, no_weights):
    def advise(goal, **assets):
        response = client.post("/api/advise", json={"project_id": project["id"], "goal": goal, **assets})
        assert response.status_code == 200, response.text
        return response.json()

    empty = advise("make a moody video of a lighthouse in a storm")
    assert empty["can_invent"] is False and "generate" not in empty["settings"]
    assert empty["workflow"] == "transform" and "transform" not in empty["settings"]
    assert "upload" in empty["steps"][0].lower()
    explore = advise(
        "explore some looks for this shot", clip_asset_id=upload(client, project, tiny_clip).json()["id"]
    )
    assert explore["workflow"] == "transform" and "generate" not in explore["settings"]


def test_advice_text_names_files_and_settings_keep_references(client, project, tiny_clip, tmp_path):
    clip = upload(client, project, tiny_clip).json()
    image = upload(client, project, still(tmp_path, "look.png")).json()
    advice = client.post(
        "/api/advise",
        json={"project_id": project["id"], "goal": "restyle it like this", "clip_asset_id": clip["id"],
              "reference_asset_ids": [image["id"]]},
    ).json()  # fmt: skip
    text = json.dumps({k: advice[k] for k in ("reasons", "steps", "warnings")})
    assert "asset:" not in text and image["sha256"] not in text
    assert image["ref"] in json.dumps(advice["settings"])  # a spec the studio sends back as it is


# -- takes and projects: rename, delete ------------------------------------------------------------------------


def test_takes_are_renamed_and_deleted_and_their_children_stay(client, project, store, tiny_clip, worker):
    asset = upload(client, project, tiny_clip).json()
    parent_id = run(client, worker, job_body(project, asset))["take_ids"][0]
    renamed = client.patch(f"/api/takes/{parent_id}", json={"title": "  night for the ad  "}).json()
    assert (renamed["title"], renamed["label"], renamed["picked"]) == (
        "night for the ad",
        "night for the ad",
        False,
    )
    picked = client.patch(f"/api/takes/{parent_id}", json={"picked": True}).json()
    assert picked["picked"] is True and picked["title"] == "night for the ad"  # left-out fields stay
    child_body = {"project_id": project["id"], "kind": "transform", "source_take_id": parent_id,
                  "spec": {"operations": [{"op": "restyle", "look": "pencil"}]}}  # fmt: skip
    child_id = run(client, worker, child_body)["take_ids"][0]
    child = client.get(f"/api/takes/{child_id}").json()
    assert child["source_name"] == "take “night for the ad”"

    # A take that a queued job starts from is kept until that job is over.
    queued = client.post("/api/jobs", json=child_body).json()
    assert_error(client.delete(f"/api/takes/{parent_id}"), 409, "night for the ad", "still running")
    client.post(f"/api/jobs/{queued['id']}/cancel")

    parent_file = store.home / store.get(Take, parent_id).path
    assert client.delete(f"/api/takes/{parent_id}").json() == {
        "deleted": parent_id,
        "label": "night for the ad",
    }
    assert not parent_file.exists()
    assert_error(client.get(f"/api/takes/{parent_id}"), 404)
    child = client.get(f"/api/takes/{child_id}").json()
    assert child["source_name"] == "take “night for the ad” (deleted)" and child["parent_take_id"] is None
    assert client.get(child["content_url"]).status_code == 200
    assert client.patch(f"/api/takes/{child_id}", json={"title": ""}).json()["label"] == "restyle · pencil"


def test_a_take_file_shared_by_another_record_is_kept(client, project, store, tiny_clip, worker):
    asset = upload(client, project, tiny_clip).json()
    take_id = run(client, worker, job_body(project, asset))["take_ids"][0]
    with store.write() as s:
        take = s.get(Take, take_id)
        twin = Take(**{c: getattr(take, c) for c in ("project_id", "owner_key_id", "job_id", "kind", "path",
                                                       "size_bytes", "spec", "engine", "info")}, name="twin")  # fmt: skip
        s.add(twin)
        s.flush()
        twin_id = twin.id
    path = store.home / store.get(Take, take_id).path
    assert client.delete(f"/api/takes/{take_id}").status_code == 200
    assert path.exists()  # the twin still uses it
    assert client.delete(f"/api/takes/{twin_id}").status_code == 200
    assert not path.exists()


def test_projects_are_renamed_and_deleted_with_their_files(client, project, store, tiny_clip, worker):
    assert (
        client.patch(f"/api/projects/{project['id']}", json={"name": " Ad cut "}).json()["name"] == "Ad cut"
    )
    assert_error(client.patch(f"/api/projects/{project['id']}", json={"name": "  "}), 422)
    other = client.post("/api/projects", json={"name": "Other"}).json()
    asset = upload(client, project, tiny_clip).json()
    upload(client, other, tiny_clip)  # the same bytes in another project: one blob
    run(client, worker, job_body(project, asset))
    live = client.post("/api/jobs", json=job_body(project, asset)).json()
    assert_error(client.delete(f"/api/projects/{project['id']}"), 409, "Ad cut", "1 job still")
    client.post(f"/api/jobs/{live['id']}/cancel")

    blob = store.blob_path(asset["sha256"])
    take_dirs = list(store.takes.iterdir())
    assert client.delete(f"/api/projects/{project['id']}").json()["name"] == "Ad cut"
    assert_error(client.get(f"/api/projects/{project['id']}"), 404)
    assert blob.exists()  # "Other" still holds these bytes
    assert not any(d.exists() for d in take_dirs)
    with store.read() as s:
        assert s.scalars(select(Job)).all() == [] and len(s.scalars(select(Asset)).all()) == 1
    client.delete(f"/api/projects/{other['id']}")
    assert not blob.exists()


# -- progress, schema --------------------------------------------------------------------------------------------


def test_localize_progress_moves_forwards_market_by_market():
    from shotcraft.studio.kinds import MarketProgress

    seen: list[tuple[str, float]] = []
    report = lambda stage, done, total: seen.append((stage, done / total))  # noqa: E731
    for number in (1, 2, 3):
        progress = MarketProgress(report, number, 3)
        for stage in ("find text", "localize", "write"):
            for done in range(1, 5):
                progress(stage, done, 4)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[13][0] == "market 2 of 3 · find text"


def test_the_migrations_build_the_schema_the_models_describe(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shotcraft.studio.models import Base

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
