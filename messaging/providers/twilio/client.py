"""The Twilio client: Programmable Messaging sends and number provisioning (docs/providers.md §2)."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.urls import reverse

from messaging.providers.base import (
    AvailableNumber,
    NumberError,
    NumberOrder,
    NumberState,
    NumberUnavailable,
    SendResult,
    reads_number_answer,
)
from messaging.providers.http import HttpSmsProvider, ProviderRequest
from messaging.providers.twilio import callbacks
from messaging.providers.twilio.errors import NUMBER_TAKEN_CODES, TWILIO_ERRORS


class TwilioProvider(HttpSmsProvider):
    name = "twilio"
    label = "Twilio"
    error_codes = TWILIO_ERRORS
    callbacks = callbacks

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

    # Numbers ------------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, *, doing: str, params=None, form=None) -> dict[str, Any]:
        account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "")
        auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
        if not account_sid or not auth_token:
            raise NumberError("Twilio is not configured: TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is empty.")
        request = ProviderRequest(
            base_url=settings.TWILIO_API_BASE,
            path=f"/2010-04-01/Accounts/{account_sid}{path}",
            method=method,
            auth=(account_sid, auth_token),
            params=params,
            form=form,
        )
        return self._call(request, doing=doing)

    def expected_webhook_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("hook_twilio_inbound")

    def _webhook_form(self, url: str) -> list[tuple[str, str]]:
        # Inbound texts to our inbound hook; status callbacks of texts sent without one to the status hook.
        return [("SmsUrl", url), ("SmsMethod", "POST"), ("StatusCallback", self._status_url())]

    def _status_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("hook_twilio_status")

    @reads_number_answer
    def search_numbers(self, *, area_code: str, limit: int = 10) -> list[AvailableNumber]:
        answer = self._api(
            "GET",
            "/AvailablePhoneNumbers/US/Local.json",
            doing=f"searching numbers in area code {area_code}",
            params={"AreaCode": area_code, "SmsEnabled": "true", "PageSize": str(limit)},
        )
        return [
            AvailableNumber(
                phone_number=item["phone_number"], locality=item.get("locality") or "", region=item.get("region") or ""
            )
            for item in answer.get("available_phone_numbers") or []
        ][:limit]

    @reads_number_answer
    def order_number(self, *, phone_number: str) -> NumberOrder:
        try:
            answer = self._api(
                "POST",
                "/IncomingPhoneNumbers.json",
                doing=f"ordering {phone_number}",
                form=[("PhoneNumber", phone_number), *self._webhook_form(self.expected_webhook_url())],
            )
        except NumberError as exc:
            if exc.code in NUMBER_TAKEN_CODES:
                raise NumberUnavailable(
                    f"{phone_number} is no longer available; search again and choose another number.",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise
        return NumberOrder(
            phone_number=answer.get("phone_number") or phone_number,
            status="success",
            order_id=answer["sid"],
            provider_number_id=answer["sid"],
        )

    @reads_number_answer
    def inspect_number(self, *, phone_number: str, provider_number_id: str = "") -> NumberState:
        # By number rather than by SID: a released SID answers 404, a number re-bought gets a new SID.
        answer = self._api(
            "GET",
            "/IncomingPhoneNumbers.json",
            doing=f"looking up {phone_number}",
            params={"PhoneNumber": phone_number},
        )
        found = next(
            (n for n in answer.get("incoming_phone_numbers") or [] if n.get("phone_number") == phone_number), None
        )
        if found is None:
            return NumberState(phone_number=phone_number, exists=False)
        status = str(found.get("status") or "in-use")
        return NumberState(
            phone_number=phone_number,
            exists=True,
            active=status == "in-use",
            provider_number_id=str(found["sid"]),
            provider_status=status,
            messaging_profile_id=None,
            webhook_url=found.get("sms_url") or "",
        )

    def set_webhook_url(self, *, number: NumberState, url: str) -> None:
        self._api(
            "POST",
            f"/IncomingPhoneNumbers/{number.provider_number_id}.json",
            doing=f"setting {number.phone_number}'s webhook URL",
            form=self._webhook_form(url),
        )
