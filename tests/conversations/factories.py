"""Factories for conversation tests (kept here rather than in tests/factories.py, which other apps edit)."""

import factory
from django.utils import timezone

from conversations.models import Conversation, ConversationMessage
from tests.factories import ChurchFactory, MemberFactory


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    church = factory.SubFactory(ChurchFactory)
    member = factory.SubFactory(MemberFactory, church=factory.SelfAttribute("..church"))
    last_message_at = factory.LazyFunction(timezone.now)
    last_message_preview = factory.Faker("sentence")
    last_message_direction = "inbound"
    unread_count = 1


class ConversationMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConversationMessage

    conversation = factory.SubFactory(ConversationFactory)
    church = factory.SelfAttribute("conversation.church")
    direction = ConversationMessage.Direction.INBOUND
    body = factory.Faker("sentence")
    status = ConversationMessage.Status.RECEIVED
