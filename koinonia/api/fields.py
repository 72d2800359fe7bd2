"""Serializer fields shared by the apps' API modules."""

from django.utils.dateparse import parse_datetime
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset. A time without one is refused rather than guessed."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                raise serializers.ValidationError(
                    "Give the time with its UTC offset, e.g. 2026-05-03T09:00:00-05:00 or 2026-05-03T14:00:00Z."
                )
        return super().to_internal_value(value)
