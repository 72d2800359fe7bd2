"""A local Twilio Programmable Messaging API that speaks the real wire format (docs/providers.md §2).

Sends: ``POST /2010-04-01/Accounts/{sid}/Messages.json``, HTTP Basic, form body → 201 JSON with string
``num_segments``, or ``{"code": <int>, "message", "more_info", "status"}``. Then form-encoded status
callbacks (``sent``, then ``delivered`` / ``undelivered`` with ``ErrorCode``) to ``StatusCallback``, signed
with ``X-Twilio-Signature`` using the account's auth token.
"""

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

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
from tests.fakes.numbers import TwilioNumbersMixin

TEST_ACCOUNT_SID = "ACtest0000000000000000000000000001"
TEST_AUTH_TOKEN = "test_auth_token_0001"
API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
DEFAULT_CODES = {401: "20003", 404: "20404", 429: "20429"}


class FakeTwilio(TwilioNumbersMixin, FakeSmsProvider):
    keywords = OptOutKeywords(
        stop=frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}),
        start=frozenset({"START", "YES", "UNSTOP"}),
        help=frozenset({"HELP", "INFO"}),
    )
    rejections = {
        Rejection.INVALID_TO: ("21211", "The 'To' number {to} is not a valid phone number."),
        Rejection.MISSING_FROM: ("21603", "A 'From' phone number is required."),
        Rejection.NO_CONTENT: ("21619", "A text message body or media urls must be specified."),
        Rejection.TOO_LONG: ("21617", "The concatenated message body exceeds the 1600 character limit."),
        Rejection.TOO_MANY_MEDIA: ("21623", "The number of media files exceeds the limit of 10."),
        Rejection.OPTED_OUT: ("21610", "Attempt to send to unsubscribed recipient"),
    }
    delivered_status = "delivered"
    failed_status = "undelivered"
    webhook_attempts = 1  # Twilio does not retry status callbacks by default
    signature_modes = frozenset({"valid", "bad", "missing"})  # no timestamp, so nothing goes stale

    def __init__(
        self,
        *,
        accounts: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.accounts = dict(accounts or {TEST_ACCOUNT_SID: TEST_AUTH_TOKEN})
        self._init_numbers()
        super().__init__(**kwargs)

    def point_settings_at(self, settings: Any) -> None:
        """Make ``get_provider()`` use this fake (``settings``: pytest-django's fixture or django.conf)."""
        account_sid, auth_token = next(iter(self.accounts.items()))
        settings.SMS_PROVIDER = "twilio"
        settings.TWILIO_API_BASE = self.base_url
        settings.TWILIO_ACCOUNT_SID = account_sid
        settings.TWILIO_AUTH_TOKEN = auth_token

    # Wire format -------------------------------------------------------------------------------------

    def authenticate(self, request: RecordedRequest) -> str | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return None
        try:
            sid, _, token = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        expected = self.accounts.get(sid)
        return sid if expected is not None and hmac.compare_digest(expected, token) else None

    def route(self, request: RecordedRequest, account: str) -> FakeResponse:
        if (numbers := self.route_numbers(request, account)) is not None:
            return numbers
        match = MESSAGES_PATH.match(request.path)
        if match is None or request.method != "POST":
            return self.error_response(404, None, f"The requested resource {request.path} was not found")
        if match["sid"] != account:
            return self.error_response(401, None, "Authenticate")
        return self._send(request, account)

    def error_response(
        self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None
    ) -> FakeResponse:
        code = code or DEFAULT_CODES.get(status) or ("20500" if status >= 500 else "21100")
        body = {
            "code": int(code),  # an integer on Twilio's wire, unlike Telnyx
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return FakeResponse.json(status, body, headers)

    def rate_limit_headers(self, limit: int, remaining: int, reset_after: float) -> dict[str, str]:
        return {}  # Twilio's 429 carries no documented hint

    def too_long(self, text: str, segments: SegmentInfo) -> bool:
        return len(text) > MAX_BODY_CHARS

    def new_message_id(self, has_media: bool) -> str:
        return ("MM" if has_media else "SM") + uuid.uuid4().hex

    def _send(self, request: RecordedRequest, account: str) -> FakeResponse:
        form = request.form

        def first(name: str) -> str:
            return form.get(name, [""])[0]

        result = self.accept(
            account=account,
            from_number=first("From"),
            to_number=first("To"),
            text=first("Body"),
            media_urls=form.get("MediaUrl", []),
            webhook_url=first("StatusCallback") or None,
        )
        if isinstance(result, FakeResponse):
            return result
        created = format_datetime(result.received_at)
        return FakeResponse.json(
            201,
            {
                "sid": result.id,
                "account_sid": account,
                "api_version": API_VERSION,
                "from": result.from_number,
                "to": result.to_number,
                "body": result.text,
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": str(result.segments.segments),
                "num_media": str(len(result.media_urls)),
                "messaging_service_sid": None,
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "date_created": created,
                "date_updated": created,
                "date_sent": None,
                "uri": f"/{API_VERSION}/Accounts/{account}/Messages/{result.id}.json",
            },
        )

    # Webhooks ----------------------------------------------------------------------------------------

    def status_webhook(
        self, message: FakeMessage, *, status: str, error_code: str | None, occurred_at: datetime
    ) -> WebhookBuilder:
        params = {
            "MessageSid": message.id,
            "SmsSid": message.id,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": message.account,
            "From": message.from_number,
            "To": message.to_number,
            "ApiVersion": API_VERSION,
        }
        if error_code:
            params["ErrorCode"] = error_code
        if status != "sent":
            params["RawDlrDoneDate"] = occurred_at.strftime("%y%m%d%H%M")
        headers = {"I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        return self._form_builder(message.webhook_url or "", params, message.account, headers)

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
        account = next(iter(self.accounts))
        params = {
            "MessageSid": message_id,
            "SmsSid": message_id,
            "SmsMessageSid": message_id,
            "AccountSid": account,
            "From": from_number,
            "To": to_number,
            "Body": text,
            "NumMedia": str(len(media)),
            "NumSegments": str(max(segment_info(text).segments, 1)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
            "FromCity": "",
            "FromState": "",
            "FromZip": "",
            "FromCountry": "US",
        }
        for n, (media_url, content_type) in enumerate(media):
            params[f"MediaUrl{n}"] = media_url
            params[f"MediaContentType{n}"] = content_type
        if keyword:
            params["OptOutType"] = keyword
        return self._form_builder(url, params, account, {})

    def _form_builder(self, url: str, params: dict[str, str], account: str, headers: dict[str, str]) -> WebhookBuilder:
        body = urlencode(params).encode()
        signed_headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        if self.signature_mode != "missing":
            token = self.accounts[account] + ("-wrong" if self.signature_mode == "bad" else "")
            signed_headers["X-Twilio-Signature"] = self._signature(url, params, token)

        def build(attempt: int) -> tuple[bytes, dict[str, str]]:
            return body, signed_headers

        return build

    @staticmethod
    def _signature(url: str, params: dict[str, str], token: str) -> str:
        # Twilio's scheme (§2.5); our params are single-valued, so the sort is by name alone.
        signed = url + "".join(name + value for name, value in sorted(params.items()))
        return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
