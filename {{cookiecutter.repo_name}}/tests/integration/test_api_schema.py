"""Requests generated from the OpenAPI schema never get a server error. Operations are walked
explicitly (`schemathesis.pytest.from_fixture` needs a pytest internal that pytest 9.2
removed); each gets its own Hypothesis run against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from src.context import ProjectContext
from src.inference.api import create_app
from tests.serving import running_server, serving_settings

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 50


@pytest.fixture(scope="module")
def operations(trained_context: ProjectContext) -> Iterator[list[Any]]:
    app = create_app(serving_settings(trained_context, max_batch_size=20))
    with running_server(app) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        results: list[Any] = list(schema.get_all_operations())
        yield [result.ok() for result in results]


def test_no_request_gets_a_server_error(operations: list[Any]) -> None:
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        check()
