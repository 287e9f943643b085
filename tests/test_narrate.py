"""The optional narrative, against a fake OpenAI-compatible server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from forgeries import double_jpeg_splice
from tamperscope import analyze
from tamperscope.report.narrate import NarrativeConfig


class FakeCompletions(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeCompletions.received.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": " A short paragraph. "}}]})
        self.send_response(FakeCompletions.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    FakeCompletions.received = []
    FakeCompletions.status = 200
    httpd = HTTPServer(("127.0.0.1", 0), FakeCompletions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    path = tmp_path_factory.mktemp("n") / "s.jpg"
    double_jpeg_splice(path)
    return path


def test_off_by_default(spliced):
    report = analyze(spliced)
    assert report.narrative is None and report.to_dict()["narrative"] is None


def test_sends_the_grounded_findings_and_never_the_image_by_default(spliced, server):
    report = analyze(spliced, narrative=NarrativeConfig(endpoint=server, model="m", api_key="k"))
    assert report.narrative.text == "A short paragraph." and report.narrative.error is None
    (call,) = FakeCompletions.received
    assert call["path"] == "/v1/chat/completions" and call["auth"] == "Bearer k"
    user = call["body"]["messages"][1]["content"]
    assert isinstance(user, str) and "data:image" not in json.dumps(call["body"])
    for sentence in report.explanation.sections[0].sentences:
        assert sentence.text in user
    data = report.to_dict()
    assert data["narrative"]["source_of_truth"] == "explanation" and data["explanation"]["sections"]


def test_image_only_when_asked(spliced, server):
    analyze(spliced, narrative=NarrativeConfig(endpoint=server, include_image=True))
    content = FakeCompletions.received[0]["body"]["messages"][1]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_endpoint_failure_is_recorded_not_fatal(spliced, server, plumbing_fusion):
    FakeCompletions.status = 500
    report = analyze(spliced, narrative=NarrativeConfig(endpoint=server))
    assert report.narrative.text is None and "HTTP 500" in report.narrative.error
    assert report.label == "edited"
    unreachable = analyze(spliced, narrative=NarrativeConfig(endpoint="http://127.0.0.1:9/v1", timeout_s=2))
    assert "could not be reached" in unreachable.narrative.error


def test_cli_narrate_flag(spliced, server, plumbing_fusion):
    from test_cli import tamperscope

    result = tamperscope("analyze", spliced, "--narrate-endpoint", server)
    assert result.returncode == 0, result.stderr
    assert "Narrative (local; a rewrite of the evidence above, which stands): A short paragraph." in result.stdout
    assert "Verdict: EDITED" in result.stdout
