"""Phone numbers in the fakes: search, order, inspect and repair (docs/providers.md §1.8 and Twilio's
IncomingPhoneNumbers), mixed into ``FakeTelnyx`` / ``FakeTwilio`` with one routing line each.

State lives in a :class:`NumberInventory` (numbers on the account, numbers someone else took). Test controls
break a number the ways phone-linking recovery must notice: ``release_number`` (gone from the account),
``unassign_profile`` (Telnyx: no messaging profile), ``drift_webhook`` (the URL inbound texts go to changed).
Telnyx number orders answer ``pending`` and complete asynchronously with a signed ``number_order.complete``
webhook (``order_outcome`` chooses success or failure, ``order_mode="instant"`` answers ``success`` at once).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal

from tests.fakes.base import FakeResponse, RecordedRequest

DRIFTED_WEBHOOK_URL = "https://elsewhere.example.test/hooks"


@dataclass
class FakeNumber:
    phone_number: str
    id: str
    status: str = "active"  # Telnyx: active; Twilio: in-use
    messaging_profile_id: str = ""
    sms_url: str = ""  # Twilio only (Telnyx webhooks live on the profile)
    status_callback: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class NumberInventory:
    """The numbers on the fake account, and the ones the "market" no longer offers."""

    def __init__(self) -> None:
        self.owned: dict[str, FakeNumber] = {}
        self.taken: set[str] = set()

    def available(self, area_code: str, limit: int) -> list[str]:
        # Deterministic: +1 <area> 555 0100… minus numbers anyone holds.
        numbers = (f"+1{area_code}55501{n:02d}" for n in range(100))
        return [n for n in numbers if n not in self.owned and n not in self.taken][:limit]

    def by_id(self, number_id: str) -> FakeNumber | None:
        return next((n for n in self.owned.values() if n.id == number_id), None)


class NumbersMixinBase:
    """Controls shared by both providers' number fakes."""

    inventory: NumberInventory

    def _init_numbers(self) -> None:
        self.inventory = NumberInventory()

    def take_number(self, phone_number: str) -> None:
        """Someone else buys ``phone_number``: it disappears from searches and orders for it fail."""
        self.inventory.taken.add(phone_number)

    def release_number(self, phone_number: str) -> None:
        """The number leaves our account (released in the portal, ported out)."""
        self.inventory.owned.pop(phone_number, None)
        self.inventory.taken.add(phone_number)

    def number(self, phone_number: str) -> FakeNumber:
        return self.inventory.owned[phone_number]


# --- Telnyx ------------------------------------------------------------------------------------------

TELNYX_NUMBER_PATH = re.compile(r"^/v2/phone_numbers/(?P<id>[^/]+)(?P<messaging>/messaging)?$")
TELNYX_PROFILE_PATH = re.compile(r"^/v2/messaging_profiles/(?P<id>[^/]+)$")
TELNYX_ORDER_PATH = re.compile(r"^/v2/number_orders/(?P<id>[^/]+)$")


class TelnyxNumbersMixin(NumbersMixinBase):
    """For ``FakeTelnyx``: ``route`` calls ``route_numbers`` first."""

    messaging_profile_id: str
    profile_webhook_url: str | None

    def _init_numbers(self) -> None:
        super()._init_numbers()
        self.profiles: dict[str, dict[str, Any]] = {
            self.messaging_profile_id: {"id": self.messaging_profile_id, "name": "Koinonia", "webhook_url": ""}
        }
        if self.profile_webhook_url:
            self.profiles[self.messaging_profile_id]["webhook_url"] = self.profile_webhook_url
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_mode: Literal["pending", "instant"] = "pending"
        self.order_outcome: Literal["success", "failure"] = "success"
        self.order_delay = 0.01
        self.number_order_webhook_url: str | None = None  # default: the order's profile webhook URL

    # Controls --------------------------------------------------------------------------------------

    def add_number(self, phone_number: str, *, messaging_profile_id: str | None = None) -> FakeNumber:
        """A number already on the account (bought before the test)."""
        number = FakeNumber(
            phone_number=phone_number,
            id=str(uuid.uuid4()),
            messaging_profile_id=self.messaging_profile_id if messaging_profile_id is None else messaging_profile_id,
        )
        self.inventory.owned[phone_number] = number
        return number

    def unassign_profile(self, phone_number: str) -> None:
        self.number(phone_number).messaging_profile_id = ""

    def drift_webhook(self, phone_number: str, url: str = DRIFTED_WEBHOOK_URL) -> None:
        """The webhook of the number's profile changes (someone edited it in the portal)."""
        profile_id = self.number(phone_number).messaging_profile_id or self.messaging_profile_id
        self.profiles[profile_id]["webhook_url"] = url

    def set_profile_webhook(self, url: str) -> None:
        self.profiles[self.messaging_profile_id]["webhook_url"] = url
        self.profile_webhook_url = url

    # Routing ---------------------------------------------------------------------------------------

    def route_numbers(self, request: RecordedRequest) -> FakeResponse | None:
        method, path = request.method, request.path
        if path == "/v2/available_phone_numbers" and method == "GET":
            return self._search(request)
        if path == "/v2/number_orders" and method == "POST":
            return self._order(request)
        if (match := TELNYX_ORDER_PATH.match(path)) and method == "GET":
            order = self.orders.get(match["id"])
            return self._data(order) if order else self._not_found(path)
        if path == "/v2/phone_numbers" and method == "GET":
            wanted = (request.query.get("filter[phone_number]") or [""])[0]
            items = [n for n in self.inventory.owned.values() if not wanted or n.phone_number == wanted]
            return FakeResponse.json(
                200,
                {
                    "data": [self._number_record(n) for n in items],
                    "meta": {"total_results": len(items), "page_number": 1, "page_size": 20, "total_pages": 1},
                },
            )
        if match := TELNYX_NUMBER_PATH.match(path):
            number = self.inventory.by_id(match["id"])
            if number is None:
                return self._not_found(path)
            if not match["messaging"]:
                return self._data(self._number_record(number)) if method == "GET" else None
            if method == "PATCH":
                return self._patch_messaging(request, number)
            return self._data(self._messaging_record(number)) if method == "GET" else None
        if match := TELNYX_PROFILE_PATH.match(path):
            profile = self.profiles.get(match["id"])
            if profile is None:
                return self._not_found(path)
            if method == "PATCH":
                body = request.json()
                for key in ("webhook_url", "webhook_failover_url", "name"):
                    if key in body:
                        profile[key] = body[key]
            return self._data({"record_type": "messaging_profile", "enabled": True, **profile})
        return None

    def _data(self, data: Any, status: int = 200) -> FakeResponse:
        return FakeResponse.json(status, {"data": data})

    def _not_found(self, path: str) -> FakeResponse:
        return self.error_response(404, "10005", f"The requested resource {path} was not found.")  # type: ignore[attr-defined]

    def _search(self, request: RecordedRequest) -> FakeResponse:
        def param(name: str) -> str:
            return (request.query.get(f"filter[{name}]") or [""])[0]

        area_code = param("national_destination_code")
        if not re.fullmatch(r"\d{3}", area_code):
            return self.error_response(400, "10015", "filter[national_destination_code] must be 3 digits.")  # type: ignore[attr-defined]
        limit = int(param("limit") or 10)
        return FakeResponse.json(
            200,
            {
                "data": [
                    {
                        "record_type": "available_phone_number",
                        "phone_number": number,
                        "vanity_format": None,
                        "best_effort": False,
                        "quickship": True,
                        "reservable": True,
                        "region_information": [
                            {"region_type": "country_code", "region_name": "US"},
                            {"region_type": "rate_center", "region_name": "FAKEVILLE"},
                            {"region_type": "state", "region_name": "IL"},
                        ],
                        "cost_information": {"upfront_cost": "1.00", "monthly_cost": "1.00", "currency": "USD"},
                        "features": [{"name": "sms"}, {"name": "mms"}, {"name": "voice"}],
                    }
                    for number in self.inventory.available(area_code, limit)
                ],
                "metadata": {"total_results": limit, "best_effort_results": 0},
            },
        )

    def _order(self, request: RecordedRequest) -> FakeResponse:
        body = request.json()
        wanted = [str(item.get("phone_number", "")) for item in body.get("phone_numbers") or []]
        if not wanted:
            return self.error_response(422, "10015", "phone_numbers must not be empty.")  # type: ignore[attr-defined]
        for phone_number in wanted:
            if phone_number in self.inventory.owned or phone_number in self.inventory.taken:
                return self.error_response(422, "85001", f"{phone_number} is not available for purchase.")  # type: ignore[attr-defined]
            self.inventory.taken.add(phone_number)  # reserved for this order from now on
        profile_id = body.get("messaging_profile_id") or ""
        order_id = str(uuid.uuid4())
        order = {
            "id": order_id,
            "record_type": "number_order",
            "status": "pending",
            "messaging_profile_id": profile_id or None,
            "phone_numbers_count": len(wanted),
            "phone_numbers": [
                {"id": str(uuid.uuid4()), "phone_number": n, "status": "pending", "requirements_met": True}
                for n in wanted
            ],
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "requirements_met": True,
        }
        self.orders[order_id] = order
        if self.order_mode == "instant":
            self._complete_order(order, self.order_outcome)
            return self._data(order)
        snapshot = {**order, "phone_numbers": [dict(n) for n in order["phone_numbers"]]}
        self._schedule_order_completion(order)
        return self._data(snapshot)

    def _complete_order(self, order: dict[str, Any], outcome: str) -> None:
        order["status"] = outcome
        for item in order["phone_numbers"]:
            item["status"] = "success" if outcome == "success" else "failure"
            if outcome == "success":
                number = self.add_number(item["phone_number"], messaging_profile_id=order["messaging_profile_id"] or "")
                item["phone_number_id"] = number.id
            else:
                self.inventory.taken.discard(item["phone_number"])

    def _schedule_order_completion(self, order: dict[str, Any]) -> None:
        profile = self.profiles.get(order["messaging_profile_id"] or "") or {}
        url = self.number_order_webhook_url or profile.get("webhook_url")
        outcome = self.order_outcome

        def build(attempt: int) -> tuple[bytes, dict[str, str]]:
            if order["status"] == "pending":  # completes when the provider gets round to telling us
                self._complete_order(order, outcome)
            return event(attempt)

        if not url:
            self._complete_order(order, outcome)
            return
        event = self._event_builder("number_order.complete", order, datetime.now(UTC), url)  # type: ignore[attr-defined]
        self.webhooks.schedule(self.order_delay, url, build)  # type: ignore[attr-defined]

    def _patch_messaging(self, request: RecordedRequest, number: FakeNumber) -> FakeResponse:
        body = request.json()
        profile_id = body.get("messaging_profile_id")
        if profile_id is not None:  # "" unassigns, null keeps
            if profile_id and profile_id not in self.profiles:
                return self.error_response(422, "10015", f"Messaging profile {profile_id} does not exist.")  # type: ignore[attr-defined]
            number.messaging_profile_id = profile_id
        return self._data(self._messaging_record(number))

    def _number_record(self, number: FakeNumber) -> dict[str, Any]:
        return {
            "record_type": "phone_number",
            "id": number.id,
            "phone_number": number.phone_number,
            "status": number.status,
            "messaging_profile_id": number.messaging_profile_id or None,
            "connection_id": None,
            "tags": [],
            "purchased_at": number.created_at.isoformat(timespec="milliseconds"),
        }

    def _messaging_record(self, number: FakeNumber) -> dict[str, Any]:
        return {
            "record_type": "messaging_settings",
            "id": number.id,
            "phone_number": number.phone_number,
            "messaging_profile_id": number.messaging_profile_id or None,
            "type": "long-code",
            "country_code": "US",
            "eligible_messaging_products": ["A2P"],
        }


# --- Twilio ------------------------------------------------------------------------------------------

TWILIO_NUMBERS_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/"
    r"(?:(?P<available>AvailablePhoneNumbers/US/Local)|IncomingPhoneNumbers(?:/(?P<pn>PN[^/.]+))?)\.json$"
)


class TwilioNumbersMixin(NumbersMixinBase):
    """For ``FakeTwilio``: ``route`` calls ``route_numbers`` first."""

    # Controls --------------------------------------------------------------------------------------

    def add_number(self, phone_number: str, *, sms_url: str = "", status_callback: str = "") -> FakeNumber:
        number = FakeNumber(
            phone_number=phone_number,
            id="PN" + uuid.uuid4().hex,
            status="in-use",
            sms_url=sms_url,
            status_callback=status_callback,
        )
        self.inventory.owned[phone_number] = number
        return number

    def drift_webhook(self, phone_number: str, url: str = DRIFTED_WEBHOOK_URL) -> None:
        self.number(phone_number).sms_url = url

    # Routing ---------------------------------------------------------------------------------------

    def route_numbers(self, request: RecordedRequest, account: str) -> FakeResponse | None:
        match = TWILIO_NUMBERS_PATH.match(request.path)
        if match is None:
            return None
        if match["sid"] != account:
            return self.error_response(401, None, "Authenticate")  # type: ignore[attr-defined]
        if match["available"]:
            return self._available(request, account) if request.method == "GET" else None
        if match["pn"]:
            number = self.inventory.by_id(match["pn"])
            if number is None:
                return self.error_response(404, None, f"The requested resource {request.path} was not found")  # type: ignore[attr-defined]
            if request.method == "POST":
                self._apply_form(number, request.form)
            elif request.method == "DELETE":
                self.release_number(number.phone_number)
                return FakeResponse(204)
            return FakeResponse.json(200, self._record(number, account))
        if request.method == "POST":
            return self._buy(request, account)
        if request.method == "GET":
            wanted = (request.query.get("PhoneNumber") or [""])[0]
            items = [n for n in self.inventory.owned.values() if not wanted or n.phone_number == wanted]
            return FakeResponse.json(
                200,
                {
                    "incoming_phone_numbers": [self._record(n, account) for n in items],
                    "page": 0,
                    "page_size": 50,
                    "next_page_uri": None,
                    "uri": request.target,
                },
            )
        return None

    def _available(self, request: RecordedRequest, account: str) -> FakeResponse:
        area_code = (request.query.get("AreaCode") or [""])[0]
        if not re.fullmatch(r"\d{3}", area_code):
            return self.error_response(400, "21452", "AreaCode must be a 3-digit area code.")  # type: ignore[attr-defined]
        limit = int((request.query.get("PageSize") or ["30"])[0])
        return FakeResponse.json(
            200,
            {
                "uri": request.target,
                "available_phone_numbers": [
                    {
                        "friendly_name": f"({area_code}) 555-{number[-4:]}",
                        "phone_number": number,
                        "lata": "358",
                        "rate_center": "FAKEVILLE",
                        "locality": "Fakeville",
                        "region": "IL",
                        "postal_code": "60601",
                        "iso_country": "US",
                        "beta": False,
                        "capabilities": {"voice": True, "SMS": True, "MMS": True, "fax": False},
                    }
                    for number in self.inventory.available(area_code, limit)
                ],
            },
        )

    def _buy(self, request: RecordedRequest, account: str) -> FakeResponse:
        form = request.form
        phone_number = (form.get("PhoneNumber") or [""])[0]
        if not phone_number or phone_number in self.inventory.owned or phone_number in self.inventory.taken:
            return self.error_response(400, "21422", f"PhoneNumber {phone_number} is not available.")  # type: ignore[attr-defined]
        number = self.add_number(phone_number)
        self._apply_form(number, form)
        return FakeResponse.json(201, self._record(number, account))

    @staticmethod
    def _apply_form(number: FakeNumber, form: dict[str, list[str]]) -> None:
        if "SmsUrl" in form:
            number.sms_url = form["SmsUrl"][0]
        if "StatusCallback" in form:
            number.status_callback = form["StatusCallback"][0]

    @staticmethod
    def _record(number: FakeNumber, account: str) -> dict[str, Any]:
        stamp = format_datetime(number.created_at)
        return {
            "sid": number.id,
            "account_sid": account,
            "phone_number": number.phone_number,
            "friendly_name": number.phone_number,
            "status": number.status,
            "sms_url": number.sms_url or None,
            "sms_method": "POST",
            "sms_fallback_url": None,
            "status_callback": number.status_callback or None,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": stamp,
            "date_updated": stamp,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{number.id}.json",
        }
