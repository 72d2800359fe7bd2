"""Bad input is never a 500: NUL bytes and deeply nested JSON under /api/ and /hooks/ are a 400 in the
error shape, unknown /api/ paths a JSON 404, and the selectors that fed NUL to PostgreSQL no longer do."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from churches.models import Role
from conversations import selectors as conversation_selectors
from koinonia.api.parsers import MAX_JSON_DEPTH, json_nesting_exceeds
from messaging.broadcasts import selectors as messaging_selectors
from tests.conftest import assert_error_shape

pytestmark = pytest.mark.django_db

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_nul_in_conversation_search_is_a_400(world):
    response = world.api_client(Role.ADMIN).get("/api/v1/conversations/", {"q": "a\x00b"})
    assert_error_shape(response, 400, "malformed_request")


def test_nul_in_consent_review_status_is_a_400(world):
    response = world.api_client(Role.ADMIN).get("/api/v1/consent-reviews/", {"status": "pending\x00"})
    assert_error_shape(response, 400, "malformed_request")


def test_unknown_consent_review_status_is_a_400_not_an_empty_list(world):
    response = world.api_client(Role.ADMIN).get("/api/v1/consent-reviews/", {"status": "nonsense"})
    error = assert_error_shape(response, 400, "validation_error")
    assert "status" in error["details"]
    assert world.api_client(Role.ADMIN).get("/api/v1/consent-reviews/", {"status": "dismissed"}).status_code == 200


def test_nul_in_query_param_names_is_a_400(world):
    response = world.api_client(Role.ADMIN).get("/api/v1/members/?a%00b=1")
    assert_error_shape(response, 400, "malformed_request")


def test_member_picker_search_with_nul_is_a_400_json(world):
    client = world.page_client(Role.STAFF)
    response = client.get(reverse("message_member_search"), {"q": "Ann\x00"})
    assert_error_shape(response, 400, "malformed_request")
    assert client.get(reverse("message_member_search"), {"q": "Ann"}).status_code == 200


def test_selectors_never_hand_nul_to_the_database(world):
    # The inbox page and other callers go through these too; PostgreSQL refuses NUL in text.
    rows = conversation_selectors.conversation_list(church=world.church, user=world.owner, role=Role.OWNER, q="x\x00")
    assert list(rows) == []
    assert messaging_selectors.member_picker_search(church=world.church, q="\x00Ann") == []


def test_inbox_page_search_with_nul_is_not_a_500(world):
    response = world.page_client(Role.OWNER).get(reverse("conversations_home"), {"q": "x\x00y"})
    assert response.status_code == 200


@pytest.mark.parametrize("body", [DEEP, b'{"a":' * 1000 + b"1" + b"}" * 1000])
def test_deeply_nested_json_is_a_400_on_the_api(world, body):
    response = world.api_client(Role.ADMIN).post("/api/v1/members/", data=body, content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


def test_deeply_nested_json_is_a_400_on_session_api_calls_too(world):
    client = world.session_api_client(Role.OWNER)
    response = client.post("/api/v1/groups/", data=DEEP, content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


@pytest.mark.parametrize("path", ["/hooks/telnyx/", "/hooks/stripe/"])
def test_deeply_nested_json_is_a_400_on_hooks(path):
    response = Client().post(path, data=DEEP, content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


def test_deeply_nested_json_is_a_400_on_hooks_whatever_the_declared_type():
    response = Client().post("/hooks/telnyx/", data=DEEP, content_type="text/plain")
    assert_error_shape(response, 400, "malformed_request")


def test_nul_in_a_hook_form_field_is_a_400():
    response = Client().post("/hooks/twilio/inbound/", {"From": "+15555550100", "Body": "hi\x00"})
    assert_error_shape(response, 400, "malformed_request")


def test_nul_in_a_json_string_is_a_400_on_the_api(world):
    body = json.dumps({"name": "Youth\u0000"})
    response = world.api_client(Role.ADMIN).post("/api/v1/groups/", data=body, content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


def test_nul_in_an_api_form_field_is_a_400(world):
    response = world.api_client(Role.ADMIN).post("/api/v1/groups/", {"name": "Youth\x00"}, format="multipart")
    assert_error_shape(response, 400, "malformed_request")


def test_json_at_the_depth_limit_still_parses(world):
    nested = {"name": "Choir"}
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = {"x": nested}
    body = json.dumps({"name": "Choir", "extra": nested})
    response = world.api_client(Role.ADMIN).post("/api/v1/groups/", data=body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]


def test_nesting_check_ignores_brackets_inside_strings_and_is_linear():
    assert not json_nesting_exceeds(json.dumps({"a": "[" * 1000}).encode(), 64)
    assert not json_nesting_exceeds(json.dumps({"a": '\\"[' * 1000}).encode(), 64)
    assert json_nesting_exceeds(b"[" * 65 + b"]" * 65, 64)
    assert not json_nesting_exceeds(b"[" * 64 + b"]" * 64, 64)
    # An unterminated string of escaped quotes is malformed, and must not cost quadratic time.
    assert not json_nesting_exceeds(b'"' + b'\\"' * 500_000, 64)


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/members/1/nope", "/api/nothing", "/api/"])
def test_unknown_api_paths_are_json_404(world, path):
    assert_error_shape(world.api_client(Role.ADMIN).get(path), 404, "not_found")


def test_unknown_api_paths_are_json_404_even_with_debug(world, settings):
    settings.DEBUG = True
    assert_error_shape(Client().get("/api/v1/nope/"), 404, "not_found")


def test_wrong_method_on_api_is_json_405(world):
    response = world.api_client(Role.ADMIN).delete("/api/v1/church/")
    error = assert_error_shape(response, 405, "method_not_allowed")
    assert error["message"]
    assert "GET" in response["Allow"]


def test_pages_keep_html_404(world):
    response = world.page_client(Role.OWNER).get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_api_json_parser_checks_depth_and_nul_on_its_own():
    # Requests that never passed the middleware (another mount, a request factory) are still safe.
    import io

    from rest_framework.exceptions import ParseError

    from koinonia.api.parsers import JSONParser

    with pytest.raises(ParseError, match="nested too deeply"):
        JSONParser().parse(io.BytesIO(DEEP), "application/json", {})
    with pytest.raises(ParseError, match="NUL"):
        JSONParser().parse(io.BytesIO(b'{"a\\u0000": 1}'), "application/json", {})
    assert JSONParser().parse(io.BytesIO(b'{"a": [1, {"b": "[[["}]}'), "application/json", {}) == {
        "a": [1, {"b": "[[["}]
    }
