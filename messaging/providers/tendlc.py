"""10DLC registration with the carrier's registrar (docs/providers.md §1.9).

A small :class:`Registrar` interface, chosen by ``settings.SMS_PROVIDER``: Telnyx speaks to
``/v2/10dlc/`` over the shared keep-alive session; the console registrar (the embedded default) has no
network and approves whatever it is given after ``CONSOLE_TENDLC_APPROVAL_SECONDS``, so ``make run``
shows the whole flow. Twilio's A2P registration (Trust Hub) is not built: support handles it.

Every method returns the provider's record as a plain dict in the provider's camelCase, unwrapped from
``{"data": ...}`` when the provider wraps it (the spec says bare, the quickstart reads ``data``).
Failures raise :class:`TenDlcError` with a reason staff can read; a 422 carries ``field_errors``
keyed by the provider's field name (``ein``, ``website``, ...), so forms can show them in place.
"""

import time
import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import requests
from django.conf import settings

from messaging.providers.http import DEFAULT_TIMEOUT, session_for


class TenDlcError(Exception):
    """The registrar refused or could not be reached. ``transient`` means trying again later may work."""

    def __init__(
        self,
        reason: str,
        *,
        field_errors: dict[str, str] | None = None,
        transient: bool = False,
        status: int | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.field_errors = field_errors or {}
        self.transient = transient
        self.status = status  # the HTTP status, when the registrar answered (404: no such record)


class TenDlcUnsupported(TenDlcError):
    """The configured provider has no self-service 10DLC registration here (Twilio)."""


def unwrap(body: Any) -> dict[str, Any]:
    """The record itself, whether the provider sent it bare or inside ``{"data": ...}``."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    if isinstance(body, dict):
        return body
    raise TenDlcError("The registrar's answer could not be read.", transient=True)


def failure_reasons(record: dict[str, Any]) -> list[str]:
    """Rejection reasons in plain strings, whichever shape the provider used (a string, a list of
    strings, or a list of ``{"description"|"reason"|"detail": ...}`` objects)."""
    raw = record.get("failureReasons")
    if raw is None:
        raw = record.get("reasons") or record.get("failure_reasons") or []
    if isinstance(raw, str):
        raw = [raw]
    reasons = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            item = item.get("description") or item.get("reason") or item.get("detail") or item.get("title") or ""
        if item:
            reasons.append(str(item))
    return reasons


class Registrar(ABC):
    name: ClassVar[str]
    # Seconds after a submission at which a first status check is worth it (polling covers the rest).
    first_poll_after: ClassVar[float] = 120.0

    @abstractmethod
    def create_brand(self, fields: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def update_brand(self, brand_id: str, fields: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def get_brand(self, brand_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def create_campaign(self, fields: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def update_campaign(self, campaign_id: str, fields: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def get_campaign(self, campaign_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def assign_number(self, *, phone_number: str, campaign_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def number_assignment(self, *, phone_number: str) -> dict[str, Any]: ...


class TelnyxRegistrar(Registrar):
    name = "telnyx"

    def create_brand(self, fields):
        return self._call("POST", "/v2/10dlc/brand", fields)

    def update_brand(self, brand_id, fields):
        return self._call("PUT", f"/v2/10dlc/brand/{brand_id}", fields)

    def get_brand(self, brand_id):
        return self._call("GET", f"/v2/10dlc/brand/{brand_id}")

    def create_campaign(self, fields):
        return self._call("POST", "/v2/10dlc/campaignBuilder", fields)

    def update_campaign(self, campaign_id, fields):
        return self._call("PUT", f"/v2/10dlc/campaign/{campaign_id}", fields)

    def get_campaign(self, campaign_id):
        return self._call("GET", f"/v2/10dlc/campaign/{campaign_id}")

    def assign_number(self, *, phone_number, campaign_id):
        return self._call(
            "POST", "/v2/10dlc/phone_number_campaigns", {"phoneNumber": phone_number, "campaignId": campaign_id}
        )

    def number_assignment(self, *, phone_number):
        return self._call("GET", f"/v2/10dlc/phone_number_campaigns/{phone_number}")

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        api_key = settings.TELNYX_API_KEY
        if not api_key:
            raise TenDlcError("Telnyx is not configured: TELNYX_API_KEY is empty.")
        base = settings.TELNYX_API_BASE
        try:
            response = session_for(base).request(
                method,
                f"{base}{path}",
                json=payload,
                headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
                timeout=getattr(settings, "SMS_HTTP_TIMEOUT", DEFAULT_TIMEOUT),
            )
        except requests.RequestException as exc:
            # Registration calls are safe to repeat from our side (we look the record up before
            # creating a second one), so every transport failure is simply "try again".
            raise TenDlcError("Could not reach Telnyx to register; we will try again.", transient=True) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok:
            return unwrap(body)
        raise self._error(response.status_code, body)

    @staticmethod
    def _error(status: int, body: Any) -> TenDlcError:
        errors = body.get("errors") if isinstance(body, dict) else None
        errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        field_errors: dict[str, str] = {}
        details = []
        for error in errors:
            detail = str(error.get("detail") or error.get("title") or "")
            pointer = str((error.get("source") or {}).get("pointer") or "").strip("/")
            if pointer:
                field_errors.setdefault(pointer.split("/")[0], detail)
            if detail:
                details.append(detail)
        detail = "; ".join(details) or f"HTTP {status}"
        if status in (401, 403):
            return TenDlcError("Telnyx rejected our credentials; an administrator must update the API key.")
        if status == 429 or status >= 500 or status == 408:
            return TenDlcError(f"Telnyx had a temporary problem ({detail}); we will try again.", transient=True)
        if status == 404:
            return TenDlcError(f"Telnyx has no record of this registration ({detail}).", status=404)
        return TenDlcError(f"Telnyx refused the registration: {detail}", field_errors=field_errors)


class ConsoleRegistrar(Registrar):
    """The embedded default's stand-in: no network, no state. The submission time is written into the
    ids it hands out, so any process (web, worker, beat) can tell whether the simulated review is over."""

    name = "console"

    @property
    def first_poll_after(self) -> float:  # type: ignore[override]
        return self._delay() + 0.5

    @staticmethod
    def _delay() -> float:
        return float(getattr(settings, "CONSOLE_TENDLC_APPROVAL_SECONDS", 10.0))

    def _new_id(self, kind: str) -> str:
        return f"console-{kind}-{time.time():.3f}-{uuid.uuid4().hex[:8]}"

    def _reviewed(self, record_id: str) -> bool:
        try:
            submitted = float(record_id.split("-")[2])
        except (IndexError, ValueError):
            raise TenDlcError(f"The console registrar has no record {record_id}.") from None
        return time.time() - submitted >= self._delay()

    def create_brand(self, fields):
        return self.get_brand(self._new_id("brand"))

    def update_brand(self, brand_id, fields):
        return self.get_brand(self._new_id("brand"))  # a fresh review clock for the resubmission

    def get_brand(self, brand_id):
        done = self._reviewed(brand_id)
        return {
            "brandId": brand_id,
            "tcrBrandId": "BCONSOLE",
            "status": "OK" if done else "REGISTRATION_PENDING",
            "identityStatus": "VERIFIED" if done else "UNVERIFIED",
        }

    def create_campaign(self, fields):
        return self.get_campaign(self._new_id("campaign"))

    def update_campaign(self, campaign_id, fields):
        return self.get_campaign(campaign_id)

    def get_campaign(self, campaign_id):
        done = self._reviewed(campaign_id)
        return {
            "campaignId": campaign_id,
            "tcrCampaignId": "CCONSOLE",
            "campaignStatus": "MNO_PROVISIONED" if done else "TCR_PENDING",
            "submissionStatus": "CREATED",
        }

    def assign_number(self, *, phone_number, campaign_id):
        return {"phoneNumber": phone_number, "campaignId": campaign_id, "assignmentStatus": "ASSIGNED"}

    def number_assignment(self, *, phone_number):
        return {"phoneNumber": phone_number, "assignmentStatus": "ASSIGNED"}


REGISTRARS: dict[str, type[Registrar]] = {
    ConsoleRegistrar.name: ConsoleRegistrar,
    TelnyxRegistrar.name: TelnyxRegistrar,
}


def get_registrar(name: str | None = None) -> Registrar:
    """The registrar for ``name`` or the configured SMS provider; TenDlcUnsupported for Twilio."""
    name = name or settings.SMS_PROVIDER
    registrar = REGISTRARS.get(name)
    if registrar is None:
        raise TenDlcUnsupported(
            "10DLC registration for numbers on this provider is handled by our support team; please contact them."
        )
    return registrar()


def link_number_to_campaign(*, phone_number: str, campaign_id: str, provider: str | None = None) -> dict[str, Any]:
    """Ask the provider to put ``phone_number`` on 10DLC campaign ``campaign_id``; returns the
    assignment record (``assignmentStatus`` is usually ``PENDING_ASSIGNMENT`` at first). Also used by
    the phone-linking recovery job to repair a number that lost its campaign."""
    return get_registrar(provider).assign_number(phone_number=phone_number, campaign_id=campaign_id)


def number_campaign_assignment(*, phone_number: str, provider: str | None = None) -> dict[str, Any]:
    """The provider's view of which campaign ``phone_number`` is on (``campaignId``,
    ``assignmentStatus``, ``failureReasons``)."""
    return get_registrar(provider).number_assignment(phone_number=phone_number)
