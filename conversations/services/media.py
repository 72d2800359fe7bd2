"""Inbound pictures: downloaded from the provider on receipt (its links expire) and kept in the
project's storage (local files by default, S3-compatible storage when configured); never hot-linked."""

import base64
import logging
import uuid
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from conversations.models import ConversationMessage
from koinonia import netguard

logger = logging.getLogger(__name__)

TIMEOUT = urllib3.Timeout(connect=3.05, read=20.0)
MAX_REDIRECTS = 3
# The only types a stored picture may have, with the extension its generated file name gets.
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def inbound_media_max_bytes() -> int:
    return int(getattr(settings, "CONVERSATION_INBOUND_MEDIA_MAX_BYTES", 5 * 1024 * 1024))


class MediaUnavailable(Exception):
    """The provider could not give us the file now; worth trying again later."""


class MediaRefused(ValueError):
    """We will not fetch or keep this file (wrong host, private address, not a picture, too large)."""


def sniff_image_type(data: bytes) -> str | None:
    """The picture type the bytes themselves say (magic numbers), whatever any header claims."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def safe_image_type(content_type: str | None) -> str | None:
    """``content_type`` if it is one of the picture types we store and serve, else None."""
    value = (content_type or "").split(";")[0].strip().lower()
    value = TYPE_ALIASES.get(value, value)
    return value if value in IMAGE_TYPES else None


def _allow_private() -> bool:
    return bool(getattr(settings, "SMS_MEDIA_ALLOW_PRIVATE_HOSTS", False))


def _host_allowed(host: str, provider: str) -> bool:
    patterns = getattr(settings, "SMS_MEDIA_HOSTS", {}).get(provider, [])
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def _resolve(host: str, port: int) -> str:
    """The checked address to connect to (``koinonia.netguard``: every resolved address must be public)."""
    try:
        return netguard.resolve_checked(host, port, allow_private=_allow_private(), what="media host")
    except netguard.ResolutionFailed as exc:
        raise MediaUnavailable(str(exc)) from exc
    except netguard.AddressRefused as exc:
        raise MediaRefused(str(exc)) from exc


def _open(url: str, provider: str, *, auth_host: str):
    """One GET of ``url`` after checking scheme, host and addresses; the connection goes to the address
    that was checked (no second lookup a DNS answer could change), redirects are not followed here."""
    parts = urlsplit(url)
    schemes = ("https", "http") if _allow_private() else ("https",)
    if parts.scheme not in schemes:
        raise MediaRefused("not an https URL")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or "@" in parts.netloc:
        raise MediaRefused("not a plain media URL")
    if not _host_allowed(host, provider):
        raise MediaRefused(f"{host} is not one of {provider}'s media hosts")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise MediaRefused("not a valid port") from exc
    address = _resolve(host, port)
    default_port = port == (443 if parts.scheme == "https" else 80)
    headers = {"Host": host if default_port else f"{host}:{port}", "Accept": "image/*", "User-Agent": "Koinonia"}
    # Twilio serves media behind the account's Basic auth (providers.md §2.4); the credentials go to
    # the host the provider gave us, never to a host a redirect names.
    if provider == "twilio" and host == auth_host and settings.TWILIO_ACCOUNT_SID:
        token = f"{settings.TWILIO_ACCOUNT_SID}:{settings.TWILIO_AUTH_TOKEN}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    pool = netguard.pinned_pool(scheme=parts.scheme, address=address, host=host, port=port, timeout=TIMEOUT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen(
            "GET", path, headers=headers, redirect=False, retries=False, preload_content=False, assert_same_host=False
        )
    except urllib3.exceptions.HTTPError as exc:
        pool.close()
        raise MediaUnavailable(str(exc)) from exc
    return pool, response


def _download(url: str, provider: str) -> tuple[bytes, str]:
    """The picture's bytes and its sniffed type. Each redirect hop is checked like the first URL."""
    auth_host = (urlsplit(url).hostname or "").lower()
    for _hop in range(MAX_REDIRECTS + 1):
        pool, response = _open(url, provider, auth_host=auth_host)
        try:
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            return _read_picture(response)
        except urllib3.exceptions.HTTPError as exc:
            raise MediaUnavailable(str(exc)) from exc
        finally:
            response.release_conn()
            pool.close()
    raise MediaRefused("too many redirects")


def _read_picture(response) -> tuple[bytes, str]:
    if response.status >= 500 or response.status == 429:
        raise MediaUnavailable(f"HTTP {response.status}")
    if not 200 <= response.status < 300:
        raise MediaRefused(f"the provider answered HTTP {response.status}")
    declared = response.headers.get("Content-Type", "")
    if safe_image_type(declared) is None:
        raise MediaRefused(f"not a picture ({declared.split(';')[0].strip()[:60] or 'no type'})")
    limit = inbound_media_max_bytes()
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise MediaRefused(f"larger than {limit // 1_048_576} MB")
    chunks, size = [], 0
    for chunk in response.stream(64 * 1024):
        size += len(chunk)
        if size > limit:  # stop reading: a lying or missing Content-Length changes nothing
            raise MediaRefused(f"larger than {limit // 1_048_576} MB")
        chunks.append(chunk)
    data = b"".join(chunks)
    sniffed = sniff_image_type(data)
    if sniffed is None:
        raise MediaRefused("the file is not a JPEG, PNG, GIF or WebP picture")
    return data, sniffed


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
        # The name is ours and the type is what the bytes are: nothing the sender wrote reaches either.
        path = default_storage.save(
            f"conversations/{message.church_id}/in/{uuid.uuid4().hex}{IMAGE_TYPES[served_type]}", ContentFile(data)
        )
        results[index] = {"path": path, "size": len(data), "content_type": served_type, "error": ""}
    if results:
        with transaction.atomic():
            locked = ConversationMessage.objects.select_for_update().get(pk=message.pk)
            media = list(locked.media)
            for index, changes in results.items():
                media[index] = {**media[index], **changes}
            locked.media = media
            locked.save(update_fields=["media"])
    return retry
