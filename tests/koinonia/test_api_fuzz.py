"""Schemathesis over the whole /api/v1/schema/, with an API key of each role (admin, staff, read only: the
roles a key can have; owners have no keys): no answer is a 5xx, and every answer — its status, content type,
headers and body — is one the schema documents. Both valid requests (positive) and invalid ones (negative)
are generated for every operation.

The church has one of everything (a member, group, branch, broadcast, template, recurring message,
conversation with a consent review, canned reply, webhook endpoint with a delivery, import, number, staff,
another key), and half of the generated calls aim at those real ids instead of random ones, so the fuzzer
reaches the code past the 404. It runs in-process (WSGI) inside the test's transaction, so it runs on both
databases (they differ in what they refuse: PostgreSQL text and integer ranges, SQLite's own limits) in
about a minute of CPU per role; ``EXAMPLES`` bounds it. CI runs it with the suite (``.ci/run`` → ``make
check`` / ``make test``)."""

from datetime import date, time

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from churches import services
from churches.imports.jobs import member_import_upload
from churches.models import Role, StaffMembership
from conversations.models import ConsentReview, ConversationMessage
from conversations.services import threads
from conversations.services.inbound import inbound_receive
from integrations import services as integration_services
from integrations.models import WebhookDelivery
from koinonia import events
from messaging.broadcasts import services as messaging_services
from messaging.models import SenderNumber
from messaging.providers.events import InboundText
from messaging.recurring import services as recurring_services
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 6  # per operation and mode: ~95 operations x 2 modes x 3 roles


@pytest.fixture
def in_process_wsgi():
    """Django's WSGI app, called in this thread: it shares the test's connection and transaction. Django
    closes "unusable" connections around each request, and inside a test transaction every connection
    looks unusable (autocommit off), so that is switched off while the fuzzer runs, as Django's test
    client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def seed(world) -> dict[str, dict[str, object]]:
    """One of everything; the real ids by the path segment that names them."""
    church, owner = world.church, world.owner
    number = SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="console")
    branch = BranchFactory(church=church)
    group = GroupFactory(church=church)
    member = MemberFactory(church=church, phone="+13125550150")
    services.group_members_add(church=church, acting_user=owner, group=group, member_ids=[member.pk])
    message = messaging_services.message_send(church=church, author=owner, body="Hi", audience={"all": True})
    template = messaging_services.template_create(church=church, acting_user=owner, name="Welcome", body="Hello")
    recurring = recurring_services.recurring_create(
        church=church,
        acting_user=owner,
        name="Weekly",
        body="Service at 10",
        audience={"all": True},
        frequency="weekly",
        weekdays=[6],
        time_of_day=time(9, 0),
        start_date=date(2027, 1, 3),
    )
    inbound_receive(
        inbound=InboundText(
            provider="console",
            event_id="evt-fuzz",
            message_id="msg-fuzz",
            from_number=member.phone,
            to_number=number.phone_number,
            text="please stop texting me maybe",
        )
    )
    text = ConversationMessage.objects.filter(church=church).latest("id")
    review = ConsentReview.objects.filter(church=church).first() or ConsentReview.objects.create(
        church=church, conversation=text.conversation, message=text, member=member, raw_text=text.body
    )
    canned = threads.canned_reply_create(church=church, acting_user=owner, title="Hours", body="10am Sundays")
    endpoint, _ = integration_services.webhook_endpoint_create(
        church=church, acting_user=owner, url="http://127.0.0.1:9/hooks", events=["*"]
    )
    events.emit(church=church, type="member.deleted", data={"id": 1})
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
    other_key, _ = services.api_key_create(church=church, acting_user=None, name="another", role=Role.STAFF)
    job = member_import_upload(
        church=church, acting_user=owner, file_name="people.csv", data=b"First Name,Mobile\nAnn,3125550160\n"
    )
    staff = StaffMembership.objects.filter(church=church).first()
    return {
        "numbers": {"id": number.pk},
        "branches": {"id": branch.pk},
        "groups": {"id": group.pk},
        "members": {"id": member.pk},
        "import": {"id": job.pk},
        "messages": {"id": message.pk},
        "templates": {"id": template.pk},
        "recurring-messages": {"id": recurring.pk},
        "conversations": {"id": text.conversation_id, "message_id": text.pk, "index": 0},
        "consent-reviews": {"id": review.pk},
        "canned-replies": {"id": canned.pk},
        "webhook-endpoints": {"id": endpoint.pk, "delivery_id": delivery.pk if delivery else 1},
        "api-keys": {"id": other_key.pk},
        "staff": {"id": staff.pk},
    }


def real_ids(path: str, real: dict[str, dict[str, object]]) -> dict[str, object]:
    """The seeded ids for the object a path names: its last named segment before the first parameter."""
    segments = [s for s in path.split("{")[0].split("/") if s]
    return real.get(segments[-1], {}) if segments else {}


def fuzz_operation(operation, mode, headers, real) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), aim=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        # Function-scoped fixtures are fine here: the examples share the church on purpose.
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # report what was found; shrinking costs minutes
        database=None,
        derandomize=True,  # the same calls on every run and machine
    )
    def run(case, aim):
        if aim and case.path_parameters:
            ids = real_ids(operation.path, real)
            case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.STAFF, Role.VIEWER])
def test_every_answer_of_every_operation_matches_the_schema(world, in_process_wsgi, role):
    real = seed(world)
    _, raw = services.api_key_create(church=world.church, acting_user=None, name="fuzz", role=role)
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", in_process_wsgi)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, headers, real)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:3000]}")
    assert operations > 80  # the whole schema was walked
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
