"""Provider callbacks: routing only. URL → provider package → verify the signature → parse into the
neutral types (``messaging/providers/events.py``) → hand to delivery (status reports, stored once and
applied in batches) or to the registered handler (inbound texts; numbers and 10DLC updates).

A provider without credentials has no webhook (404: with an empty secret anyone could "sign"); a signed
body of the wrong shape is a 400, never a 500. Other apps register for what they own:
``register_inbound_handler`` (conversations: inbound texts) and ``register_event_handler`` (other Telnyx
event types, e.g. ``number_order.complete`` and ``10dlc.*``)."""

import logging
import uuid
from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from koinonia.api.parsers import json_payload_problem
from messaging.broadcasts.delivery import accept_status
from messaging.providers import get_provider
from messaging.providers.console import callbacks as console_callbacks
from messaging.providers.events import InboundText, MalformedPayload, SignatureError
from messaging.providers.telnyx import callbacks as telnyx_callbacks
from messaging.providers.telnyx import signatures as telnyx_signatures
from messaging.providers.twilio import callbacks as twilio_callbacks
from messaging.providers.twilio import signatures as twilio_signatures

logger = logging.getLogger(__name__)

WEBHOOK_JSON_DEPTH = 32  # Telnyx events nest about 5 deep


def _unsafe_json_problem(value) -> str | None:
    return json_payload_problem(value, max_depth=WEBHOOK_JSON_DEPTH)


EventHandler = Callable[[str, dict], None]
# Telnyx event type ("number_order.complete", "10dlc.campaign.update"...) → handler(provider, payload)
_handlers: dict[str, EventHandler] = {}

InboundHandler = Callable[[InboundText], str | None]
_inbound_handlers: list[InboundHandler] = []


def register_event_handler(event_type: str, handler: EventHandler) -> None:
    _handlers[event_type] = handler


def register_inbound_handler(handler: InboundHandler) -> None:
    """Who receives inbound texts, whichever provider carried them (conversations, in its ready())."""
    if handler not in _inbound_handlers:
        _inbound_handlers.append(handler)


def ingest_status(provider: str, payload: dict) -> str:
    """A verified delivery report in ``provider``'s wire shape → stored once, applied by a batch; the
    outcome ("accepted" or "duplicate"). The console provider's simulated reports come in here too."""
    return accept_status(get_provider(provider).parse_status(payload))


def _hand_inbound(inbound: InboundText) -> str:
    """The handlers' outcome ("received", "duplicate", "opt-out"…), for the logs and the answer."""
    outcome = ""
    for handler in _inbound_handlers:
        outcome = handler(inbound) or outcome
    return outcome


def simulate_inbound(*, from_number: str, to_number: str, text: str) -> InboundText:
    """A text "from" ``from_number`` to our ``to_number``, handed to the inbound handlers exactly as a
    carrier's would be (consent first, keywords, threads, unread, notifications). Only with the console
    provider: demos and development, never beside a real carrier."""
    if get_provider().name != "console":
        raise BadRequest("Simulated inbound texts exist only with the console SMS provider.")
    marker = uuid.uuid4().hex
    # Built and read back by the console package, as a carrier's payload is by its own: the inbound batch
    # reads stored texts again from their payload.
    inbound = console_callbacks.parse_inbound(
        console_callbacks.inbound_payload(
            event_id=f"console-inbound-{marker}",
            message_id=f"console-{marker}",
            from_number=from_number,
            to_number=to_number,
            text=text,
        )
    )
    _hand_inbound(inbound)
    return inbound


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


def _not_configured() -> JsonResponse:
    # The same answer as an unknown URL: an unconfigured provider has no webhook here at all.
    return _error(404, "not_found", "Not found.")


def _rejected(provider: str, exc: SignatureError) -> JsonResponse:
    logger.warning("rejected %s webhook", provider, extra={"reason": str(exc)})
    return _error(403, "invalid_signature", "Signature verification failed.")


@csrf_exempt
@require_POST
def telnyx_webhook(request):
    if not telnyx_signatures.configured():
        return _not_configured()
    try:
        telnyx_signatures.verify_request(request.body, request.headers)
    except SignatureError as exc:
        return _rejected("Telnyx", exc)
    try:
        payload, event_type = telnyx_callbacks.envelope(request.body)
        if _unsafe_json_problem(payload) is not None:
            raise MalformedPayload("unsafe JSON")
    except MalformedPayload:
        return _error(400, "malformed_payload", "Not a Telnyx event.")
    try:
        if event_type in telnyx_callbacks.STATUS_EVENT_TYPES:
            return JsonResponse({"received": True, "outcome": ingest_status("telnyx", payload)})
        if event_type == telnyx_callbacks.INBOUND_EVENT_TYPE and _inbound_handlers:
            outcome = _hand_inbound(telnyx_callbacks.parse_inbound(payload))
            return JsonResponse({"received": True, "outcome": outcome})
        handler = _handlers.get(event_type)
        if handler is None:
            return JsonResponse({"received": True, "outcome": "ignored"})
        handler("telnyx", payload)
    except (MalformedPayload, BadRequest) as exc:  # BadRequest: a handler's way of saying the same
        return _error(400, "malformed_payload", str(exc) or "Malformed event.")
    return JsonResponse({"received": True})


def _twilio_verified(request) -> SignatureError | None:
    try:
        twilio_signatures.verify_request(request)
    except SignatureError as exc:
        return exc
    return None


@csrf_exempt
@require_POST
def twilio_status_webhook(request):
    if not twilio_signatures.configured():
        return _not_configured()
    if (problem := _twilio_verified(request)) is not None:
        return _rejected("Twilio", problem)
    payload = {key: request.POST.get(key) for key in request.POST}
    try:
        if _unsafe_json_problem(payload) is not None:
            raise MalformedPayload("unsafe form")
        ingest_status("twilio", payload)
    except MalformedPayload:
        return _error(400, "malformed_payload", "Not a Twilio status callback.")
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound_webhook(request):
    if not twilio_signatures.configured():
        return _not_configured()
    if (problem := _twilio_verified(request)) is not None:
        return _rejected("Twilio", problem)
    params = twilio_callbacks.form_params(request.POST)
    if _unsafe_json_problem(params) is not None:  # a NUL is never in a real callback
        return _error(400, "malformed_payload", "Not a Twilio inbound message.")
    if _inbound_handlers:
        try:
            _hand_inbound(twilio_callbacks.parse_inbound(params))
        except (MalformedPayload, BadRequest) as exc:
            return _error(400, "malformed_payload", str(exc) or "Malformed inbound message.")
    # An empty TwiML response: any reply is sent through the API, after our own checks.
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', content_type="text/xml")
