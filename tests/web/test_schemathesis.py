"""schemathesis against a real `runledger web`: what `/api/openapi.json` promises is true.

It loads the served document, generates requests for every operation, sends them with
a valid `*` token and holds every answer to the document: never a 5xx, only documented
status codes and content types, every body valid against its schema. Valid requests
(the positive mode) also name real runs and audit entries, so the 200 documents are
checked and not only the 404s; invalid ones (the negative mode) must be refused with a
4xx. Bounded by hypothesis' `max_examples` per operation and mode.

It runs on both stores: the database decides what some inputs do (a time at the
calendar's edge once broke only SQLite).

schemathesis' own pytest plugin (`schemathesis.pytest.from_fixture`) sets a node
attribute that pytest 9 no longer has, so each operation's cases are drawn from
`APIOperation.as_strategy` under a hypothesis `@given` of the test's own.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.client import Api
from tests.web.conftest import Served

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
MAX_EXAMPLES = 30
WITH_PARAMETERS = [
    "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/timeline", "/api/audit",
    "/api/audit/{position}", "/api/stats",
]  # fmt: skip
WITHOUT_PARAMETERS = ["/api/openapi.json", "/healthz", "/metrics"]


@pytest.fixture(scope="module")
def bearer(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.token(['*'])}"}


@pytest.fixture(scope="module")
def api_schema(served: Served, bearer: dict[str, str]) -> Any:
    # The token is given, never generated: a case that drops or garbles it would test
    # the 401 (test_authorization.py does), not the operation.
    config = schemathesis.Config.from_dict(
        {"headers": bearer, "generation": {"with-security-parameters": False}}
    )
    return schemathesis.openapi.from_url(f"{served.url}/api/openapi.json", config=config)


@pytest.fixture(scope="module")
def real_path_values(served: Served, bearer: dict[str, str]) -> dict[str, list[str]]:
    """Path parameters that name something: every run, and a few audit positions."""
    api = Api(served.url, bearer["Authorization"].removeprefix("Bearer "))
    try:
        entries = api.ok("/api/audit", limit=200)["entries"]
    finally:
        api.close()
    return {
        "run_id": sorted(str(run_id) for run_id in served.filled.runs.values()),
        "position": [str(entry["position"]) for entry in entries[::5]],
    }


def cases(operation: Any, mode: GenerationMode, real: dict[str, list[str]]) -> Any:
    """Generated cases; in the positive mode, half of them name a real run or entry."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if mode is not GenerationMode.POSITIVE or not names:
        return generated
    (name,) = names
    named = st.sampled_from(real[name]).flatmap(
        lambda value: operation.as_strategy(generation_mode=mode, path_parameters={name: value})
    )
    return st.one_of(generated, named)


def run_cases(strategy: Any, bearer: dict[str, str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=strategy)
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=bearer, checks=CHECKS)

    answers_as_documented()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("path", WITH_PARAMETERS)
def test_every_answer_to_a_route_with_parameters_is_one_the_document_describes(
    api_schema: Any,
    bearer: dict[str, str],
    real_path_values: dict[str, list[str]],
    path: str,
    mode: GenerationMode,
) -> None:
    run_cases(cases(api_schema[path]["GET"], mode, real_path_values), bearer)


@pytest.mark.parametrize("path", WITHOUT_PARAMETERS)
def test_every_answer_to_a_route_without_parameters_is_one_the_document_describes(
    api_schema: Any, bearer: dict[str, str], path: str
) -> None:
    run_cases(api_schema[path]["GET"].as_strategy(), bearer)
