"""factory_boy factories for the whole suite. Each app's issue adds its own models here."""

import factory
from django.utils.text import slugify

from churches.models import ApiKey, Church, Role, StaffMembership, User


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
