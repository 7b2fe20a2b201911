"""Invent and localize jobs end to end through the REST API, with an in-process worker.

Invent runs a tiny random Wan pipeline under the default model's name (built by the diffusion tests'
builders and saved like real weights under ``SHOTCRAFT_MODELS``); its takes are then transformed further, so the lineage
runs prompt → invented take → transformed take. Localize turns one signage clip into two market versions.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from tests.studio.conftest import INVENT_MODEL
from tests.studio.test_api import upload

from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip


def _download(client, take: dict, folder: Path) -> Path:
    path = folder / f"{take['id']}.mp4"
    path.write_bytes(client.get(take["content_url"]).content)
    return path


def test_invent_two_takes_then_transform_one_of_them(client, project, worker, invent_env, tmp_path):
    # No model named: the take records the registry default that was used.
    spec = {"prompt": "a red car", "takes": 2, "seed": 7, "width": 32, "height": 32,
            "duration": 0.5, "quality": "final"}  # fmt: skip
    kinds = {k["name"]: k for k in client.get("/api/kinds").json()}
    assert kinds["invent"]["available"] and kinds["invent"]["source"] == "none"
    job = client.post("/api/jobs", json={"project_id": project["id"], "kind": "invent", "spec": spec})
    assert job.status_code == 202, job.text
    assert worker.run_once()
    done = client.get(f"/api/jobs/{job.json()['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    assert len(done["take_ids"]) == 2

    takes = client.get(f"/api/projects/{project['id']}/takes").json()
    assert [(t["name"], t["kind"], t["seed"], t["model"]) for t in takes] == [
        ("take1", "invent", 7, INVENT_MODEL),
        ("take2", "invent", 8, INVENT_MODEL),
    ]
    for take in takes:
        assert take["frame_count"] == 9 and take["fps"] == "16"  # 0.5 s at 16 fps on Wan's 4k+1 grid
        assert take["parent_take_id"] is None and take["source_asset_id"] is None
        assert client.get(f"/api/takes/{take['id']}").json()["lineage"] == []  # made from a prompt alone
    first, second = (VideoReader(_download(client, t, tmp_path)).frame_at(4) for t in takes)
    assert not np.array_equal(first, second)  # different seeds, different pictures

    parent = takes[1]
    child = client.post(
        "/api/jobs",
        json={"project_id": project["id"], "kind": "transform", "source_take_id": parent["id"],
              "spec": {"operations": [{"op": "relight", "preset": "night"}]}},
    )  # fmt: skip
    assert child.status_code == 202, child.text
    assert child.json()["parent_take_id"] == parent["id"]
    assert worker.run_once()
    child_done = client.get(f"/api/jobs/{child.json()['id']}").json()
    assert child_done["state"] == "succeeded", child_done["error"]
    relit = client.get(f"/api/takes/{child_done['take_ids'][0]}").json()
    assert relit["kind"] == "transform" and relit["parent_take_id"] == parent["id"]
    assert [(x["type"], x["id"], x["seed"]) for x in relit["lineage"]] == [("take", parent["id"], 8)]

    output = _download(client, relit, tmp_path)
    video = probe(output).video
    assert video.frame_count == 9 and video.fps == Fraction(16) and (video.width, video.height) == (32, 32)
    source = VideoReader(_download(client, parent, tmp_path)).frame_at(4).astype(np.int16)
    assert np.abs(VideoReader(output).frame_at(4).astype(np.int16) - source).mean() > 3  # relit, not copied


@pytest.fixture(scope="module")
def signage_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames of real footage with a moving 'SALE' sign from frame 2 on, 256x144, stereo audio."""
    from shotcraft.markets import signage_frames

    folder = tmp_path_factory.mktemp("signage")
    return make_clip(
        folder / "sign.mp4", frames=12, width=256, height=144, fps=25, audio_channels=2,
        content=signage_frames("SALE", 12, 256, 144, appear=2),
    )  # fmt: skip


def test_localize_one_clip_into_two_market_takes(client, project, worker, signage_clip, tmp_path):
    pytest.importorskip("rapidocr")
    asset = upload(client, project, signage_clip).json()
    spec = {"markets": ["de", "fr"], "replacements": {"SALE": {"de": "RABATT", "fr": "SOLDES"}}}
    job = client.post(
        "/api/jobs",
        json={"project_id": project["id"], "kind": "localize", "source_asset_id": asset["id"], "spec": spec},
    )
    assert job.status_code == 202, job.text
    assert worker.run_once()
    done = client.get(f"/api/jobs/{job.json()['id']}").json()
    assert done["state"] == "succeeded", done["error"]

    takes = client.get(f"/api/projects/{project['id']}/takes", params={"job_id": done["id"]}).json()
    assert [(t["name"], t["kind"], t["market"], t["engine"]) for t in takes] == [
        ("market-de", "localize", "de", "classic"),
        ("market-fr", "localize", "fr", "classic"),
    ]
    source = {i: VideoReader(signage_clip).frame_at(i).astype(np.int16) for i in (0, 8)}
    frames = {}
    for take in takes:
        lineage = client.get(f"/api/takes/{take['id']}").json()["lineage"]
        assert [(x["type"], x["id"]) for x in lineage] == [("asset", asset["id"])]
        path = _download(client, take, tmp_path)
        info = probe(path)
        assert info.video.frame_count == 12 and info.video.fps == 25
        assert [a.channels for a in info.audio] == [2]  # the source's audio came along
        reader = VideoReader(path)
        frames[take["market"]] = {i: reader.frame_at(i).astype(np.int16) for i in (0, 8)}
    for market, out in frames.items():
        # Before the sign appears the picture is the source's (up to encoding); once it shows, it is rewritten.
        assert np.abs(out[0] - source[0]).mean() < 4, market
        assert (np.abs(out[8] - source[8]).max(axis=2) > 40).sum() > 500, market
    assert (np.abs(frames["de"][8] - frames["fr"][8]).max(axis=2) > 40).sum() > 200  # each its own text
