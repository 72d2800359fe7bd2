"""The naive baseline's Celery task (``messaging_naive_baseline``): the design the original system used,
one task per recipient, each a blocking provider POST and a row update. Loaded only by the bench's own
worker (``celery worker -I bench.naive_tasks``), never by the project's."""

import requests
from celery import shared_task


@shared_task(name="bench.naive_send_one", acks_late=True)
def naive_send_one(recipient_id: int, base_url: str, api_key: str, from_number: str, body: str) -> None:
    from django.utils import timezone

    from messaging.broadcasts.services import render_body
    from messaging.models import Recipient

    recipient = Recipient.objects.select_related("member", "church").get(pk=recipient_id)
    member = recipient.member
    text = render_body(
        body, first_name=member.first_name, last_name=member.last_name, church_name=recipient.church.name
    )
    response = requests.post(
        f"{base_url}/v2/messages",
        json={"from": from_number, "to": recipient.phone, "text": text},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    response.raise_for_status()
    recipient.status = Recipient.Status.SENT
    recipient.provider_message_id = response.json()["data"]["id"]
    recipient.sent_at = timezone.now()
    recipient.save(update_fields=["status", "provider_message_id", "sent_at"])
