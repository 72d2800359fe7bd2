"""Inbound pictures: downloaded from the provider on receipt (its links expire) and kept in the
project's storage (local files by default, S3-compatible storage when configured); never hot-linked."""

import logging
import mimetypes
import uuid
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from conversations.models import ConversationMessage
from messaging.providers.http import session_for

logger = logging.getLogger(__name__)

TIMEOUT = (3.05, 20.0)


def inbound_media_max_bytes() -> int:
    return int(getattr(settings, "CONVERSATION_INBOUND_MEDIA_MAX_BYTES", 10 * 1024 * 1024))


class MediaUnavailable(Exception):
    """The provider could not give us the file now; worth trying again later."""


def _download(url: str, provider: str) -> tuple[bytes, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    # Twilio serves media behind the account's Basic auth (providers.md §2.4); requests drops the
    # header if Twilio redirects to another host.
    auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) if provider == "twilio" else None
    try:
        response = session_for(f"{parts.scheme}://{parts.netloc}").get(url, auth=auth, timeout=TIMEOUT, stream=True)
    except requests.RequestException as exc:
        raise MediaUnavailable(str(exc)) from exc
    with response:
        if response.status_code >= 500 or response.status_code == 429:
            raise MediaUnavailable(f"HTTP {response.status_code}")
        if not response.ok:
            raise ValueError(f"the provider answered HTTP {response.status_code}")
        limit = inbound_media_max_bytes()
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ValueError(f"larger than {limit // 1_048_576} MB")
            chunks.append(chunk)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    return b"".join(chunks), content_type


def inbound_media_fetch(*, message_id: int) -> bool:
    """Download and store every picture of an inbound text not stored yet. Returns True when some
    download should be retried later. Safe to run twice: stored items are skipped."""
    message = ConversationMessage.objects.filter(pk=message_id, direction=ConversationMessage.Direction.INBOUND).first()
    if message is None:
        return False
    retry = False
    results: dict[int, dict] = {}
    for index, item in enumerate(message.media):
        if item.get("path") or not item.get("source_url"):
            continue
        try:
            data, served_type = _download(item["source_url"], message.provider)
        except MediaUnavailable as exc:
            retry = True
            results[index] = {"error": f"Not downloaded yet: {exc}"}
            continue
        except ValueError as exc:
            results[index] = {"error": f"Could not be downloaded: {exc}"}
            continue
        content_type = item.get("content_type") or served_type or "application/octet-stream"
        extension = mimetypes.guess_extension(content_type) or ""
        path = default_storage.save(
            f"conversations/{message.church_id}/in/{uuid.uuid4().hex}{extension}", ContentFile(data)
        )
        results[index] = {"path": path, "size": len(data), "content_type": content_type, "error": ""}
    if results:
        with transaction.atomic():
            locked = ConversationMessage.objects.select_for_update().get(pk=message.pk)
            media = list(locked.media)
            for index, changes in results.items():
                media[index] = {**media[index], **changes}
            locked.media = media
            locked.save(update_fields=["media"])
    return retry
