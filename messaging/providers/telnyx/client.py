"""The Telnyx client: Messaging API v2 sends and number provisioning (docs/providers.md §1)."""

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
from messaging.providers.telnyx import callbacks
from messaging.providers.telnyx.errors import NUMBER_TAKEN_CODES, TELNYX_ERRORS


class TelnyxProvider(HttpSmsProvider):
    name = "telnyx"
    label = "Telnyx"
    error_codes = TELNYX_ERRORS
    callbacks = callbacks

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

    # Numbers (docs/providers.md §1.8) ------------------------------------------------------------

    def _api(self, method: str, path: str, *, doing: str, params=None, json=None) -> dict[str, Any]:
        api_key = getattr(settings, "TELNYX_API_KEY", "")
        if not api_key:
            raise NumberError("Telnyx is not configured: TELNYX_API_KEY is empty.")
        request = ProviderRequest(
            base_url=settings.TELNYX_API_BASE,
            path=path,
            method=method,
            headers={"Authorization": f"Bearer {api_key}"},
            params=params,
            json=json,
        )
        return self._call(request, doing=doing)

    def expected_webhook_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("hook_telnyx")

    def expected_messaging_profile_id(self) -> str | None:
        return settings.TELNYX_MESSAGING_PROFILE_ID or None

    @reads_number_answer
    def search_numbers(self, *, area_code: str, limit: int = 10) -> list[AvailableNumber]:
        answer = self._api(
            "GET",
            "/v2/available_phone_numbers",
            doing=f"searching numbers in area code {area_code}",
            params={
                "filter[country_code]": "US",
                "filter[national_destination_code]": area_code,
                "filter[features]": "sms",
                "filter[limit]": str(limit),
            },
        )
        numbers = []
        for item in answer.get("data") or []:
            regions = {r.get("region_type"): r.get("region_name", "") for r in item.get("region_information") or []}
            numbers.append(
                AvailableNumber(
                    phone_number=item["phone_number"],
                    locality=regions.get("rate_center") or regions.get("location") or "",
                    region=regions.get("state") or "",
                )
            )
        return numbers

    @reads_number_answer
    def order_number(self, *, phone_number: str) -> NumberOrder:
        body: dict[str, Any] = {"phone_numbers": [{"phone_number": phone_number}]}
        if settings.TELNYX_MESSAGING_PROFILE_ID:  # assigned at purchase, so texts work once the order completes
            body["messaging_profile_id"] = settings.TELNYX_MESSAGING_PROFILE_ID
        try:
            answer = self._api("POST", "/v2/number_orders", doing=f"ordering {phone_number}", json=body)
        except NumberError as exc:
            if exc.status == 422 or exc.code in NUMBER_TAKEN_CODES:
                raise NumberUnavailable(
                    f"{phone_number} is no longer available; search again and choose another number.",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise
        return number_order_from(answer["data"])

    @reads_number_answer
    def number_order_status(self, *, order_id: str) -> NumberOrder:
        answer = self._api("GET", f"/v2/number_orders/{order_id}", doing="reading the number order")
        return number_order_from(answer["data"])

    @reads_number_answer
    def inspect_number(self, *, phone_number: str, provider_number_id: str = "") -> NumberState:
        number = self._find_number(phone_number, provider_number_id)
        if number is None:
            return NumberState(phone_number=phone_number, exists=False)
        number_id = str(number["id"])
        messaging = self._api(
            "GET", f"/v2/phone_numbers/{number_id}/messaging", doing=f"reading {phone_number}'s messaging settings"
        )["data"]
        profile_id = messaging.get("messaging_profile_id") or ""
        webhook_url = ""
        if profile_id:
            profile = self._api("GET", f"/v2/messaging_profiles/{profile_id}", doing="reading the messaging profile")
            webhook_url = profile["data"].get("webhook_url") or ""
        status = str(number.get("status") or "")
        return NumberState(
            phone_number=phone_number,
            exists=status not in {"deleted", "ported-out", "purchase-failed"},
            active=status == "active",
            provider_number_id=number_id,
            provider_status=status,
            messaging_profile_id=profile_id,
            webhook_url=webhook_url,
        )

    def _find_number(self, phone_number: str, provider_number_id: str) -> dict[str, Any] | None:
        if provider_number_id:
            try:
                return self._api("GET", f"/v2/phone_numbers/{provider_number_id}", doing=f"looking up {phone_number}")[
                    "data"
                ]
            except NumberError as exc:
                if exc.status != 404:
                    raise
                # Unknown id (re-bought, or the id was never right): fall back to the number itself.
        found = self._api(
            "GET",
            "/v2/phone_numbers",
            doing=f"looking up {phone_number}",
            params={"filter[phone_number]": phone_number},
        )
        return next((item for item in found.get("data") or [] if item.get("phone_number") == phone_number), None)

    def assign_messaging_profile(self, *, provider_number_id: str, messaging_profile_id: str) -> None:
        self._api(
            "PATCH",
            f"/v2/phone_numbers/{provider_number_id}/messaging",
            doing="assigning the number to our messaging profile",
            json={"messaging_profile_id": messaging_profile_id},
        )

    def set_webhook_url(self, *, number: NumberState, url: str) -> None:
        # Telnyx keeps the webhook on the messaging profile, so this fixes every number on it at once.
        profile_id = number.messaging_profile_id or self.expected_messaging_profile_id()
        if not profile_id:
            raise NumberError(f"{number.phone_number} has no messaging profile whose webhook could be set.")
        self._api(
            "PATCH",
            f"/v2/messaging_profiles/{profile_id}",
            doing="setting the messaging profile's webhook URL",
            json={"webhook_url": url},
        )


def number_order_from(data: dict[str, Any]) -> NumberOrder:
    """A ``number_order`` resource (order response or ``number_order.complete`` payload) → NumberOrder."""
    ordered = (data.get("phone_numbers") or [{}])[0]
    status = str(data.get("status") or "pending")
    return NumberOrder(
        phone_number=str(ordered.get("phone_number") or ""),
        status=status if status in ("pending", "success", "failure") else "pending",
        order_id=str(data.get("id") or ""),
        provider_number_id=str(ordered.get("phone_number_id") or ""),
        detail=str(ordered.get("status") or ""),
    )
