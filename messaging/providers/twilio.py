"""Twilio Programmable Messaging (reference/providers.md §2)."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from messaging.providers.base import ErrorInfo, Reason, SendResult
from messaging.providers.http import HttpSmsProvider, ProviderRequest

_CREDENTIALS = ErrorInfo(Reason.CREDENTIALS_REJECTED.format(provider="Twilio"), sender_level=True)

# Twilio error codes are integers on the wire; kept as strings here so both providers share one shape.
# Codes 30xxx arrive as ErrorCode in status callbacks rather than in send responses.
TWILIO_ERRORS: dict[str, ErrorInfo] = {
    "20003": _CREDENTIALS,
    "20404": ErrorInfo("Twilio doesn't know our account; check TWILIO_ACCOUNT_SID.", sender_level=True),
    "20429": ErrorInfo(Reason.RATE_LIMITED.format(provider="Twilio"), retryable=True),
    "21211": ErrorInfo(Reason.INVALID_NUMBER),
    "21408": ErrorInfo(Reason.REGION_NOT_ENABLED),
    "21603": ErrorInfo("No sending number was given; choose a sending number for this church.", sender_level=True),
    "21606": ErrorInfo("Our sending number isn't an SMS-capable number on our Twilio account.", sender_level=True),
    "21610": ErrorInfo(Reason.OPTED_OUT),
    "21612": ErrorInfo("Texts can't be routed from our sending number to this number."),
    "21614": ErrorInfo(Reason.NOT_SMS_CAPABLE),
    "21617": ErrorInfo("The message is over Twilio's 1,600-character limit; shorten it."),
    "21619": ErrorInfo(Reason.NO_CONTENT),
    "21623": ErrorInfo(Reason.TOO_MANY_MEDIA),
    "30003": ErrorInfo(Reason.UNDELIVERABLE),
    "30005": ErrorInfo("The number doesn't exist or is no longer in service."),
    "30006": ErrorInfo(Reason.NOT_SMS_CAPABLE),
    "30007": ErrorInfo(Reason.SPAM_BLOCKED),
    "30032": ErrorInfo(Reason.TOLL_FREE_NOT_VERIFIED, sender_level=True),
    "30034": ErrorInfo(Reason.NOT_10DLC_REGISTERED, sender_level=True),
}


class TwilioProvider(HttpSmsProvider):
    name = "twilio"
    label = "Twilio"
    error_codes = TWILIO_ERRORS

    def _build_request(
        self, *, from_number: str, to_number: str, body: str, media_urls: Sequence[str], webhook_url: str | None
    ) -> ProviderRequest:
        account_sid = self._required_setting("TWILIO_ACCOUNT_SID")
        auth_token = self._required_setting("TWILIO_AUTH_TOKEN")
        form = [("To", to_number), ("From", from_number)]
        if body:
            form.append(("Body", body))
        form += [("MediaUrl", url) for url in media_urls]
        if webhook_url:
            form.append(("StatusCallback", webhook_url))
        return ProviderRequest(
            base_url=settings.TWILIO_API_BASE,
            path=f"/2010-04-01/Accounts/{account_sid}/Messages.json",
            auth=(account_sid, auth_token),
            form=form,
        )

    def _parse_result(self, answer: dict[str, Any]) -> SendResult:
        # num_segments is a string, and "0" (Messaging Service, not yet counted) means unknown.
        segments = int(answer.get("num_segments") or 0) or None
        return SendResult(provider_message_id=answer["sid"], segments=segments, status=answer["status"])

    def _error_code_and_message(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict) or body.get("code") is None:
            return "", ""
        return str(body["code"]), str(body.get("message") or body.get("detail") or body.get("title") or "")
