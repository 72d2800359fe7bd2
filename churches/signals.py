"""The few hooks churches exposes, so other apps can react without churches importing them."""

from django.dispatch import Signal

# Sent after commit with church=, owner= when a church signs up (billing starts its trial).
church_created = Signal()
