"""Settings → Numbers: the list with plain-English problems and last check; owners and admins search,
order and check; lower roles see but cannot change; another church's number is a 404. The console
provider (the test default) stands in for the carrier."""

import pytest

from churches.models import Role
from messaging.models import NumberCheck, SenderNumber
from messaging.numbers import linking

pytestmark = pytest.mark.django_db

URL = "/settings/numbers/"


@pytest.fixture
def number(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550142", provider="console")


def test_owner_sees_numbers_problems_and_last_check(world, number, other_world, django_assert_max_num_queries):
    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="console")
    linking.sender_number_check(sender_id=number.pk)
    SenderNumber.objects.filter(pk=number.pk).update(
        status=SenderNumber.Status.NEEDS_ATTENTION, status_detail="Replies were going to nowhere."
    )
    extra = SenderNumber.objects.create(church=world.church, phone_number="+13125550143", provider="console")
    linking.sender_number_check(sender_id=extra.pk)
    client = world.page_client(Role.OWNER)
    with django_assert_max_num_queries(10):
        response = client.get(URL)
    page = response.content.decode()
    assert response.status_code == 200
    assert "+13125550142" in page and "+13125550143" in page and "+13125550199" not in page
    assert "Replies were going to nowhere." in page and "Needs attention" in page
    assert "all good" in page
    assert 'href="/settings/numbers/"' in page  # the settings nav links here
    assert "Get a number" in page and "Check now" in page


@pytest.mark.parametrize("role", [Role.STAFF, Role.VIEWER])
def test_lower_roles_see_but_cannot_change(world, number, role):
    client = world.page_client(role)
    page = client.get(URL + "?area_code=312")
    assert page.status_code == 200
    body = page.content.decode()
    assert "+13125550142" in body and "Get a number" not in body and "Check now" not in body
    assert "+13125550100" not in body  # no search for them
    assert client.post(URL, {"phone_number": "+13125550100"}).status_code == 403
    assert client.post(f"{URL}{number.pk}/check/").status_code == 403
    assert not SenderNumber.objects.filter(phone_number="+13125550100").exists()
    assert not NumberCheck.objects.exists()


def test_admin_searches_and_orders(world):
    client = world.page_client(Role.ADMIN)
    page = client.get(URL, {"area_code": "312"})
    assert page.status_code == 200 and "+13125550100" in page.content.decode()
    response = client.post(URL, {"phone_number": "+13125550100"})
    assert response.status_code == 302
    number = SenderNumber.objects.get(phone_number="+13125550100")
    assert number.church == world.church and number.status == SenderNumber.Status.ACTIVE
    assert "is yours and ready" in client.get(URL).content.decode()


def test_bad_area_code_is_a_form_error(world):
    response = world.page_client(Role.OWNER).get(URL, {"area_code": "911"})
    assert response.status_code == 400
    assert "isn&#x27;t a US or Canadian area code" in response.content.decode()


def test_ordering_another_churchs_number_shows_the_error(world, other_world):
    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550100", provider="console")
    response = world.page_client(Role.OWNER).post(URL, {"phone_number": "+13125550100"})
    assert response.status_code == 409
    assert "already used by another account" in response.content.decode()


def test_check_now_records_a_check(world, number):
    response = world.page_client(Role.ADMIN).post(f"{URL}{number.pk}/check/", follow=True)
    assert response.status_code == 200
    assert "is set up correctly" in response.content.decode()
    check = NumberCheck.objects.get(sender=number)
    assert check.outcome == "ok" and check.triggered_by == world.admin


def test_another_churchs_number_is_a_404(world, other_world):
    theirs = SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="console")
    assert world.page_client(Role.OWNER).post(f"{URL}{theirs.pk}/check/").status_code == 404
    assert not NumberCheck.objects.exists()


def test_page_needs_sign_in(client):
    assert client.get(URL).status_code == 302
