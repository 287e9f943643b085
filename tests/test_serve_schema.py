"""Schemathesis against the service's own OpenAPI spec: whatever it sends, no answer is a server error.

Each operation of the spec gets its own test: Hypothesis draws requests (paths, queries, multipart bodies) from
the spec with Schemathesis's strategies, sends them to the app in-process, and the check fails on any 5xx.
"""

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tamperscope.serve import Settings, create_app  # noqa: E402

OPERATIONS = [("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/v1/analyses"), ("GET", "/v1/analyses"),
              ("GET", "/v1/analyses/{analysis_id}"), ("GET", "/v1/analyses/{analysis_id}/artifacts/{name}"),
              ("GET", "/v1/analyses/{analysis_id}/preview"), ("GET", "/v1/analyses/{analysis_id}/preview/mask"),
              ("POST", "/v1/comparisons"), ("GET", "/v1/comparisons/{comparison_id}"),
              ("GET", "/v1/comparisons/{comparison_id}/artifacts/{name}")]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    # Generous rate limits: the point is what each route does with odd input, not the 429s.
    app = create_app(Settings(data=tmp_path_factory.mktemp("schema"), workers=1, uploads_per_minute=6000,
                              upload_burst=1000, requests_per_minute=60000, request_burst=1000))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_spec_has_every_route(schema):
    found = {(op.method.upper(), op.path) for op in (result.ok() for result in schema.get_all_operations())}
    assert found == set(OPERATIONS), found


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_no_server_error(schema, method, path):
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(checks=[not_a_server_error])

    check()
