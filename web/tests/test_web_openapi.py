"""Property-based API test: schemathesis drives every operation of /api/v1/openapi.json with valid and invalid
input, as a customer and as an admin, and checks there is no server error and every answer matches the document.
(Driven through Hypothesis directly: schemathesis' pytest plugin does not run under pytest 9.)"""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.unit
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
EXAMPLES = 5


def exercise(app, headers: dict, mode: GenerationMode) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
            continue
        except (FailureGroup, AssertionError) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return calls, failures


@pytest.mark.parametrize("user, mode", [("alice", GenerationMode.POSITIVE), ("admin", GenerationMode.POSITIVE),
                                        ("admin", GenerationMode.NEGATIVE)],
                         ids=["valid-customer", "valid-admin", "invalid-admin"])
def test_api_conforms_to_its_openapi_document(app, accounts, goods, user, mode):
    calls, failures = exercise(app, accounts.headers(user), mode)
    assert not failures, "\n\n".join(failures)
    assert calls >= (25 * EXAMPLES if mode == GenerationMode.POSITIVE else 10)
