"""A local Telnyx Messaging API v2 that speaks the real wire format (docs/providers.md §1).

Sends: ``POST /v2/messages`` with a Bearer key → 200 ``{"data": message}`` with ``parts`` from our segment
math, or Telnyx's ``{"errors": [...]}`` with digit-string codes. Then ``message.sent`` and
``message.finalized`` webhooks, Ed25519-signed with the test key (``public_key_b64``), retried up to 3 times.
"""

import base64
import json
import math
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from messaging.segments import SegmentInfo, segment_info
from tests.fakes.base import (
    FakeMessage,
    FakeResponse,
    FakeSmsProvider,
    OptOutKeywords,
    RecordedRequest,
    Rejection,
    WebhookBuilder,
)
from tests.fakes.numbers import TelnyxNumbersMixin
from tests.fakes.tendlc import FakeTenDlc

TEST_API_KEY = "KEYtest_fake_telnyx_0001"
TEST_SIGNING_SEED = b"\x42" * 32  # the seed of the §1.7 test vector
TEST_PROFILE_ID = "00000000-0000-4000-8000-0000000000a1"
PRICE_PER_PART = 0.004

TITLES = {
    "10005": "Resource not found",
    "10007": "Unexpected error",
    "10009": "Authentication failed",
    "10010": "Authorization failed",
    "10011": "Too many requests",
    "10015": "Bad request",
    "40300": "Blocked due to STOP message",
    "40302": "Message too large",
    "40304": "Invalid message content",
    "40305": "Invalid 'from' address",
    "40310": "Invalid 'to' address",
    "40316": "No content provided",
    "40317": "Invalid MMS content",
    "40318": "Message queue full",
    "40001": "Not routable",
    "40002": "Blocked as spam",
    "40003": "Blocked as spam",
    "40008": "Undeliverable",
    "40010": "Not 10DLC registered",
}
DEFAULT_CODES = {401: "10009", 403: "10010", 404: "10005", 429: "10011"}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class FakeTelnyx(TelnyxNumbersMixin, FakeTenDlc, FakeSmsProvider):
    keywords = OptOutKeywords(
        stop=frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}),
        start=frozenset({"START", "UNSTOP"}),
        help=frozenset({"HELP"}),
    )
    rejections = {
        Rejection.INVALID_TO: ("40310", "The 'to' address {to} is not a valid phone number."),
        Rejection.MISSING_FROM: ("40305", "A 'from' address on the messaging profile is required."),
        Rejection.NO_CONTENT: ("40316", "Either 'text' or 'media_urls' must be provided."),
        Rejection.TOO_LONG: ("40302", "The message exceeds 10 parts."),
        Rejection.TOO_MANY_MEDIA: ("40317", "At most 10 media URLs are allowed."),
        Rejection.OPTED_OUT: ("40300", "{to} replied STOP; messages to it are blocked."),
    }
    delivered_status = "delivered"
    failed_status = "delivery_failed"
    webhook_attempts = 3

    def __init__(
        self,
        *,
        api_keys: Sequence[str] = (TEST_API_KEY,),
        signing_seed: bytes = TEST_SIGNING_SEED,
        messaging_profile_id: str = TEST_PROFILE_ID,
        profile_webhook_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.api_keys = set(api_keys)
        self.api_key = api_keys[0]
        self.messaging_profile_id = messaging_profile_id
        self.profile_webhook_url = profile_webhook_url
        self._signing_key = Ed25519PrivateKey.from_private_bytes(signing_seed)
        self.public_key_b64 = base64.b64encode(self._signing_key.public_key().public_bytes_raw()).decode()
        self._init_numbers()
        super().__init__(**kwargs)

    def point_settings_at(self, settings: Any) -> None:
        """Make ``get_provider()`` use this fake (``settings``: pytest-django's fixture or django.conf)."""
        settings.SMS_PROVIDER = "telnyx"
        settings.TELNYX_API_BASE = self.base_url
        settings.TELNYX_API_KEY = self.api_key
        settings.TELNYX_PUBLIC_KEY = self.public_key_b64
        settings.TELNYX_MESSAGING_PROFILE_ID = self.messaging_profile_id

    # Wire format -------------------------------------------------------------------------------------

    def authenticate(self, request: RecordedRequest) -> str | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        return key if scheme == "Bearer" and key in self.api_keys else None

    def route(self, request: RecordedRequest, account: str) -> FakeResponse:
        if request.method == "POST" and request.path == "/v2/messages":
            return self._send(request, account)
        if (numbers := self.route_numbers(request)) is not None:
            return numbers
        if request.path.startswith("/v2/10dlc/"):
            return self.route_tendlc(request)
        return self.error_response(404, None, f"No route for {request.method} {request.path}.")

    def error_response(
        self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None
    ) -> FakeResponse:
        code = code or DEFAULT_CODES.get(status) or ("10007" if status >= 500 else "10015")
        error = {"code": code, "title": TITLES.get(code, "Error"), "detail": message, "meta": {}}
        return FakeResponse.json(status, {"errors": [error]}, headers)

    def rate_limit_headers(self, limit: int, remaining: int, reset_after: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(math.ceil(reset_after)),
        }

    def too_long(self, text: str, segments: SegmentInfo) -> bool:
        return segments.segments > 10

    def new_message_id(self, has_media: bool) -> str:
        return str(uuid.uuid4())

    def _send(self, request: RecordedRequest, account: str) -> FakeResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.error_response(400, "10015", "The request body is not a JSON object.")
        text = body.get("text") or ""
        if body.get("encoding") == "gsm7" and segment_info(text).encoding != "GSM-7":
            return self.error_response(400, "40304", "encoding is gsm7 but the text has non-GSM characters.")
        webhook_url = body.get("webhook_url")
        if not webhook_url and body.get("use_profile_webhooks", True):
            webhook_url = self.profile_webhook_url
        to, from_ = body.get("to"), body.get("from")
        result = self.accept(
            account=account,
            from_number=from_ if isinstance(from_, str) else "",
            to_number=to if isinstance(to, str) else "",
            text=text,
            media_urls=list(body.get("media_urls") or []),
            webhook_url=webhook_url,
            extra={"messaging_profile_id": body.get("messaging_profile_id") or self.messaging_profile_id},
        )
        if isinstance(result, FakeResponse):
            return result
        return FakeResponse.json(200, {"data": self._record(result, status="queued")})

    def _record(self, message: FakeMessage, *, status: str) -> dict[str, Any]:
        """The message resource as Telnyx renders it (send response and webhook payload)."""
        return {
            "record_type": "message",
            "id": message.id,
            "direction": "outbound",
            "type": "MMS" if message.media_urls else "SMS",
            "text": message.text,
            "from": {"phone_number": message.from_number},
            "to": [{"phone_number": message.to_number, "status": status, "line_type": "Wireless"}],
            "encoding": message.segments.encoding,
            "parts": message.segments.segments,
            "cost": None,
            "errors": [],
            "media": [{"url": url, "content_type": None, "sha256": None, "size": None} for url in message.media_urls],
            "messaging_profile_id": message.extra["messaging_profile_id"],
            "webhook_url": message.webhook_url,
            "received_at": _iso(message.received_at),
            "sent_at": None,
            "completed_at": None,
            "valid_until": None,
            "wait_seconds": 0.0,
        }

    # Webhooks ----------------------------------------------------------------------------------------

    def status_webhook(
        self, message: FakeMessage, *, status: str, error_code: str | None, occurred_at: datetime
    ) -> WebhookBuilder:
        payload = self._record(message, status=status)
        payload["sent_at"] = _iso(occurred_at)
        event_type = "message.sent"
        if status != "sent":
            event_type = "message.finalized"
            payload["completed_at"] = _iso(occurred_at)
            payload["cost"] = {"amount": f"{PRICE_PER_PART * message.segments.segments:.4f}", "currency": "USD"}
            if error_code:
                payload["errors"] = [
                    {"code": error_code, "title": TITLES.get(error_code, "Delivery failed"), "detail": "Fake carrier."}
                ]
        return self._event_builder(event_type, payload, occurred_at, message.webhook_url or "")

    def inbound_webhook(
        self,
        *,
        message_id: str,
        from_number: str,
        to_number: str,
        text: str,
        media: Sequence[tuple[str, str]],
        keyword: str | None,
        url: str,
    ) -> WebhookBuilder:
        segments = segment_info(text)
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "record_type": "message",
            "id": message_id,
            "direction": "inbound",
            "type": "MMS" if media else "SMS",
            "from": {"phone_number": from_number, "carrier": "Fake Wireless", "line_type": "Wireless"},
            "to": [{"phone_number": to_number, "status": "webhook_delivered"}],
            "text": text,
            "media": [
                {"url": media_url, "content_type": content_type, "size": 20480, "hash_sha256": "00ff"}
                for media_url, content_type in media
            ],
            "encoding": segments.encoding,
            "parts": max(segments.segments, 1),
            "messaging_profile_id": self.messaging_profile_id,
            "received_at": _iso(now),
            "errors": [],
        }
        if keyword:
            payload["autoresponse_type"] = keyword
        return self._event_builder("message.received", payload, now, url)

    def _event_builder(
        self, event_type: str, payload: dict[str, Any], occurred_at: datetime, url: str
    ) -> WebhookBuilder:
        data = {
            "record_type": "event",
            "event_type": event_type,
            "id": str(uuid.uuid4()),  # one id for every attempt and duplicate: receivers dedupe on it
            "occurred_at": _iso(occurred_at),
            "payload": payload,
        }

        def build(attempt: int) -> tuple[bytes, dict[str, str]]:
            body = json.dumps({"data": data, "meta": {"attempt": attempt, "delivered_to": url}}).encode()
            return body, self._signed_headers(body)

        return build

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.signature_mode == "missing":
            return headers
        timestamp = str(int(time.time()) - (600 if self.signature_mode == "stale" else 0))
        signed = body + b" " if self.signature_mode == "bad" else body
        signature = self._signing_key.sign(timestamp.encode() + b"|" + signed)
        headers["telnyx-signature-ed25519"] = base64.b64encode(signature).decode()
        headers["telnyx-timestamp"] = timestamp
        return headers
