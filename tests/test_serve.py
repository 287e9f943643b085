"""The web service through FastAPI's TestClient: upload, status, report files, history, errors, security, restart.

One module-wide service analyses the sample once; tests that need other settings start their own service on
their own data folder. The browser test is tests/test_serve_browser.py.
"""

import io
import json
import socket
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the service needs fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from servers import live_server  # noqa: E402
from tamperscope.serve import ConfigError, Settings, create_app  # noqa: E402
from tamperscope.serve.store import Job, JobStore  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "spliced.jpg"
TOKEN = "test-token-1234"


def wait_finished(client, job_id, timeout=60.0, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/analyses/{job_id}", headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"analysis {job_id} did not finish in {timeout} s")


def upload(client, data, name="photo.jpg", headers=None):
    return client.post("/v1/analyses", files={"file": (name, data, "application/octet-stream")}, headers=headers)


def png_bytes(width, height):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-data")


@pytest.fixture(scope="module")
def service(data):
    app = create_app(Settings(data=data, workers=1))
    with TestClient(app) as client:
        created = upload(client, SAMPLE.read_bytes(), name="spliced.jpg")
        assert created.status_code == 202, created.text
        job = wait_finished(client, created.json()["id"])
        yield client, job


def test_upload_answers_at_once_then_the_report_is_there(service):
    client, job = service
    assert job["status"] == "done", job["error"]
    assert job["filename"] == "spliced.jpg" and job["format"] == "JPEG"
    assert (job["width"], job["height"]) == Image.open(SAMPLE).size
    # The sample is a double-JPEG splice: the service says what `tamperscope analyze` says.
    assert job["label"] == "edited" and job["score"] >= 0.5
    assert job["regions"], "the spliced region is listed"
    report = job["report"]
    assert report["verdict"]["label"] == "edited"
    assert report["image"]["source"] == "spliced.jpg", "the report names the upload, not the server's path"
    assert "directory" not in report["artifacts"]


def test_artifacts_are_the_cli_report_files(service):
    client, job = service
    links = job["links"]
    for key in ("report", "html", "overlay", "heatmap", "mask"):
        assert key in links, key
    overlay = client.get(links["overlay"])
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(overlay.content)).size == (job["width"], job["height"])
    layer = next(v for k, v in links.items() if k.startswith("layer:"))
    assert client.get(layer).status_code == 200
    page = client.get(links["html"])
    assert page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"]
    assert 'data-region="' in page.text
    saved = client.get(links["report"] + "?download=1")
    assert saved.headers["content-disposition"] == 'attachment; filename="spliced-report.json"'
    assert json.loads(saved.content)["verdict"]["label"] == "edited"


def test_previews_are_the_ones_a_scan_keeps(service):
    client, job = service
    links = job["links"]
    preview = client.get(links["preview"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(preview.content)) as picture:
        assert picture.format == "JPEG" and max(picture.size) == 320
    mask = client.get(links["preview_mask"])  # the splice is a region: its mask is kept too
    assert mask.status_code == 200 and mask.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(mask.content)) as picture:
        assert picture.size == Image.open(io.BytesIO(preview.content)).size and picture.mode in ("1", "L")
    listed = next(item for item in client.get("/v1/analyses").json()["items"] if item["id"] == job["id"])
    assert listed["links"]["preview"] == links["preview"]
    assert client.get("/v1/analyses/" + "0" * 32 + "/preview").status_code == 404


def test_history_lists_the_analysis(service):
    client, job = service
    listing = client.get("/v1/analyses").json()
    assert listing["total"] >= 1
    assert job["id"] in [item["id"] for item in listing["items"]]
    assert client.get("/v1/analyses?status=done").json()["total"] >= 1
    assert client.get("/v1/analyses?limit=0").status_code == 422


@pytest.mark.parametrize("name", [
    "../../tamperscope.sqlite", "..%2F..%2Ftamperscope.sqlite", "%2e%2e/%2e%2e/tamperscope.sqlite",
    "%2E%2E%2F%2E%2E%2Ftamperscope.sqlite", "layers/..%2F..%2F..%2Ftamperscope.sqlite", "..%5C..%5Ctamperscope.sqlite",
    "%2Fetc%2Fpasswd", "report.json%00.png", ".%2e/.%2e/tamperscope.sqlite",
])
def test_artifact_routes_cannot_leave_the_analysis_folder(service, name):
    client, job = service
    response = client.get(f"/v1/analyses/{job['id']}/artifacts/{name}")
    assert response.status_code in (400, 404), (name, response.status_code)
    assert response.headers["content-type"] == "application/json"
    assert b"SQLite" not in response.content and b"root:" not in response.content
    if "%2e" in name.lower() or "%2f" in name.lower() or "%5c" in name.lower():
        assert response.status_code == 400, name  # decoded to '..' or '/' and refused by name


def test_unlisted_files_and_unknown_ids_are_404(service):
    client, job = service
    assert client.get(f"/v1/analyses/{job['id']}/artifacts/nothing.png").status_code == 404
    assert client.get("/v1/analyses/0123456789abcdef0123456789abcdef").status_code == 404
    answer = client.get("/v1/analyses/not-an-id")
    assert answer.status_code == 404 and answer.json()["message"] == "no analysis with this id"


def test_type_comes_from_content_not_name(service):
    client, _ = service
    refused = upload(client, b"%PDF-1.7 this is no photo", name="holiday.jpg")
    assert refused.status_code == 415
    assert refused.json()["error"] == "unsupported-type"
    html = upload(client, b"<html><script>alert(1)</script></html>", name="x.png")
    assert html.status_code == 415 and "markup" in html.json()["message"]
    accepted = upload(client, png_bytes(64, 48), name="notes.txt")
    assert accepted.status_code == 202 and accepted.json()["format"] == "PNG"


def test_malformed_uploads_are_422_in_words(service):
    client, _ = service
    missing = client.post("/v1/analyses", data={"other": "x"})
    assert missing.status_code == 422 and "'file'" in missing.json()["message"]
    empty = upload(client, b"")
    assert empty.status_code == 422 and empty.json()["message"] == "the uploaded file is empty"
    damaged = upload(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert damaged.status_code == 422 and "damaged" in damaged.json()["message"]


def test_healthz_and_metrics(service):
    client, _ = service
    assert client.get("/healthz").json()["status"] == "ok"
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    assert "# TYPE tamperscope_analyses_total counter" in lines
    assert any(line.startswith('tamperscope_analyses_total{status="done",error_kind=""} ') for line in lines)
    assert any(line.startswith("tamperscope_analysis_duration_seconds_count ") for line in lines)
    assert 'tamperscope_jobs{status="done"}' in metrics.text
    for line in lines:  # every sample line is NAME{labels} NUMBER
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_page_and_docs_load_nothing_from_outside(service):
    client, _ = service
    page = client.get("/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "http" not in policy
    docs = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    for asset in ("/static/app.js", "/static/app.css"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text


def test_cors_is_off_by_default(service):
    client, _ = service
    answer = client.get("/v1/analyses", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_restart_keeps_finished_analyses(service, data):
    client, job = service
    # A second service on the same data folder (as after a restart) lists and serves the finished analysis.
    with TestClient(create_app(Settings(data=data, workers=1))) as again:
        listed = again.get("/v1/analyses").json()["items"]
        assert job["id"] in [item["id"] for item in listed]
        same = again.get(f"/v1/analyses/{job['id']}").json()
        assert same["status"] == "done" and same["report"]["verdict"] == job["report"]["verdict"]
        assert again.get(job["links"]["overlay"]).status_code == 200


def test_restart_mid_job_fails_the_running_job_and_redoes_the_queued_one(tmp_path):
    store = JobStore(tmp_path / "tamperscope.sqlite")
    now = time.time()
    running = Job(id="a" * 32, filename="half.jpg", sha256="0", file_size=1, profile="default", status="queued",
                  created_at=now)
    queued = Job(id="b" * 32, filename="waiting.jpg", sha256="0", file_size=1, profile="default", status="queued",
                 created_at=now + 1)
    store.create(running)
    store.mark_running(running.id)
    store.create(queued)
    store.close()
    (tmp_path / "uploads" / queued.id).mkdir(parents=True)
    (tmp_path / "uploads" / queued.id / queued.filename).write_bytes(SAMPLE.read_bytes())
    with TestClient(create_app(Settings(data=tmp_path, workers=1))) as client:
        interrupted = client.get(f"/v1/analyses/{running.id}").json()
        assert interrupted["status"] == "failed" and interrupted["error_kind"] == "interrupted"
        assert interrupted["links"] == {"self": f"/v1/analyses/{running.id}"}
        assert client.get(f"/v1/analyses/{running.id}/artifacts/report.json").status_code == 409
        redone = wait_finished(client, queued.id)
        assert redone["status"] == "done" and redone["label"] == "edited"


def test_a_job_past_its_timeout_fails_and_the_next_one_runs(tmp_path):
    with TestClient(create_app(Settings(data=tmp_path, workers=1, job_timeout_s=0.02))) as client:
        first = wait_finished(client, upload(client, SAMPLE.read_bytes()).json()["id"])
        assert first["status"] == "failed" and first["error_kind"] == "timeout"
        assert "timed out" in first["error"]
        second = wait_finished(client, upload(client, SAMPLE.read_bytes()).json()["id"])
        assert second["status"] == "failed" and second["error_kind"] == "timeout", "the slot got a fresh worker"


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    settings = Settings(data=tmp_path_factory.mktemp("strict"), host="0.0.0.0", token=TOKEN, workers=1,
                        max_upload_mb=0.25, max_pixels=1_000_000, uploads_per_minute=0.5, upload_burst=10,
                        read_timeout_s=0.5, upload_timeout_s=3.0)
    return create_app(settings)


def test_no_token_off_loopback_is_refused():
    with pytest.raises(ConfigError, match="needs a token"):
        create_app(Settings(host="0.0.0.0"))
    create_app(Settings(host="::1"))  # loopback needs none


def test_token_is_required_when_set(strict):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(strict) as client:
        for path in ("/v1/analyses", "/metrics", "/v1/analyses/" + "a" * 32):
            answer = client.get(path)
            assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", path
        assert client.get("/v1/analyses", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert upload(client, SAMPLE.read_bytes()).status_code == 401
        assert client.get("/v1/analyses", headers=auth).status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200


def test_size_and_pixel_limits_are_413(strict):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(strict) as client:
        big = upload(client, b"\xff\xd8\xff" + bytes(400_000), headers=auth)
        assert big.status_code == 413 and "limit" in big.json()["message"]
        wide = upload(client, png_bytes(1500, 1000), headers=auth)
        assert wide.status_code == 413 and wide.json()["error"] == "too-large"
        assert "1.5 MP" in wide.json()["message"]


def test_a_slow_upload_is_cut_off_without_holding_a_worker(strict):
    with live_server(strict) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"POST /v1/analyses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode()
                        + b"\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 5000\r\n\r\n--x\r\n")
            began = time.monotonic()
            answer = raw.recv(4096)  # the client goes silent; the server must answer by itself
            waited = time.monotonic() - began
            while chunk := raw.recv(4096):  # the body may come in a later packet than the head; the server closes
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert b"too slow" in answer and waited < 5


def test_rate_limit_is_429_with_retry_after(strict):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(strict) as client:
        answers = [upload(client, b"not an image", headers=auth) for _ in range(12)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["message"].startswith("too many uploads from this client")
