"""An invitation belongs to the address it was sent to: another signed-in account is refused (403, nothing
changes); a visitor who is signed out is asked to sign in or sign up as the invited address."""

import pytest
from django.test import Client
from django.urls import reverse

from churches import services
from churches.models import AuditLog, Invitation, Role, StaffMembership
from koinonia.exceptions import BusinessRuleError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def invite(world, email: str, role: str = Role.ADMIN) -> tuple[Invitation, str]:
    return services.staff_invite(church=world.church, acting_user=world.owner, email=email, role=role)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_another_signed_in_account_is_refused_and_nothing_changes(world, other_world):
    invitation, token = invite(world, "invited@example.test")
    intruder = signed_in(other_world.owner)
    url = reverse("accept_invitation", args=[token])

    response = intruder.get(url)
    assert response.status_code == 403
    page = response.content.decode()
    assert "invited@example.test" in page and other_world.owner.email in page
    assert "Accept invitation" not in page

    response = intruder.post(url)
    assert response.status_code == 403
    assert not StaffMembership.objects.filter(church=world.church, user=other_world.owner).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None and invitation.is_pending
    assert not AuditLog.objects.filter(action="staff.joined").exists()


def test_the_invited_account_accepts_whatever_the_case_of_its_email(world):
    invited = UserFactory(email="Invited@Example.test")
    _, token = invite(world, "invited@example.test")
    client = signed_in(invited)
    assert client.get(reverse("accept_invitation", args=[token])).status_code == 200
    response = client.post(reverse("accept_invitation", args=[token]))
    assert response.status_code == 302
    assert StaffMembership.objects.get(church=world.church, user=invited).role == Role.ADMIN


def test_the_service_refuses_another_account_too(world, outsider):
    _, token = invite(world, "invited@example.test")
    with pytest.raises(BusinessRuleError) as refused:
        services.invitation_accept(token=token, user=outsider)
    assert refused.value.status == 403
    assert not StaffMembership.objects.filter(church=world.church, user=outsider).exists()


def test_signed_out_visitor_with_an_existing_account_is_asked_to_sign_in_as_that_email(world):
    UserFactory(email="invited@example.test")
    _, token = invite(world, "invited@example.test")
    response = Client().get(reverse("accept_invitation", args=[token]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "invited@example.test" in page
    assert f"{reverse('login')}?next=" in page


def test_signed_out_visitor_without_an_account_signs_up_as_the_invited_email(world):
    _, token = invite(world, "fresh@example.test")
    client = Client()
    page = client.get(reverse("accept_invitation", args=[token])).content.decode()
    assert "fresh@example.test" in page
    # The form has no email field: the account is made for the invited address, whatever is posted.
    response = client.post(
        reverse("accept_invitation", args=[token]),
        {"name": "Fresh", "password": "a-long-passphrase-9", "email": "someone-else@example.test"},
    )
    assert response.status_code == 302
    membership = StaffMembership.objects.select_related("user").get(church=world.church, user__name="Fresh")
    assert membership.user.email == "fresh@example.test"
