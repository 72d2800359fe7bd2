"""factory_boy factories for the whole suite. Each app's issue adds its own models here."""

import factory
from django.utils.text import slugify

from churches.crypto import phone_hash
from churches.models import ApiKey, Branch, Church, Group, Member, Role, SmsStatus, StaffMembership, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ChurchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Church

    name = factory.Sequence(lambda n: f"Church {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    timezone = "America/Chicago"


class StaffMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMembership

    church = factory.SubFactory(ChurchFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.STAFF


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """Use ``make_api_key`` in tests that need the raw key; this factory makes unusable keys."""

    class Meta:
        model = ApiKey

    church = factory.SubFactory(ChurchFactory)
    name = "Test key"
    prefix = factory.Sequence(lambda n: f"p{n:07d}")
    key_hash = "0" * 64


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    church = factory.SubFactory(ChurchFactory)
    name = factory.Sequence(lambda n: f"Campus {n}")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    church = factory.SubFactory(ChurchFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


def _phone(n: int) -> str:
    # 312-555-01xx style fictional numbers, valid for libphonenumber; spread over exchanges for uniqueness.
    return f"+1312{200 + (n // 10000) % 700:03d}{n % 10000:04d}"


class MemberFactory(factory.django.DjangoModelFactory):
    """Subscribed by default (as if the church attested consent), with a unique valid US mobile number."""

    class Meta:
        model = Member

    church = factory.SubFactory(ChurchFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(_phone)
    phone_hash = factory.LazyAttribute(lambda o: phone_hash(o.phone))
    sms_status = SmsStatus.SUBSCRIBED
    timezone = "America/Chicago"
