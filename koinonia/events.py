"""Integrator-facing events: what happened in a church, announced for outgoing webhooks.

The apps call ``emit`` / ``emit_many`` where a change happens, *inside* the transaction that makes the
change. The signal is sent synchronously, so its receiver (``integrations.outbox``, connected in
``IntegrationsConfig.ready()``) writes its outbox rows in that same transaction: a rollback emits
nothing, and a committed change is never lost. This module is foundation: it imports no app, so
churches, messaging, conversations and billing can emit without knowing the integrations app exists
(without it the signal has no receiver and emitting costs a function call).

``EVENT_TYPES`` is the catalogue integrators subscribe to (docs/webhooks.md shows each payload).
Payloads name rows by the ids the API uses and carry no phone number or email address (those stay
encrypted at rest; integrators read them through the API).

Building a payload may be deferred: ``emit``'s ``data`` may be a zero-argument callable and
``emit_many``'s ``items`` any iterable (a generator); the receiver calls or iterates it only when
some enabled endpoint of the church is subscribed to the type, so a church without endpoints pays
neither the payload nor a query.
"""

from collections.abc import Callable, Iterable, Sized
from typing import Any

from django.dispatch import Signal

# type -> what it means (the settings page and the API's validation show these).
EVENT_TYPES: dict[str, str] = {
    "member.created": "A member was added (page, API, bulk upsert or CSV import).",
    "member.updated": "A member's details changed.",
    "member.deleted": "A member was deleted.",
    "member.opted_out": "A member stopped texts (STOP, staff, carrier report).",
    "member.opted_in": "A member agreed to texts (START, consent recorded by staff, import or API).",
    "import.completed": "A CSV import finished.",
    "message.created": "A broadcast was accepted (sent now or scheduled).",
    "message.completed": "A broadcast finished sending (or was stopped by a provider refusal).",
    "message.cancelled": "A broadcast was canceled.",
    "recipient.delivered": "A broadcast text was delivered to a member's phone.",
    "recipient.failed": "A broadcast text could not be delivered.",
    "conversation.message_received": "A text came in to one of the church's numbers.",
    "number.needs_attention": "A sending number has a problem someone must fix.",
    "tendlc.status_changed": "The 10DLC brand or campaign registration changed status.",
    "billing.usage_threshold": "Usage crossed 80% or 100% of the plan's allowance this period.",
}
# Sent only by "Send test event"; nobody subscribes to it.
TEST_EVENT_TYPE = "webhook.test"

# Sent synchronously, inside the emitting transaction. Arguments:
#   church_id: int               the church the event belongs to
#   type: str                    one of EVENT_TYPES (or TEST_EVENT_TYPE)
#   items: Iterable[dict] | ...  the events' ``data``, one per event; iterate it only when needed
#   lazy: bool                   True when ``items`` yields callables to call for the data
emitted = Signal()


def _church_id(church) -> int:
    return church if isinstance(church, int) else church.pk


def _check(type: str) -> None:
    if type not in EVENT_TYPES:
        # A typo at a call site must fail its tests, not silently announce nothing.
        raise ValueError(f"Unknown event type {type!r}: add it to koinonia.events.EVENT_TYPES.")


def emit(*, church, type: str, data: dict | Callable[[], dict]) -> None:
    """Announce one event of ``church`` (a Church or its id). ``data`` (or what the callable returns)
    becomes the payload's ``data``."""
    _check(type)
    if not emitted.receivers:
        return
    emitted.send(sender=None, church_id=_church_id(church), type=type, items=[data], lazy=callable(data))


def emit_many(*, church, type: str, items: Iterable[dict]) -> None:
    """Announce one event per item, set-based: the receiver writes them with one INSERT each for
    events and deliveries, whatever the count. ``items`` is iterated at most once, and not at all
    when nobody listens."""
    _check(type)
    if not emitted.receivers or (isinstance(items, Sized) and not len(items)):
        return
    emitted.send(sender=None, church_id=_church_id(church), type=type, items=items, lazy=False)


def emit_each(*, items: Iterable[tuple[Any, str, dict]]) -> None:
    """``(church, type, data)`` triples that may span churches and types (a batch of delivery
    receipts): grouped, then one ``emit_many`` per (church, type)."""
    if not emitted.receivers:
        return
    grouped: dict[tuple[int, str], list[dict]] = {}
    for church, type, data in items:
        grouped.setdefault((_church_id(church), type), []).append(data)
    for (church_id, type), datas in grouped.items():
        emit_many(church=church_id, type=type, items=datas)
