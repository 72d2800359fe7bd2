"""The demo church gets a small directory, once."""

import pytest
from django.core.management import call_command

from churches.models import Branch, Church, ConsentEvent, Group, Member, SmsStatus

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_a_directory_idempotently():
    call_command("seed_demo", stdout=None)
    church = Church.objects.get()
    counts = (Member.objects.count(), Branch.objects.count(), Group.objects.count(), ConsentEvent.objects.count())
    call_command("seed_demo", stdout=None)
    assert (Member.objects.count(), Branch.objects.count(), Group.objects.count()) == (40, 2, 3)
    assert ConsentEvent.objects.count() == counts[3]
    assert counts[:3] == (40, 2, 3)
    assert Group.objects.get(church=church, keyword="YOUTH").name == "Youth"
    assert Member.objects.filter(sms_status=SmsStatus.UNSUBSCRIBED).count() == 1
    assert all(m.phone.startswith("+1312555010") or m.phone.startswith("+131255501") for m in Member.objects.all())
