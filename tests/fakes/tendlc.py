"""Telnyx 10DLC registration for the local fake (docs/providers.md §1.9), mixed into FakeTelnyx.

Real paths under ``/v2/10dlc/``, camelCase bodies, 422 with ``source.pointer`` on missing or malformed
fields, and stateful GETs. Reviews do not run on wall time: tests move every pending record one step
with ``advance_tendlc()`` (or to the end with ``complete_tendlc()``), and each step posts a signed
``10dlc.*`` webhook to ``tendlc_webhook_url`` like the message webhooks (unless ``drop_tendlc_webhooks``).

Control: ``tendlc_wrapped`` (answer ``{"data": ...}`` instead of the spec's bare object),
``reject_next_brand(reasons)``, ``reject_next_campaign(reasons, status=...)``, ``invalid_next(problems)``.
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakes.base import FakeResponse, RecordedRequest

BRAND_REQUIRED = ("entityType", "displayName", "country", "email", "vertical")
CAMPAIGN_REQUIRED = ("brandId", "description", "usecase")
ENTITY_TYPES = {"PRIVATE_PROFIT", "PUBLIC_PROFIT", "NON_PROFIT", "GOVERNMENT", "SOLE_PROPRIETOR"}
CAMPAIGN_STEPS = ["TCR_PENDING", "TCR_ACCEPTED", "MNO_PENDING", "MNO_PROVISIONED"]
CAMPAIGN_FIELDS = (
    "usecase",
    "description",
    "messageFlow",
    "optinKeywords",
    "optinMessage",
    "optoutKeywords",
    "optoutMessage",
    "helpKeywords",
    "helpMessage",
    "sample1",
    "sample2",
    "sample3",
    "sample4",
    "sample5",
)


class FakeTenDlc:
    """Mixin for FakeTelnyx (needs its ``webhooks``, ``_event_builder``, ``_lock``, ``error_response``)."""

    def _set_defaults(self) -> None:
        super()._set_defaults()
        self.brands: dict[str, dict[str, Any]] = {}
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.number_assignments: dict[str, dict[str, Any]] = {}
        self.tendlc_wrapped = False
        self.tendlc_webhook_url: str | None = getattr(self, "tendlc_webhook_url", None)
        self.drop_tendlc_webhooks = False
        self._brand_rejections: list[list[str]] = []
        self._invalid_next: list[dict[str, str]] = []
        self._campaign_rejections: list[tuple[str, list[str]]] = []

    # Control -----------------------------------------------------------------------------------------

    def reject_next_brand(self, reasons: list[str]) -> None:
        """The next brand to finish review fails with ``reasons``."""
        self._brand_rejections.append(reasons)

    def reject_next_campaign(self, reasons: list[str], *, status: str = "MNO_REJECTED") -> None:
        """The next campaign to finish review ends in ``status`` with ``reasons``."""
        self._campaign_rejections.append((status, reasons))

    def invalid_next(self, problems: dict[str, str]) -> None:
        """The next 10DLC write is refused with 422 and these ``{field: detail}`` problems (e.g. an EIN
        that is well-formed but that the registry cannot match)."""
        self._invalid_next.append(problems)

    def advance_tendlc(self) -> int:
        """Move every pending brand, campaign and number assignment one step; returns how many moved."""
        moved = 0
        with self._lock:
            for brand in self.brands.values():
                if brand["status"] == "REGISTRATION_PENDING":
                    if self._brand_rejections:
                        brand.update(status="REGISTRATION_FAILED", failureReasons=self._brand_rejections.pop(0))
                    else:
                        brand.update(status="OK", identityStatus="VERIFIED")
                    self._emit("10dlc.brand.update", brand)
                    moved += 1
            for campaign in self.campaigns.values():
                status = campaign["campaignStatus"]
                if status not in CAMPAIGN_STEPS[:-1]:
                    continue
                if status == "MNO_PENDING" and self._campaign_rejections:
                    final, reasons = self._campaign_rejections.pop(0)
                    campaign.update(campaignStatus=final, failureReasons=reasons)
                else:
                    campaign["campaignStatus"] = CAMPAIGN_STEPS[CAMPAIGN_STEPS.index(status) + 1]
                self._emit("10dlc.campaign.update", campaign)
                moved += 1
            for assignment in self.number_assignments.values():
                if assignment["assignmentStatus"] == "PENDING_ASSIGNMENT":
                    assignment["assignmentStatus"] = "ASSIGNED"
                    self._emit("10dlc.phone_number.update", assignment)
                    moved += 1
        return moved

    def complete_tendlc(self, limit: int = 10) -> None:
        """Advance until nothing is pending."""
        for _ in range(limit):
            if not self.advance_tendlc():
                return

    # Wire format -------------------------------------------------------------------------------------

    def route_tendlc(self, request: RecordedRequest) -> FakeResponse:
        path, method = request.path.removeprefix("/v2/10dlc"), request.method
        if method in ("POST", "PUT"):
            try:
                body = request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self.error_response(400, "10015", "The request body is not a JSON object.")
        else:
            body = {}
        with self._lock:
            if method in ("POST", "PUT") and self._invalid_next:
                return self._invalid(self._invalid_next.pop(0))
            if path == "/brand" and method == "POST":
                return self._brand_create(body)
            if match := re.fullmatch(r"/brand/([^/]+)", path):
                return self._brand_item(method, match.group(1), body)
            if path == "/campaignBuilder" and method == "POST":
                return self._campaign_create(body)
            if match := re.fullmatch(r"/campaign/([^/]+)", path):
                return self._campaign_item(method, match.group(1), body)
            if path == "/phone_number_campaigns" and method == "POST":
                return self._assign(body)
            if (match := re.fullmatch(r"/phone_number_campaigns/([^/]+)", path)) and method == "GET":
                record = self.number_assignments.get(match.group(1))
                return self._answer(record) if record else self._missing("phone number assignment")
        return self.error_response(404, None, f"No route for {method} {request.path}.")

    def _answer(self, record: dict[str, Any], status: int = 200) -> FakeResponse:
        body = {"data": dict(record)} if self.tendlc_wrapped else dict(record)
        return FakeResponse.json(status, body)

    def _missing(self, what: str) -> FakeResponse:
        return self.error_response(404, "10005", f"The {what} was not found.")

    def _invalid(self, problems: dict[str, str]) -> FakeResponse:
        errors = [
            {"code": "10015", "title": "Invalid parameter", "detail": detail, "source": {"pointer": f"/{name}"}}
            for name, detail in problems.items()
        ]
        return FakeResponse.json(422, {"errors": errors})

    def _brand_problems(self, body: dict[str, Any]) -> dict[str, str]:
        problems = {name: f"{name} is required." for name in BRAND_REQUIRED if not body.get(name)}
        if body.get("entityType") and body["entityType"] not in ENTITY_TYPES:
            problems["entityType"] = "entityType is not a valid value."
        if body.get("ein") and not re.fullmatch(r"\d{2}-?\d{7}", str(body["ein"])):
            problems["ein"] = "EIN must be 9 digits."
        if body.get("website") and not re.match(r"https?://[^/]+\.", str(body["website"])):
            problems["website"] = "Website must be a valid URL."
        return problems

    def _brand_create(self, body: dict[str, Any]) -> FakeResponse:
        if problems := self._brand_problems(body):
            return self._invalid(problems)
        brand_id = f"4b20{uuid.uuid4().hex[:28]}"
        self.brands[brand_id] = {
            **body,
            "brandId": brand_id,
            "tcrBrandId": f"B{uuid.uuid4().hex[:6].upper()}",
            "status": "REGISTRATION_PENDING",
            "identityStatus": "UNVERIFIED",
            "failureReasons": [],
            "createdAt": _now(),
        }
        return self._answer(self.brands[brand_id])

    def _brand_item(self, method: str, brand_id: str, body: dict[str, Any]) -> FakeResponse:
        brand = self.brands.get(brand_id)
        if brand is None:
            return self._missing("brand")
        if method == "GET":
            return self._answer(brand)
        if method == "PUT":
            if problems := self._brand_problems({**brand, **body}):
                return self._invalid(problems)
            brand.update(body, status="REGISTRATION_PENDING", identityStatus="UNVERIFIED", failureReasons=[])
            return self._answer(brand)
        return self.error_response(405, "10015", f"{method} is not allowed here.")

    def _campaign_create(self, body: dict[str, Any]) -> FakeResponse:
        problems = {name: f"{name} is required." for name in CAMPAIGN_REQUIRED if not body.get(name)}
        brand = self.brands.get(body.get("brandId", ""))
        if body.get("brandId") and (brand is None or brand["status"] != "OK"):
            problems["brandId"] = "The brand is not registered (status must be OK)."
        if problems:
            return self._invalid(problems)
        campaign_id = str(uuid.uuid4())
        self.campaigns[campaign_id] = {
            **{name: body[name] for name in CAMPAIGN_FIELDS if name in body},
            "brandId": body["brandId"],
            "campaignId": campaign_id,
            "tcrCampaignId": f"C{uuid.uuid4().hex[:6].upper()}",
            "campaignStatus": "TCR_PENDING",
            "submissionStatus": "CREATED",
            "failureReasons": [],
            "createdAt": _now(),
        }
        return self._answer(self.campaigns[campaign_id])

    def _campaign_item(self, method: str, campaign_id: str, body: dict[str, Any]) -> FakeResponse:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            return self._missing("campaign")
        if method == "GET":
            return self._answer(campaign)
        if method == "PUT":
            campaign.update({name: body[name] for name in CAMPAIGN_FIELDS if name in body})
            return self._answer(campaign)
        return self.error_response(405, "10015", f"{method} is not allowed here.")

    def _assign(self, body: dict[str, Any]) -> FakeResponse:
        problems = {name: f"{name} is required." for name in ("phoneNumber", "campaignId") if not body.get(name)}
        campaign = self.campaigns.get(body.get("campaignId", ""))
        if body.get("campaignId") and (campaign is None or campaign["campaignStatus"] != "MNO_PROVISIONED"):
            problems["campaignId"] = "The campaign is not provisioned."
        if problems:
            return self._invalid(problems)
        record = {
            "phoneNumber": body["phoneNumber"],
            "campaignId": body["campaignId"],
            "brandId": campaign["brandId"],
            "tcrCampaignId": campaign["tcrCampaignId"],
            "assignmentStatus": "PENDING_ASSIGNMENT",
            "failureReasons": None,
            "createdAt": _now(),
        }
        self.number_assignments[body["phoneNumber"]] = record
        return self._answer(record)

    # Webhooks ----------------------------------------------------------------------------------------

    def _emit(self, event_type: str, record: dict[str, Any]) -> None:
        if not self.tendlc_webhook_url or self.drop_tendlc_webhooks:
            return
        payload = {"recordType": event_type.split(".")[1], **record}
        build = self._event_builder(event_type, payload, datetime.now(UTC), self.tendlc_webhook_url)
        copies = 2 if self.duplicate_webhooks else 1
        for _ in range(copies):
            self.webhooks.schedule(self.webhook_delay, self.tendlc_webhook_url, build)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
