import pytest
from django.urls import reverse

from churches.models import Role
from messaging.models import Message
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _message(church, body="Sunday at 10", **counts):
    return Message.objects.create(church=church, body=body, audience={"all": True}, status="sent", **counts)


def test_dashboard_shows_this_churchs_numbers_only(world, other_world):
    MemberFactory.create_batch(3, church=world.church)
    MemberFactory(church=world.church, sms_status="unsubscribed")
    MemberFactory.create_batch(5, church=other_world.church)
    _message(world.church, recipient_count=3, delivered_count=2, failed_count=1)
    _message(other_world.church, recipient_count=5, delivered_count=5, body="Their secret text")
    response = world.page_client(Role.VIEWER).get(reverse("dashboard"))
    assert response.status_code == 200
    assert response.context["members"]["subscribed"] == 3 and response.context["members"]["total"] == 4
    assert response.context["stats"]["delivered"] == 2 and response.context["delivery_rate"] == 67
    assert b"Their secret text" not in response.content


def test_dashboard_query_count_does_not_grow_with_data(world, django_assert_max_num_queries):
    client = world.page_client(Role.STAFF)
    client.get(reverse("dashboard"))  # warm the session and the lazily created trial
    with django_assert_max_num_queries(16) as small:
        client.get(reverse("dashboard"))
    MemberFactory.create_batch(20, church=world.church)
    for _ in range(8):
        _message(world.church, recipient_count=10, delivered_count=10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(reverse("dashboard"))


def test_dashboard_needs_a_church(client):
    client.force_login(UserFactory())
    assert client.get(reverse("dashboard"))["Location"] == reverse("no_church")
