"""Telnyx Messaging API v2 (reference/providers.md §1)."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from messaging.providers.base import ErrorInfo, Reason, SendResult
from messaging.providers.http import HttpSmsProvider, ProviderRequest

_CREDENTIALS = ErrorInfo(Reason.CREDENTIALS_REJECTED.format(provider="Telnyx"), sender_level=True)

# Telnyx error codes are digit strings; the HTTP status that carries them is not documented for several,
# so these decide. Codes 40001–40018 arrive in message.finalized webhooks rather than send responses.
TELNYX_ERRORS: dict[str, ErrorInfo] = {
    "10006": _CREDENTIALS,
    "10009": _CREDENTIALS,
    "10010": _CREDENTIALS,
    "10011": ErrorInfo(Reason.RATE_LIMITED.format(provider="Telnyx"), retryable=True),
    "40300": ErrorInfo(Reason.OPTED_OUT),
    "40302": ErrorInfo("The message is too large to send; shorten the text or remove attachments."),
    "40304": ErrorInfo("This combination of text and attachments can't be sent in one message."),
    "40305": ErrorInfo(
        "Our sending number isn't on our Telnyx messaging profile; ask support to check the number.",
        sender_level=True,
    ),
    "40308": ErrorInfo(
        "Our sending number can't send picture messages (MMS); remove the attachments.", sender_level=True
    ),
    "40309": ErrorInfo(Reason.REGION_NOT_ENABLED),
    "40310": ErrorInfo(Reason.INVALID_NUMBER),
    "40312": ErrorInfo("Our Telnyx messaging profile is disabled; contact support.", sender_level=True),
    "40316": ErrorInfo(Reason.NO_CONTENT),
    "40317": ErrorInfo("The attachments are invalid: at most 10, and under 1 MB in total."),
    "40318": ErrorInfo("Telnyx's sending queue for our account is full.", retryable=True),
    "40321": ErrorInfo("Our Telnyx number pool has no number that can send this message.", sender_level=True),
    "40328": ErrorInfo("The message is longer than carriers accept as one SMS; shorten it."),
    "40329": ErrorInfo(Reason.TOLL_FREE_NOT_VERIFIED, sender_level=True),
    "40333": ErrorInfo("Our Telnyx spend limit was reached; raise it or wait for it to reset.", sender_level=True),
    "40001": ErrorInfo(Reason.NOT_SMS_CAPABLE),
    "40002": ErrorInfo(Reason.SPAM_BLOCKED),
    "40003": ErrorInfo(Reason.SPAM_BLOCKED),
    "40008": ErrorInfo(Reason.UNDELIVERABLE),
    "40010": ErrorInfo(Reason.NOT_10DLC_REGISTERED, sender_level=True),
    "40011": ErrorInfo("The carrier throttled our texts because they were sent too fast.", retryable=True),
    "40014": ErrorInfo("The text waited too long in Telnyx's queue and expired unsent.", retryable=True),
    "40016": ErrorInfo("T-Mobile's daily limit for our 10DLC brand was reached.", sender_level=True),
    "40018": ErrorInfo("AT&T's per-minute limit for our 10DLC campaign was exceeded.", retryable=True),
}


class TelnyxProvider(HttpSmsProvider):
    name = "telnyx"
    label = "Telnyx"
    error_codes = TELNYX_ERRORS

    def _build_request(
        self, *, from_number: str, to_number: str, body: str, media_urls: Sequence[str], webhook_url: str | None
    ) -> ProviderRequest:
        api_key = self._required_setting("TELNYX_API_KEY")
        payload: dict[str, Any] = {"from": from_number, "to": to_number}
        if body:
            payload["text"] = body
        if media_urls:
            payload["media_urls"] = list(media_urls)
        if webhook_url:
            # This message's URL only: the profile's URL may belong to another environment or app.
            payload["webhook_url"] = webhook_url
            payload["use_profile_webhooks"] = False
        if settings.TELNYX_MESSAGING_PROFILE_ID:
            payload["messaging_profile_id"] = settings.TELNYX_MESSAGING_PROFILE_ID
        return ProviderRequest(
            base_url=settings.TELNYX_API_BASE,
            path="/v2/messages",
            headers={"Authorization": f"Bearer {api_key}"},
            json=payload,
        )

    def _parse_result(self, answer: dict[str, Any]) -> SendResult:
        data = answer["data"]
        recipients = data.get("to")
        status = recipients[0]["status"] if isinstance(recipients, list) and recipients else "queued"
        return SendResult(provider_message_id=str(data["id"]), segments=data.get("parts"), status=status)

    def _error_code_and_message(self, body: Any) -> tuple[str, str]:
        errors = body.get("errors") if isinstance(body, dict) else None
        if not errors or not isinstance(errors[0], dict):
            return "", ""
        first = errors[0]
        message = first.get("detail") or first.get("title") or ""
        return str(first.get("code", "")), message
