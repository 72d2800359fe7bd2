"""Provider callbacks: /hooks/telnyx/ and /hooks/twilio/status/. Verify the signature on the raw
body, store the event once, apply it, answer fast. A provider without credentials has no webhook
(404: with an empty secret anyone could "sign"); a signed body of the wrong shape is a 400, never a
500. Other apps (conversations: inbound texts; numbers and 10DLC updates) register handlers for the
event types they own with ``register_event_handler``."""

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from koinonia.api.parsers import json_payload_problem
from messaging.delivery import StatusUpdate, accept_status, parse_time
from messaging.webhook_signatures import SignatureError, verify_telnyx, verify_twilio

logger = logging.getLogger(__name__)

STATUS_EVENT_TYPES = {"message.sent", "message.finalized"}
WEBHOOK_JSON_DEPTH = 32  # Telnyx events nest about 5 deep


def _unsafe_json_problem(value) -> str | None:
    return json_payload_problem(value, max_depth=WEBHOOK_JSON_DEPTH)


EventHandler = Callable[[str, dict], None]
# event type (Telnyx "message.received", "10dlc.campaign.update"...; Twilio "twilio.inbound") → handler
_handlers: dict[str, EventHandler] = {}


def register_event_handler(event_type: str, handler: EventHandler) -> None:
    _handlers[event_type] = handler


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


def telnyx_configured() -> bool:
    """Telnyx callbacks can be verified only with Telnyx's public key."""
    return bool(settings.TELNYX_PUBLIC_KEY)


def twilio_configured() -> bool:
    """Twilio callbacks are signed with the account's auth token; without the account (a Telnyx or
    console deployment) there is no Twilio to hear from."""
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)


def _not_configured() -> JsonResponse:
    # The same answer as an unknown URL: an unconfigured provider has no webhook here at all.
    return _error(404, "not_found", "Not found.")


def _telnyx_envelope(raw: bytes) -> tuple[dict, str]:
    """The signed body as a Telnyx event envelope ``{"data": {"id", "event_type", "payload": {...}}}``
    and its event type; ValueError when it is not one, so no handler ever sees a malformed shape."""
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise ValueError("no data object")
    event_type, event_id = data.get("event_type"), data.get("id")
    if not isinstance(event_type, str) or not event_type or not isinstance(event_id, (str, int)) or event_id == "":
        raise ValueError("no event type or id")
    if "payload" in data and not isinstance(data["payload"], dict):
        raise ValueError("payload is not an object")
    parse_time(data.get("occurred_at"))  # ValueError for a well-formed but impossible date
    if (problem := _unsafe_json_problem(payload)) is not None:
        raise ValueError(problem)
    return payload, event_type


def parse_status(provider: str, payload: dict) -> StatusUpdate:
    """A delivery-status callback in either provider's shape → StatusUpdate (KeyError/TypeError if
    it isn't one)."""
    if provider == "twilio":
        sid = payload["MessageSid"]
        status = payload["MessageStatus"]
        return StatusUpdate(
            provider="twilio",
            event_id=f"{sid}:{status}",
            event_type=f"status.{status}",
            provider_message_id=sid,
            provider_status=status,
            occurred_at=None,
            error_code=str(payload.get("ErrorCode") or ""),
            error_detail=str(payload.get("ErrorMessage") or ""),
            payload=payload,
        )
    if provider == "console":
        message_id, status = payload["provider_message_id"], payload["status"]
        return StatusUpdate(
            provider="console",
            event_id=f"{message_id}:{status}",
            event_type="message.finalized",
            provider_message_id=message_id,
            provider_status=status,
            occurred_at=parse_time(payload.get("at")),
            error_code=str(payload.get("error_code") or ""),
            payload=payload,
        )
    data = payload["data"]
    message = data["payload"]
    to = message.get("to")
    if isinstance(to, list) and to:
        status = to[0].get("status", "")
    else:  # older payloads carry "to" as a plain string
        status = message.get("status", "")
    errors = message.get("errors") or []
    first_error = errors[0] if errors and isinstance(errors[0], dict) else {}
    return StatusUpdate(
        provider=provider,
        event_id=str(data["id"]),
        event_type=str(data["event_type"]),
        provider_message_id=str(message["id"]),
        provider_status=str(status),
        occurred_at=parse_time(data.get("occurred_at")),
        error_code=str(first_error.get("code") or ""),
        error_detail=str(first_error.get("detail") or first_error.get("title") or ""),
        payload=payload,
    )


@csrf_exempt
@require_POST
def telnyx_webhook(request):
    if not telnyx_configured():
        return _not_configured()
    try:
        verify_telnyx(
            request.body,
            request.headers,
            public_key_b64=settings.TELNYX_PUBLIC_KEY,
            tolerance=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
        )
    except SignatureError as exc:
        logger.warning("rejected Telnyx webhook", extra={"reason": str(exc)})
        return _error(403, "invalid_signature", "Signature verification failed.")
    try:
        payload, event_type = _telnyx_envelope(request.body)
    except ValueError:
        return _error(400, "malformed_payload", "Not a Telnyx event.")
    if event_type in STATUS_EVENT_TYPES:
        try:
            update = parse_status("telnyx", payload)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError):
            return _error(400, "malformed_payload", "Not a Telnyx message event.")
        return JsonResponse({"received": True, "outcome": accept_status(update)})
    handler = _handlers.get(event_type)
    if handler is None:
        return JsonResponse({"received": True, "outcome": "ignored"})
    try:
        handler("telnyx", payload)
    except BadRequest as exc:  # a handler's way of saying the payload isn't what its type promised
        return _error(400, "malformed_payload", str(exc) or "Malformed event.")
    return JsonResponse({"received": True})


def _twilio_params(request) -> dict | None:
    """The form as {name: value or [values]}; None when a value holds a NUL (never a real callback)."""
    params = {
        key: request.POST.getlist(key) if len(request.POST.getlist(key)) > 1 else request.POST.get(key)
        for key in request.POST
    }
    return None if _unsafe_json_problem(params) else params


def _twilio_verified(request) -> bool:
    url = request.build_absolute_uri()
    public = settings.PUBLIC_BASE_URL
    if public:  # behind a proxy, the URL Twilio signed is the public one
        url = public + request.get_full_path()
    try:
        verify_twilio(
            url, request.POST, request.headers.get("X-Twilio-Signature"), auth_token=settings.TWILIO_AUTH_TOKEN
        )
    except SignatureError as exc:
        logger.warning("rejected Twilio webhook", extra={"reason": str(exc)})
        return False
    return True


@csrf_exempt
@require_POST
def twilio_status_webhook(request):
    if not twilio_configured():
        return _not_configured()
    if not _twilio_verified(request):
        return _error(403, "invalid_signature", "Signature verification failed.")
    payload = {key: request.POST.get(key) for key in request.POST}
    if _unsafe_json_problem(payload) or not payload.get("MessageSid") or not payload.get("MessageStatus"):
        return _error(400, "malformed_payload", "Not a Twilio status callback.")
    update = parse_status("twilio", payload)
    accept_status(update)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound_webhook(request):
    if not twilio_configured():
        return _not_configured()
    if not _twilio_verified(request):
        return _error(403, "invalid_signature", "Signature verification failed.")
    params = _twilio_params(request)
    if params is None:
        return _error(400, "malformed_payload", "Not a Twilio inbound message.")
    handler = _handlers.get("twilio.inbound")
    if handler is not None:
        try:
            handler("twilio", params)
        except BadRequest as exc:
            return _error(400, "malformed_payload", str(exc) or "Malformed inbound message.")
    # An empty TwiML response: any reply is sent through the API, after our own checks.
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', content_type="text/xml")
