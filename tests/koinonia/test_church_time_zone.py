"""Pages show times in the church's time zone and name it (they used to show UTC): the inbox, a thread,
a member's consent history and the import history. The API keeps answering in UTC."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from churches.models import ConsentEvent, ImportJob, Role
from conversations.models import ConversationMessage
from tests.conversations.factories import ConversationFactory, ConversationMessageFactory
from tests.factories import MemberFactory

# 15:05 UTC on a winter day is 9:05 AM in Chicago (CST, UTC-6).
AT = datetime(2025, 1, 14, 15, 5, tzinfo=UTC)
LOCAL = "9:05 AM CST"


@pytest.fixture
def church(world):
    world.church.timezone = "America/Chicago"
    world.church.save(update_fields=["timezone"])
    return world.church


def test_inbox_and_thread_show_the_churchs_local_time_and_zone(world, church):
    conversation = ConversationFactory(church=church, last_message_at=AT, member__first_name="Lydia")
    ConversationMessageFactory(
        conversation=conversation, created_at=AT, direction=ConversationMessage.Direction.INBOUND
    )
    client = world.page_client(Role.STAFF)

    inbox = client.get(reverse("conversations_home")).content.decode()
    assert LOCAL in inbox and "3:05 PM" not in inbox

    thread = client.get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert LOCAL in thread and "3:05 PM" not in thread


def test_consent_history_and_import_history_show_local_time(world, church):
    member = MemberFactory(church=church)
    ConsentEvent.objects.create(
        church=church,
        member=member,
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.STAFF,
        created_at=AT,
    )
    ImportJob.objects.create(church=church, file_name="members.csv", status=ImportJob.Status.DONE, created_at=AT)
    client = world.page_client(Role.ADMIN)

    detail = client.get(reverse("member_detail", args=[member.pk])).content.decode()
    assert "Jan 14, 2025 9:05 AM CST" in detail and "15:05" not in detail

    imports = client.get(reverse("member_import")).content.decode()
    assert "Jan 14, " + LOCAL in imports and "15:05" not in imports


def test_another_churchs_zone_is_its_own(world, other_world, church):
    other_world.church.timezone = "America/Los_Angeles"
    other_world.church.save(update_fields=["timezone"])
    ConversationFactory(church=other_world.church, last_message_at=AT)
    page = other_world.page_client(Role.STAFF).get(reverse("conversations_home")).content.decode()
    assert "7:05 AM PST" in page


def test_the_api_still_answers_in_utc(world, church):
    conversation = ConversationFactory(church=church, last_message_at=AT)
    client = world.session_api_client(Role.OWNER)
    body = client.get(f"/api/v1/conversations/{conversation.pk}").json()
    assert "15:05" in str(body), body
