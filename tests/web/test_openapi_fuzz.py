"""Schemathesis against the OpenAPI schema: no 5xx and no response that breaks the schema."""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import LiveServer

EXAMPLES = 4
# Server-Sent Events streams never end: a generated request would wait on them forever.
STREAMS = {"/api/live", "/api/alerts/stream", "/api/inbox/stream"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_has_no_server_errors_or_schema_violations(live_server: LiveServer) -> None:
    """A few generated requests per /api operation answer without 5xx, as documented."""
    schema = schemathesis.openapi.from_url(live_server.url + "/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith("/api/")
        and "/auth/" not in result.ok().path
        and result.ok().path not in STREAMS
    ]
    assert len(operations) > 45
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    headers = live_server.admin

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=live_server.url, headers=headers, timeout=30)
            statuses[response.status_code // 100 * 100] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collect, so one run reports every broken operation
                failures.append(f"{case.method} {case.path}: {exc}"[:2000])

        run()
    assert failures == [], "\n\n".join(sorted(set(failures))[:10])
    assert statuses[200] > len(operations), statuses
