"""A local fake of the Stripe API endpoints Koinonia calls, speaking Stripe's wire format over real HTTP
(form-encoded requests with bracketed keys, JSON responses, Bearer auth, Idempotency-Key replay), plus
test controls that move subscriptions through their life and return the signed events Stripe would send.

    with FakeStripe() as fake:
        fake.point_settings_at(settings)          # STRIPE_API_BASE / SECRET_KEY / WEBHOOK_SECRET
        ... our code calls Stripe through the stripe library ...
        events = fake.complete_checkout(session_id)        # checkout.session.completed, subscription
        post_events(client, events)                         # .created, invoice.paid — signed, to /hooks/stripe/

Shapes follow API versions from ``2025-03-31.basil`` on: periods on subscription items, invoice →
subscription through ``parent.subscription_details``; usage through Meters (``/v1/billing/meter_events``,
deduplicated on ``identifier``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stripe._api_version import _ApiVersion

API_KEY = "sk_test_fake_koinonia"
WEBHOOK_SECRET = "whsec_test_fake_secret"
API_VERSION = _ApiVersion.CURRENT
MONTH = 30 * 24 * 3600


# --- Signing (Stripe-Signature: t=<unix>,v1=<hex hmac-sha256 of "t.body" keyed by the whole whsec_ string>) --


def stripe_signature(payload: str | bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    body = payload.decode() if isinstance(payload, bytes) else payload
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def post_events(client, events, *, secret: str = WEBHOOK_SECRET, path: str = "/hooks/stripe/") -> list:
    """Deliver events to our webhook through the Django test client, signed now, running the
    after-commit work (the task that applies them) as a real commit would."""
    from django.test import TestCase

    responses = []
    for event in events if isinstance(events, list | tuple) else [events]:
        body = json.dumps(event)
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(
                path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(body, secret)
            )
        responses.append(response)
    return responses


# --- Form decoding: line_items[0][price]=x → {"line_items": [{"price": "x"}]} -----------------------------


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    root: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        last = parts[-1]
        if last == "":  # expand[]=a&expand[]=b
            node.setdefault("__list__", []).append(value)
        else:
            node[last] = value
    return _listify(root)


def _listify(node):
    if not isinstance(node, dict):
        return node
    if set(node) == {"__list__"}:
        return node["__list__"]
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


class StripeFakeError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", code=None, param=None):
        super().__init__(message)
        self.status, self.body = (
            status,
            {"error": {"type": type_, "code": code, "param": param, "message": message, "doc_url": None}},
        )


def _missing(kind: str, ident: str, param: str | None = None) -> StripeFakeError:
    return StripeFakeError(400 if param else 404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


@dataclass
class Failure:
    status: int
    path_prefix: str
    after_processing: bool  # the request takes effect, but the answer is lost


@dataclass
class FakeStripeState:
    customers: dict[str, dict] = field(default_factory=dict)
    checkout_sessions: dict[str, dict] = field(default_factory=dict)
    portal_sessions: dict[str, dict] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)
    meter_events: dict[str, dict] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, int, dict]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


class FakeStripe:
    """The fake server. ``prices`` maps price id → ``"licensed"`` or ``"metered"``; ``amounts`` maps a
    licensed price id → its monthly amount in cents (for invoices)."""

    def __init__(self, *, api_key: str = API_KEY, webhook_secret: str = WEBHOOK_SECRET, prices=None, amounts=None):
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.prices: dict[str, str] = dict(prices or {})
        self.amounts: dict[str, int] = dict(amounts or {})
        self.meters = {"sms_segments"}
        self.portal_configured = True
        self.state = FakeStripeState()
        self.failures: list[Failure] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                status, payload, headers = fake.handle(self.command, self.path, dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_test_{next(fake._ids)}")
                self.send_header("Stripe-Version", API_VERSION)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.state = FakeStripeState()
            self.failures = []
            self.portal_configured = True

    def point_settings_at(self, settings) -> None:
        settings.STRIPE_API_BASE = self.url
        settings.STRIPE_SECRET_KEY = self.api_key
        settings.STRIPE_WEBHOOK_SECRET = self.webhook_secret
        settings.STRIPE_MAX_NETWORK_RETRIES = 0

    def fail_next(self, count: int = 1, *, status: int = 500, path_prefix: str = "/", after_processing=False):
        """The next ``count`` requests under ``path_prefix`` fail with ``status`` (optionally after
        taking effect: the caller never hears that they succeeded)."""
        with self._lock:
            self.failures.extend(Failure(status, path_prefix, after_processing) for _ in range(count))

    def reset_failures(self) -> None:
        with self._lock:
            self.failures = []

    def requests_to(self, method: str, path: str) -> list[dict]:
        return [params for m, p, params in self.state.requests if m == method and p == path]

    # --- HTTP dispatch -----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict, body: str) -> tuple[int, dict, dict]:
        parts = urlsplit(raw_path)
        path = parts.path
        params = decode_form(parse_qsl(body if method == "POST" else parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.state.requests.append((method, path, params))
            if headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, StripeFakeError(401, "Invalid API Key provided.").body, {}
            failure = next((f for f in self.failures if path.startswith(f.path_prefix)), None)
            if failure is not None:
                self.failures.remove(failure)
            key = headers.get("idempotency-key") if method == "POST" else None
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            if key and key in self.state.idempotency:
                seen, status, payload = self.state.idempotency[key]
                if seen != fingerprint:
                    error = StripeFakeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        "used with.",
                        type_="idempotency_error",
                    )
                    return 400, error.body, {}
                return status, payload, {"Idempotent-Replayed": "true"}
            if failure is not None and not failure.after_processing:
                status, payload = (
                    failure.status,
                    StripeFakeError(failure.status, "Injected failure.", type_="api_error").body,
                )
            else:
                try:
                    status, payload = 200, self._route(method, path, params)
                except StripeFakeError as exc:
                    status, payload = exc.status, exc.body
                if failure is not None:
                    status, payload = (
                        failure.status,
                        StripeFakeError(failure.status, "Injected failure.", type_="api_error").body,
                    )
            if key:
                self.state.idempotency[key] = (fingerprint, status, payload)
            return status, payload, {"Stripe-Should-Retry": "false"} if status >= 500 else {}

    def _route(self, method: str, path: str, params: dict) -> dict:
        segments = path.strip("/").split("/")
        match method, segments:
            case "POST", ["v1", "customers"]:
                return self._create_customer(params)
            case "GET", ["v1", "customers", cid]:
                return self._get("customer", self.state.customers, cid)
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_checkout_session(params)
            case "GET", ["v1", "checkout", "sessions", sid]:
                return self._get("checkout.session", self.state.checkout_sessions, sid)
            case "POST", ["v1", "billing_portal", "sessions"]:
                return self._create_portal_session(params)
            case "GET", ["v1", "subscriptions", sub_id]:
                return self._expand(self._get("subscription", self.state.subscriptions, sub_id), params)
            case "POST", ["v1", "subscriptions", sub_id]:
                return self._expand(self._update_subscription(sub_id, params), params)
            case "GET", ["v1", "invoices"]:
                return self._list_invoices(params)
            case "GET", ["v1", "invoices", inv_id]:
                return self._get("invoice", self.state.invoices, inv_id)
            case "POST", ["v1", "billing", "meter_events"]:
                return self._create_meter_event(params)
        raise StripeFakeError(404, f"Unrecognized request URL ({method}: {path}).")

    # --- resources ---------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids)}"

    def _get(self, kind: str, table: dict, ident: str) -> dict:
        if ident not in table:
            raise _missing(kind, ident)
        return copy.deepcopy(table[ident])

    def _expand(self, obj: dict, params: dict) -> dict:
        if "latest_invoice" in (params.get("expand") or []) and isinstance(obj.get("latest_invoice"), str):
            obj["latest_invoice"] = copy.deepcopy(self.state.invoices.get(obj["latest_invoice"]))
        return obj

    def _create_customer(self, params: dict) -> dict:
        customer = {
            "id": self._id("cus"),
            "object": "customer",
            "email": params.get("email") or None,
            "name": params.get("name") or None,
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
            "livemode": False,
        }
        self.state.customers[customer["id"]] = customer
        return copy.deepcopy(customer)

    def _create_checkout_session(self, params: dict) -> dict:
        if params.get("mode") not in ("subscription", "payment", "setup"):
            raise StripeFakeError(400, "Invalid mode.", code="parameter_invalid_empty", param="mode")
        customer = params.get("customer")
        if customer and customer not in self.state.customers:
            raise _missing("customer", customer, "customer")
        for n, item in enumerate(params.get("line_items") or []):
            price = item.get("price")
            if price not in self.prices:
                raise _missing("price", price, f"line_items[{n}][price]")
            if self.prices[price] == "metered" and "quantity" in item:
                raise StripeFakeError(400, "Quantity must not be set for metered prices.", param=f"line_items[{n}]")
        sid = self._id("cs")
        session = {
            "id": sid,
            "object": "checkout.session",
            "url": f"{self.url}/checkout/{sid}",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "subscription": None,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "expires_at": int(time.time()) + 86400,
            "created": int(time.time()),
            "livemode": False,
            "_line_items": params.get("line_items") or [],
            "_subscription_data": params.get("subscription_data") or {},
        }
        self.state.checkout_sessions[sid] = session
        return self._public(session)

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def _create_portal_session(self, params: dict) -> dict:
        customer = params.get("customer")
        if not customer:
            raise StripeFakeError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
        if customer not in self.state.customers:
            raise _missing("customer", customer, "customer")
        if not self.portal_configured:
            raise StripeFakeError(
                400,
                "You can't create a portal session in test mode until you save your customer portal settings in "
                "test mode at https://dashboard.stripe.com/test/settings/billing/portal.",
            )
        session = {
            "id": self._id("bps"),
            "object": "billing_portal.session",
            "url": f"{self.url}/portal/{customer}",
            "customer": customer,
            "configuration": "bpc_test_default",
            "return_url": params.get("return_url"),
            "created": int(time.time()),
            "livemode": False,
        }
        self.state.portal_sessions[session["id"]] = session
        return copy.deepcopy(session)

    def _update_subscription(self, sub_id: str, params: dict) -> dict:
        sub = self.state.subscriptions.get(sub_id)
        if sub is None:
            raise _missing("subscription", sub_id)
        previous = copy.deepcopy(sub)
        items = sub["items"]["data"]
        for n, change in enumerate(params.get("items") or []):
            price = change.get("price")
            if price is not None and price not in self.prices:
                raise _missing("price", price, f"items[{n}][price]")
            if change.get("id"):
                item = next((i for i in items if i["id"] == change["id"]), None)
                if item is None:
                    raise _missing("subscription_item", change["id"], f"items[{n}][id]")
                if change.get("deleted") == "true":
                    items.remove(item)
                elif price:
                    item["price"] = self._price(price)
            elif price:
                items.append(self._item(price, items[0]["current_period_start"], items[0]["current_period_end"]))
        for key in ("cancel_at_period_end",):
            if key in params:
                sub[key] = params[key] == "true"
        self._emit_subscription_updated(sub, previous)
        return copy.deepcopy(sub)

    def _list_invoices(self, params: dict) -> dict:
        rows = [
            i for i in self.state.invoices.values() if not params.get("customer") or i["customer"] == params["customer"]
        ]
        rows.sort(key=lambda i: i["created"], reverse=True)
        limit = int(params.get("limit") or 10)
        return {
            "object": "list",
            "data": copy.deepcopy(rows[:limit]),
            "has_more": len(rows) > limit,
            "url": "/v1/invoices",
        }

    def _create_meter_event(self, params: dict) -> dict:
        name = params.get("event_name")
        if name not in self.meters:
            raise StripeFakeError(400, f"No active meter found for event_name {name!r}.", param="event_name")
        payload = params.get("payload") or {}
        if payload.get("stripe_customer_id") not in self.state.customers:
            raise _missing("customer", str(payload.get("stripe_customer_id")), "payload[stripe_customer_id]")
        if not str(payload.get("value", "")).lstrip("-").isdigit():
            raise StripeFakeError(400, "payload[value] must be an integer string.", param="payload[value]")
        identifier = params.get("identifier") or self._id("mev")
        if identifier in self.state.meter_events:
            raise StripeFakeError(
                400,
                f"An event already exists with identifier {identifier}.",
                code="resource_already_exists",
                param="identifier",
            )
        event = {
            "object": "billing.meter_event",
            "event_name": name,
            "identifier": identifier,
            "payload": payload,
            "timestamp": int(params.get("timestamp") or time.time()),
            "created": int(time.time()),
            "livemode": False,
        }
        self.state.meter_events[identifier] = event
        return copy.deepcopy(event)

    # --- test controls: the life of a subscription, returning the events Stripe would send --------

    def _price(self, price_id: str) -> dict:
        usage_type = self.prices.get(price_id, "licensed")
        return {
            "id": price_id,
            "object": "price",
            "recurring": {
                "interval": "month",
                "usage_type": usage_type,
                "meter": "mtr_test_sms" if usage_type == "metered" else None,
            },
        }

    def _item(self, price_id: str, start: int, end: int) -> dict:
        item = {
            "id": self._id("si"),
            "object": "subscription_item",
            "price": self._price(price_id),
            "current_period_start": start,
            "current_period_end": end,
        }
        if self.prices.get(price_id) != "metered":
            item["quantity"] = 1
        return item

    def event(self, type_: str, obj: dict, previous_attributes: dict | None = None, created=None) -> dict:
        data: dict[str, Any] = {"object": self._public(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": self._id("evt"),
            "object": "event",
            "type": type_,
            "api_version": API_VERSION,
            "created": int(created or time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "data": data,
            "request": {"id": None, "idempotency_key": None},
        }
        self.state.events.append(event)
        return event

    def _invoice(self, sub: dict, status: str, reason: str, created: int | None = None) -> dict:
        invoice = {
            "id": self._id("in"),
            "object": "invoice",
            "customer": sub["customer"],
            "status": status,
            "billing_reason": reason,
            "amount_due": 0,
            "amount_paid": 0,
            "currency": "usd",
            "number": f"KN-{next(self._ids):04d}",
            "created": int(created or time.time()),
            "hosted_invoice_url": f"{self.url}/invoices/{sub['id']}",
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": sub["id"], "metadata": sub.get("metadata") or {}},
            },
        }
        invoice["amount_due"] = sum(self.amounts.get(i["price"]["id"], 0) for i in sub["items"]["data"])
        if status == "paid":
            invoice["amount_paid"] = invoice["amount_due"]
        self.state.invoices[invoice["id"]] = invoice
        sub["latest_invoice"] = invoice["id"]
        return invoice

    def _emit_subscription_updated(self, sub: dict, previous: dict) -> dict:
        changed = {k: previous[k] for k in sub if k in previous and previous[k] != sub[k]}
        return self.event("customer.subscription.updated", sub, previous_attributes=changed)

    def complete_checkout(self, session_id: str, *, pay: bool = True) -> list[dict]:
        """The customer finishes Checkout: a subscription starts (paid, or incomplete when ``pay`` is False)."""
        with self._lock:
            session = self.state.checkout_sessions[session_id]
            now = int(time.time())
            sub = {
                "id": self._id("sub"),
                "object": "subscription",
                "customer": session["customer"],
                "status": "active" if pay else "incomplete",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "created": now,
                "start_date": now,
                "trial_end": None,
                "metadata": (session["_subscription_data"] or {}).get("metadata") or {},
                "items": {"object": "list", "data": [], "has_more": False, "url": "/v1/subscription_items"},
                "latest_invoice": None,
                "livemode": False,
            }
            sub["items"]["data"] = [self._item(li["price"], now, now + MONTH) for li in session["_line_items"]]
            sub["items"]["url"] = f"/v1/subscription_items?subscription={sub['id']}"
            self.state.subscriptions[sub["id"]] = sub
            invoice = self._invoice(sub, "paid" if pay else "open", "subscription_create")
            session.update(
                status="complete", payment_status="paid" if pay else "unpaid", subscription=sub["id"], url=None
            )
            return [
                self.event("checkout.session.completed", session),
                self.event("customer.subscription.created", sub),
                self.event("invoice.paid" if pay else "invoice.payment_failed", invoice),
            ]

    def fail_payment(self, sub_id: str, *, at: datetime | None = None) -> list[dict]:
        """A renewal payment fails (at ``at``, default now): the subscription goes past due."""
        with self._lock:
            sub = self.state.subscriptions[sub_id]
            previous = copy.deepcopy(sub)
            created = int(at.timestamp() if at else time.time())
            invoice = self._invoice(sub, "open", "subscription_cycle", created=created)
            sub["status"] = "past_due"
            return [self.event("invoice.payment_failed", invoice), self._emit_subscription_updated(sub, previous)]

    def pay_latest_invoice(self, sub_id: str) -> list[dict]:
        with self._lock:
            sub = self.state.subscriptions[sub_id]
            previous = copy.deepcopy(sub)
            invoice = self.state.invoices[sub["latest_invoice"]]
            invoice.update(status="paid", amount_paid=invoice["amount_due"])
            sub["status"] = "active"
            return [self.event("invoice.paid", invoice), self._emit_subscription_updated(sub, previous)]

    def cancel(self, sub_id: str) -> list[dict]:
        """The customer cancels in the portal (immediately)."""
        with self._lock:
            sub = self.state.subscriptions[sub_id]
            now = int(time.time())
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            return [self.event("customer.subscription.deleted", sub)]

    def renew(self, sub_id: str) -> list[dict]:
        """The period ends and a new one starts, paid."""
        with self._lock:
            sub = self.state.subscriptions[sub_id]
            previous = copy.deepcopy(sub)
            for item in sub["items"]["data"]:
                item["current_period_start"] = item["current_period_end"]
                item["current_period_end"] += MONTH
            invoice = self._invoice(sub, "paid", "subscription_cycle")
            return [self._emit_subscription_updated(sub, previous), self.event("invoice.paid", invoice)]

    def subscription(self, sub_id: str) -> dict:
        return copy.deepcopy(self.state.subscriptions[sub_id])

    def session_for_customer(self, customer_id: str) -> dict:
        return next(s for s in reversed(self.state.checkout_sessions.values()) if s["customer"] == customer_id)


def unknown_customer_event(fake: FakeStripe) -> dict:
    """A well-formed event about a customer Koinonia never created."""
    sub = {
        "id": "sub_test_stranger",
        "object": "subscription",
        "customer": "cus_test_stranger",
        "status": "active",
        "items": {"object": "list", "data": []},
    }
    return fake.event("customer.subscription.updated", sub, previous_attributes={"status": "past_due"})


__all__ = [
    "API_KEY",
    "WEBHOOK_SECRET",
    "FakeStripe",
    "decode_form",
    "post_events",
    "stripe_signature",
    "unknown_customer_event",
]
