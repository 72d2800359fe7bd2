"""Access functions (``member_get`` ...): one query, one not-found answer for a missing id and for another
church's id, used by the scoped base classes of pages and API alike."""

from datetime import date, time

import pytest
from django.http import Http404

from billing import selectors as billing_selectors
from billing.models import BranchBudget
from churches import selectors as church_selectors
from churches.models import ImportJob, Role, StaffMembership
from conversations import selectors as conversation_selectors
from conversations.models import CannedReply, ConsentReview, Conversation, ConversationMessage
from integrations import selectors as integration_selectors
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from koinonia.exceptions import BusinessRuleError, NotFound
from koinonia.tenancy import ACCESS_FUNCTIONS
from messaging.broadcasts import selectors as messaging_selectors
from messaging.models import Message, MessageTemplate, Recipient, RecurringMessage, SenderNumber
from messaging.numbers import selectors as number_selectors
from messaging.recurring import selectors as recurring_selectors
from tests.conftest import assert_error_shape
from tests.factories import ApiKeyFactory, BranchFactory, GroupFactory, MemberFactory


def _objects(church, n: int) -> dict:
    """One row of every entity with an access function, in ``church``."""
    branch = BranchFactory(church=church)
    member = MemberFactory(church=church)
    message = Message.objects.create(church=church, body="Hello", audience={"all": True})
    conversation = Conversation.objects.create(church=church, member=member)
    text = ConversationMessage.objects.create(church=church, conversation=conversation, body="STOP please")
    endpoint = WebhookEndpoint.objects.create(church=church, url=f"https://example.org/{n}", events=["*"], secret="s")
    event = WebhookEvent.objects.create(id=f"evt_{n}", church=church, type="member.deleted", payload={})
    return {
        "member": member,
        "branch": branch,
        "group": GroupFactory(church=church),
        "api_key": ApiKeyFactory(church=church),
        "import_job": ImportJob.objects.create(church=church),
        "staff_membership": StaffMembership.objects.filter(church=church).first(),
        "message": message,
        "recipient": Recipient.objects.create(church=church, message=message, member=member, phone="+13125550111"),
        "message_template": MessageTemplate.objects.create(church=church, name="T", body="Hi"),
        "sender_number": SenderNumber.objects.create(
            church=church, phone_number=f"+1312555{n:04d}", provider="console"
        ),
        "recurring_message": RecurringMessage.objects.create(
            church=church,
            body="Weekly",
            audience={"all": True},
            frequency="weekly",
            time_of_day=time(9, 0),
            timezone="America/Chicago",
            start_date=date(2030, 1, 6),
        ),
        "conversation": conversation,
        "canned_reply": CannedReply.objects.create(church=church, title="Hours", body="9 to 5"),
        "consent_review": ConsentReview.objects.create(
            church=church, conversation=conversation, message=text, raw_text="STOP please"
        ),
        "branch_budget": BranchBudget.objects.create(church=church, branch_id=branch.pk, monthly_segments=100),
        "webhook_endpoint": endpoint,
        "webhook_delivery": WebhookDelivery.objects.create(church=church, endpoint=endpoint, event=event),
    }


ACCESS = {
    "member": church_selectors.member_get,
    "branch": church_selectors.branch_get,
    "group": church_selectors.group_get,
    "api_key": church_selectors.api_key_get,
    "import_job": church_selectors.import_job_get,
    "staff_membership": church_selectors.staff_membership_get,
    "message": messaging_selectors.message_get,
    "message_template": messaging_selectors.message_template_get,
    "sender_number": number_selectors.sender_number_get,
    "recurring_message": recurring_selectors.recurring_message_get,
    "conversation": lambda **kw: conversation_selectors.conversation_get(role=Role.OWNER, **kw),
    "canned_reply": conversation_selectors.canned_reply_get,
    "consent_review": conversation_selectors.consent_review_get,
    "branch_budget": billing_selectors.branch_budget_get,
    "webhook_endpoint": integration_selectors.webhook_endpoint_get,
    "webhook_delivery": integration_selectors.webhook_delivery_get,
}


@pytest.fixture
def rows(world, other_world):
    return _objects(world.church, 1), _objects(other_world.church, 2)


@pytest.mark.parametrize("entity", sorted(ACCESS))
def test_an_access_function_finds_its_churchs_row_in_one_query(entity, rows, world, django_assert_num_queries):
    own, _ = rows
    with django_assert_num_queries(1):
        found = ACCESS[entity](church=world.church, id=own[entity].pk)
    assert found == own[entity]


@pytest.mark.parametrize("entity", sorted(ACCESS))
def test_another_churchs_id_is_as_missing_as_a_missing_one(entity, rows, world):
    _, theirs = rows
    errors = []
    for bad_id in (theirs[entity].pk, 10**9, "not-a-number"):
        with pytest.raises(NotFound) as caught:
            ACCESS[entity](church=world.church, id=bad_id)
        errors.append((caught.value.message, caught.value.code, caught.value.status))
    assert errors == [("Not found.", "not_found", 404)] * 3
    # Pages and API both answer it with 404: it is an Http404 and a BusinessRuleError(status=404).
    assert isinstance(caught.value, Http404) and isinstance(caught.value, BusinessRuleError)


def test_a_recipient_is_reached_through_its_message(rows, world):
    own, theirs = rows
    recipient = own["recipient"]
    assert messaging_selectors.recipient_get(church=world.church, message_id=recipient.message_id, id=recipient.pk)
    other_message = Message.objects.create(church=world.church, body="Other", audience={"all": True})
    for message_id, recipient_id in (
        (other_message.pk, recipient.pk),  # this church's recipient, but of another message
        (theirs["recipient"].message_id, theirs["recipient"].pk),  # another church's
    ):
        with pytest.raises(NotFound):
            messaging_selectors.recipient_get(church=world.church, message_id=message_id, id=recipient_id)


def test_a_restricted_thread_needs_the_role_or_the_assignment(rows, world):
    conversation = rows[0]["conversation"]
    Conversation.objects.filter(pk=conversation.pk).update(restricted=True)
    with pytest.raises(NotFound):
        conversation_selectors.conversation_get(church=world.church, id=conversation.pk, user=world.staff)
    assert conversation_selectors.conversation_get(church=world.church, id=conversation.pk, role=Role.ADMIN)


def test_the_scoped_base_classes_fetch_through_the_access_functions():
    """Every entity with an access function is registered, so ``get_object`` of pages and API uses it."""
    import koinonia.urls  # noqa: F401 - loads every view and so every selectors module

    models = {
        "member",
        "branch",
        "group",
        "apikey",
        "importjob",
        "staffmembership",
        "message",
        "messagetemplate",
        "sendernumber",
        "recurringmessage",
        "conversation",
        "cannedreply",
        "consentreview",
        "branchbudget",
        "webhookendpoint",
        "webhookdelivery",
    }
    assert {model._meta.model_name for model in ACCESS_FUNCTIONS} == models


def test_pages_and_api_answer_another_churchs_id_with_404(rows, world):
    """One sweep over the pages and API endpoints that fetch an object by id."""
    _, theirs = rows
    page, api = world.page_client(Role.OWNER), world.api_client(Role.ADMIN)
    page_urls = [
        f"/members/{theirs['member'].pk}/",
        f"/groups/{theirs['group'].pk}/",
        f"/members/import/{theirs['import_job'].pk}/",
        f"/messages/{theirs['message'].pk}/",
        f"/messages/templates/{theirs['message_template'].pk}/edit/",
        f"/messages/recurring/{theirs['recurring_message'].pk}/",
        f"/inbox/c/{theirs['conversation'].pk}/",
        f"/settings/integrations/{theirs['webhook_endpoint'].pk}/",
    ]
    for url in page_urls:
        assert page.get(url).status_code == 404, url
    post_urls = [
        f"/branches/{theirs['branch'].pk}/",
        f"/settings/api-keys/{theirs['api_key'].pk}/revoke/",
        f"/billing/budgets/{theirs['branch_budget'].pk}/delete/",
        f"/inbox/canned/{theirs['canned_reply'].pk}/delete/",
        f"/messages/templates/{theirs['message_template'].pk}/delete/",
        f"/settings/numbers/{theirs['sender_number'].pk}/check/",
    ]
    for url in post_urls:
        assert page.post(url, {"name": "Renamed"}).status_code == 404, url
    api_urls = [
        f"/api/v1/members/{theirs['member'].pk}",
        f"/api/v1/groups/{theirs['group'].pk}",
        f"/api/v1/branches/{theirs['branch'].pk}",
        f"/api/v1/members/import/{theirs['import_job'].pk}",
        f"/api/v1/messages/{theirs['message'].pk}",
        f"/api/v1/templates/{theirs['message_template'].pk}",
        f"/api/v1/recurring-messages/{theirs['recurring_message'].pk}",
        f"/api/v1/conversations/{theirs['conversation'].pk}",
        f"/api/v1/consent-reviews/{theirs['consent_review'].pk}",
        f"/api/v1/webhook-endpoints/{theirs['webhook_endpoint'].pk}",
    ]
    for url in api_urls:
        assert_error_shape(api.get(url), 404, "not_found")
    assert_error_shape(api.post(f"/api/v1/api-keys/{theirs['api_key'].pk}/revoke"), 404, "not_found")
    assert_error_shape(api.post(f"/api/v1/messages/{theirs['message'].pk}/cancel"), 404, "not_found")
