"""Thin, idempotent Celery tasks over the conversation services. Ids in, never model instances.

They call only the modules that do the work (``handoff``, ``media``, ``notifications``), which never
import this one; the services that enqueue (``outbound``, ``inbound``) import it, so there is no cycle."""

from celery import shared_task

from conversations.services.handoff import message_deliver
from conversations.services.inbound_batch import batch_started, inbound_batches_apply, inbound_sweep
from conversations.services.media import inbound_media_fetch
from conversations.services.notifications import inbound_notify

MEDIA_RETRIES = 3


@shared_task(acks_late=True)
def send_conversation_message(message_id: int, attempt: int = 1) -> None:
    retry_in = message_deliver(message_id=message_id, attempt=attempt)
    if retry_in is not None:
        send_conversation_message.apply_async(args=[message_id, attempt + 1], countdown=retry_in)


@shared_task(acks_late=True)
def fetch_inbound_media(message_id: int, attempt: int = 1) -> None:
    if inbound_media_fetch(message_id=message_id) and attempt < MEDIA_RETRIES:
        fetch_inbound_media.apply_async(args=[message_id, attempt + 1], countdown=30 * attempt)


@shared_task
def notify_staff_of_inbound(message_id: int) -> None:
    inbound_notify(message_id=message_id)


@shared_task
def apply_inbound_events() -> int:
    """Stored inbound texts, applied in batches (queue ``webhooks``). The scheduling key is cleared
    first, so texts stored while this runs schedule the next task."""
    batch_started()
    return inbound_batches_apply()


@shared_task
def sweep_inbound_events() -> int:
    """Beat: stored texts no batch applied (a lost task, a killed worker)."""
    return inbound_sweep()
