"""A church without a texting number learns it before writing anything: the dashboard's checklist starts
with "Get a texting number" (a link to Settings → Numbers), and the compose page says so up front
instead of only refusing with a 409 after Send."""

import pytest
from django.urls import reverse

from churches.models import Role
from messaging.models import SenderNumber
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NUMBERS_LINK = 'href="/settings/numbers/#get-a-number"'


def test_the_checklist_starts_with_getting_a_number(world):
    page = world.page_client(Role.OWNER).get(reverse("dashboard")).content.decode()
    checklist = page[page.index('id="getting-started"') :]
    assert NUMBERS_LINK in checklist and "Get a texting number" in checklist
    assert checklist.index("Get a texting number") < checklist.index("Add or import your members")


def test_the_checklist_ticks_the_number_off_and_stays_while_steps_remain(world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    page = world.page_client(Role.OWNER).get(reverse("dashboard")).content.decode()
    item = page[page.index('id="getting-started"') :].split("</li>")[0]
    assert "Done:" in item and "Get a texting number" in item


def test_the_checklist_shows_until_there_is_a_number_even_with_members_and_messages(world):
    from messaging.models import Message

    MemberFactory(church=world.church)
    Message.objects.create(church=world.church, body="Hi", audience={"all": True}, status="sent")
    page = world.page_client(Role.OWNER).get(reverse("dashboard")).content.decode()
    assert 'id="getting-started"' in page and NUMBERS_LINK in page
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    assert 'id="getting-started"' not in world.page_client(Role.OWNER).get(reverse("dashboard")).content.decode()


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_compose_shows_the_numbers_link_before_anything_is_written(world, role):
    response = world.page_client(role).get(reverse("message_compose"))
    assert response.status_code == 200
    page = response.content.decode()
    notice = page[page.index('id="no-number"') :].split("</div>")[0]
    assert "no texting number" in notice and NUMBERS_LINK in notice


def test_staff_are_told_to_ask_an_admin(world):
    page = world.page_client(Role.STAFF).get(reverse("message_compose")).content.decode()
    notice = page[page.index('id="no-number"') :].split("</div>")[0]
    assert "Ask an owner or admin" in notice and 'href="/settings/numbers/"' in notice


def test_compose_says_nothing_about_numbers_when_there_is_one(world, other_world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    assert 'id="no-number"' not in world.page_client(Role.STAFF).get(reverse("message_compose")).content.decode()
    # another church's number is not this church's
    assert 'id="no-number"' in other_world.page_client(Role.STAFF).get(reverse("message_compose")).content.decode()


def test_compose_stays_staff_only(world):
    assert world.page_client(Role.VIEWER).get(reverse("message_compose")).status_code == 403
